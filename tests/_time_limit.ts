/**
 * A time limit for every test, loaded before each test module
 * (`deno test --preload`): a test that hangs fails with a clear error
 * instead of blocking the run until CI's own limit cuts it off unnamed.
 * `PTTH_TEST_TIME_LIMIT` (ms) changes the limit, for slow machines.
 *
 * @module
 */

const LIMIT_MS = Number(Deno.env.get("PTTH_TEST_TIME_LIMIT") ?? 120_000);

type TestFn = (t: Deno.TestContext) => void | Promise<void>;

/** Runs `fn`, failing once it has run for longer than the limit. */
function limited(name: string, fn: TestFn): TestFn {
  return async (t) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        fn(t),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`Test "${name}" ran past its time limit of ${LIMIT_MS} ms`)),
            LIMIT_MS,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
}

const original = Deno.test;

/** `Deno.test` with each test's function wrapped in {@linkcode limited}, every call form kept. */
function test(...args: unknown[]): void {
  const [first, second, third] = args;
  if (typeof first === "function") {
    return original(first.name, limited(first.name, first as TestFn));
  }
  if (typeof first === "string" && typeof second === "function") {
    return original(first, limited(first, second as TestFn));
  }
  if (typeof first === "string" && typeof third === "function") {
    return original(
      first,
      second as Omit<Deno.TestDefinition, "fn" | "name">,
      limited(first, third as TestFn),
    );
  }
  if (typeof first === "object" && first !== null && typeof second === "function") {
    const options = first as Omit<Deno.TestDefinition, "fn">;
    const name = options.name ?? second.name;
    return original({ ...options, name }, limited(name, second as TestFn));
  }
  const definition = first as Deno.TestDefinition;
  return original({ ...definition, fn: limited(definition.name, definition.fn) });
}

// `Deno.test` is read-only in the types, not at run time.
(Deno as { test: typeof Deno.test }).test = Object.assign(test, original) as typeof Deno.test;
