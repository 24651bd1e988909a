/**
 * Generates `h2/hpack/huffman_table.ts` from `tools/huffman_codes.txt`, the
 * HPACK Huffman code of RFC 7541 Appendix B kept as data.
 *
 * The output holds the encode table (code and length per symbol) and a decode
 * state machine that consumes 4 bits per step (the nghttp2 design): each of
 * the 256 internal nodes of the code tree is a state with 16 transitions, so
 * decoding never walks the tree bit by bit.
 *
 * ```sh
 * deno run -R -W tools/gen_huffman.ts          # rewrite the table
 * deno run -R tools/gen_huffman.ts --check     # fail if it is out of date
 * ```
 *
 * @module
 */

/** One row of RFC 7541 Appendix B. */
export interface HuffmanCode {
  /** Octet value 0-255, or 256 for EOS. */
  symbol: number;
  /** The code, right-aligned (its last bit is bit 0). */
  code: number;
  /** Length of the code in bits, 5-30. */
  length: number;
}

/** Symbol of the end-of-string code (RFC 7541 §5.2). */
const EOS = 256;

/** Transition bit: the step emitted the symbol in the low 8 bits. */
const FLAG_EMIT = 0x1_0000;
/** Transition bit: stopping here is valid, padding so far is at most 7 one bits. */
const FLAG_ACCEPT = 0x2_0000;
/** Transition bit: the step decoded EOS, which is an error (RFC 7541 §5.2). */
const FLAG_FAIL = 0x4_0000;
/** Transition bit: every bit since the last symbol was 1 (any count). */
const FLAG_ONES = 0x8_0000;

const INPUT = new URL("./huffman_codes.txt", import.meta.url);
const OUTPUT = new URL("../h2/hpack/huffman_table.ts", import.meta.url);

/**
 * Parses the Appendix B table, checking each row against itself (bits, hex
 * and length must agree) and the whole against the RFC's shape.
 *
 * @param text Contents of `huffman_codes.txt`.
 * @returns The 257 codes, indexed by symbol.
 *
 * @example
 * ```ts
 * import { parseCodes } from "./gen_huffman.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * const text = await Deno.readTextFile(new URL("./huffman_codes.txt", import.meta.url));
 * const codes = parseCodes(text);
 * equal(codes.length, 257);
 * deepEqual(codes[0x30], { symbol: 0x30, code: 0b00000, length: 5 }); // '0'
 * ```
 */
export function parseCodes(text: string): HuffmanCode[] {
  const codes: HuffmanCode[] = [];
  for (const [lineIndex, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(\d+)\s+(\|[01|]+)\s+([0-9a-f]+)\s+(\d+)$/.exec(line);
    if (match === null) throw new SyntaxError(`Cannot parse line ${lineIndex + 1}: ${line}`);
    const symbol = Number(match[1]);
    const bits = match[2]!.replaceAll("|", "");
    const code = parseInt(match[3]!, 16);
    const length = Number(match[4]);
    if (symbol !== codes.length) {
      throw new SyntaxError(`Cannot parse line ${lineIndex + 1}: expected symbol ${codes.length}`);
    }
    if (bits.length !== length || parseInt(bits, 2) !== code) {
      throw new SyntaxError(`Cannot parse line ${lineIndex + 1}: bits, hex and length disagree`);
    }
    codes.push({ symbol, code, length });
  }
  if (codes.length !== 257) throw new SyntaxError(`Expected 257 codes, found ${codes.length}`);
  // A complete prefix code fills the code space exactly (Kraft equality).
  const kraft = codes.reduce((sum, { length }) => sum + 2 ** (30 - length), 0);
  if (kraft !== 2 ** 30) throw new SyntaxError("Codes do not form a complete prefix code");
  const eos = codes[EOS]!;
  if (eos.length !== 30 || eos.code !== 0x3fffffff) {
    throw new SyntaxError("EOS must be 30 one bits (RFC 7541 Appendix B)");
  }
  return codes;
}

/** Child of a tree node: an internal node id (>= 0) or a leaf `-(symbol + 1)`. */
type Child = number;

interface Tree {
  /** `children[node]` = [child for bit 0, child for bit 1]. */
  children: [Child, Child][];
  /** Bits from the root to the node. */
  depth: number[];
  /** Whether every bit on the path from the root is 1. */
  ones: boolean[];
}

function buildTree(codes: HuffmanCode[]): Tree {
  const tree: Tree = { children: [[0, 0]], depth: [0], ones: [true] };
  for (const { symbol, code, length } of codes) {
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const pair = tree.children[node]!;
      if (i === 0) {
        if (pair[bit] !== 0) throw new SyntaxError(`Code of symbol ${symbol} is not prefix-free`);
        pair[bit] = -(symbol + 1);
        break;
      }
      let next = pair[bit]!;
      if (next < 0) throw new SyntaxError(`Code of symbol ${symbol} is not prefix-free`);
      if (next === 0) {
        next = tree.children.length;
        tree.children.push([0, 0]);
        tree.depth.push(tree.depth[node]! + 1);
        tree.ones.push(tree.ones[node]! && bit === 1);
        pair[bit] = next;
      }
      node = next;
    }
  }
  // 257 leaves in a full binary tree hang off 256 internal nodes: states fit in a byte.
  if (tree.children.length !== 256) throw new Error("Expected 256 internal nodes");
  return tree;
}

/**
 * Builds the decode state machine: entry `state * 16 + nibble` is the result
 * of feeding 4 bits (MSB first) to `state`.
 *
 * @param codes The 257 codes.
 * @returns 4096 packed transitions: symbol (bits 0-7), next state (bits 8-15), flags.
 *
 * @example
 * ```ts
 * import { buildDecodeTable, parseCodes } from "./gen_huffman.ts";
 * import { equal } from "node:assert/strict";
 *
 * const text = await Deno.readTextFile(new URL("./huffman_codes.txt", import.meta.url));
 * const table = buildDecodeTable(parseCodes(text));
 * equal(table.length, 256 * 16);
 * ```
 */
export function buildDecodeTable(codes: HuffmanCode[]): Uint32Array {
  const tree = buildTree(codes);
  const table = new Uint32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let emitted = -1;
      let failed = false;
      for (let i = 3; i >= 0 && !failed; i--) {
        const child = tree.children[node]![(nibble >>> i) & 1]!;
        if (child >= 0) {
          node = child;
          continue;
        }
        const symbol = -child - 1;
        if (symbol === EOS) failed = true;
        // Codes are at least 5 bits long, so 4 bits complete at most one symbol.
        else if (emitted >= 0) throw new Error("Two symbols in one nibble");
        else emitted = symbol;
        node = 0;
      }
      let entry = node << 8;
      if (failed) entry = FLAG_FAIL;
      else {
        if (emitted >= 0) entry |= FLAG_EMIT | emitted;
        // RFC 7541 §5.2: padding is the most significant bits of EOS (all ones), < 8 bits.
        if (tree.ones[node]) entry |= FLAG_ONES;
        if (tree.ones[node] && tree.depth[node]! <= 7) entry |= FLAG_ACCEPT;
      }
      table[state * 16 + nibble] = entry;
    }
  }
  return table;
}

function hex(value: number, digits: number): string {
  return "0x" + value.toString(16).padStart(digits, "0");
}

function rows(values: ArrayLike<number>, perRow: number, format: (v: number) => string): string[] {
  const lines: string[] = [];
  for (let i = 0; i < values.length; i += perRow) {
    const row: string[] = [];
    for (let j = i; j < Math.min(i + perRow, values.length); j++) row.push(format(values[j]!));
    lines.push(`  ${row.join(", ")},`);
  }
  return lines;
}

/**
 * Renders `huffman_table.ts`.
 *
 * @param codes The 257 codes.
 * @returns The TypeScript source.
 *
 * @example
 * ```ts
 * import { parseCodes, render } from "./gen_huffman.ts";
 * import { ok } from "node:assert/strict";
 *
 * const text = await Deno.readTextFile(new URL("./huffman_codes.txt", import.meta.url));
 * ok(render(parseCodes(text)).includes("export const HUFFMAN_DECODE"));
 * ```
 */
export function render(codes: HuffmanCode[]): string {
  const decode = buildDecodeTable(codes);
  const decodeRows: string[] = [];
  for (let state = 0; state < 256; state++) {
    const row = Array.from(decode.subarray(state * 16, state * 16 + 16), (v) => hex(v, 5));
    decodeRows.push(`  ${row.slice(0, 8).join(", ")}, // state ${state}`);
    decodeRows.push(`  ${row.slice(8).join(", ")},`);
  }
  const example = (body: string) => [" * @example", " * ```ts", ...body.split("\n"), " * ```"];
  return [
    "// Generated by tools/gen_huffman.ts from tools/huffman_codes.txt: do not edit.",
    "// Regenerate with `deno run -R -W tools/gen_huffman.ts`.",
    "",
    "/**",
    " * The HPACK Huffman code (RFC 7541 Appendix B) as lookup tables.",
    " * Generated, do not edit: change tools/huffman_codes.txt or tools/gen_huffman.ts.",
    " *",
    " * @module",
    " */",
    "",
    "/**",
    " * Huffman code of each symbol, right-aligned; index 256 is EOS (RFC 7541 Appendix B).",
    " *",
    ...example([
      ' * import { HUFFMAN_CODES } from "./huffman_table.ts";',
      ' * import { equal } from "node:assert/strict";',
      " *",
      ' * equal(HUFFMAN_CODES["a".charCodeAt(0)], 0b00011);',
    ].join("\n")),
    " */",
    "// deno-fmt-ignore",
    "export const HUFFMAN_CODES: Uint32Array = new Uint32Array([",
    ...rows(codes.map((c) => c.code), 8, (v) => hex(v, 8)),
    "]);",
    "",
    "/**",
    " * Length in bits of each symbol's code; index 256 is EOS (RFC 7541 Appendix B).",
    " *",
    ...example([
      ' * import { HUFFMAN_LENGTHS } from "./huffman_table.ts";',
      ' * import { equal } from "node:assert/strict";',
      " *",
      ' * equal(HUFFMAN_LENGTHS["a".charCodeAt(0)], 5);',
      " * equal(HUFFMAN_LENGTHS[256], 30);",
    ].join("\n")),
    " */",
    "// deno-fmt-ignore",
    "export const HUFFMAN_LENGTHS: Uint8Array = new Uint8Array([",
    ...rows(codes.map((c) => c.length), 16, (v) => String(v).padStart(2)),
    "]);",
    "",
    ...flagDoc(
      "HUFFMAN_EMIT",
      FLAG_EMIT,
      "the step completed a symbol, stored in its low 8 bits.",
      [
        "// 'a' is 00011: after 0001, the nibble 1000 completes it.",
        "const first = HUFFMAN_DECODE[0b0001];",
        "const step = HUFFMAN_DECODE[((first >>> 8) & 0xff) * 16 + 0b1000];",
        "equal(step & HUFFMAN_EMIT, HUFFMAN_EMIT);",
        'equal(step & 0xff, "a".charCodeAt(0));',
      ],
    ),
    "",
    ...flagDoc(
      "HUFFMAN_ACCEPT",
      FLAG_ACCEPT,
      "the string may end here: padding of at most 7 one bits (RFC 7541 §5.2).",
      [
        "equal(HUFFMAN_DECODE[0b1111] & HUFFMAN_ACCEPT, HUFFMAN_ACCEPT); // 4 bits of padding",
        "equal(HUFFMAN_DECODE[0b1110] & HUFFMAN_ACCEPT, 0); // padding must be all ones",
      ],
    ),
    "",
    ...flagDoc(
      "HUFFMAN_FAIL",
      FLAG_FAIL,
      "the step decoded EOS, which MUST NOT appear in a string (RFC 7541 §5.2).",
      [
        "// EOS is 30 one bits: the eighth nibble of ones completes it.",
        "let state = 0;",
        "let step = 0;",
        "for (let i = 0; i < 8; i++) {",
        "  step = HUFFMAN_DECODE[state * 16 + 0b1111];",
        "  state = (step >>> 8) & 0xff;",
        "}",
        "equal(step & HUFFMAN_FAIL, HUFFMAN_FAIL);",
      ],
    ),
    "",
    ...flagDoc(
      "HUFFMAN_ONES",
      FLAG_ONES,
      "only ones since the last symbol; without ACCEPT, padding over 7 bits.",
      [
        "const first = HUFFMAN_DECODE[0b1111];",
        "const step = HUFFMAN_DECODE[((first >>> 8) & 0xff) * 16 + 0b1111]; // 8 ones",
        "equal(step & HUFFMAN_ONES, HUFFMAN_ONES);",
        "equal(step & HUFFMAN_ACCEPT, 0);",
      ],
    ),
    "",
    "/**",
    " * Decode state machine, 4 bits per step. Entry `state * 16 + nibble` packs the",
    " * emitted symbol (bits 0-7), the next state (bits 8-15) and the HUFFMAN_* flags.",
    " * States are the 256 internal nodes of the code tree; state 0 is the root.",
    " *",
    ...example([
      ' * import { HUFFMAN_DECODE, HUFFMAN_EMIT } from "./huffman_table.ts";',
      ' * import { equal } from "node:assert/strict";',
      " *",
      " * // '0' is 00000: the nibble 0000 leaves state 0 for the node after '0000'.",
      " * const step = HUFFMAN_DECODE[0 * 16 + 0b0000];",
      " * equal(step & HUFFMAN_EMIT, 0);",
      " * // Feeding 0b0111 next completes '0' (bit 0) and walks 111 into a new node.",
      " * const next = HUFFMAN_DECODE[((step >>> 8) & 0xff) * 16 + 0b0111];",
      ' * equal(next & 0xff, "0".charCodeAt(0));',
      " * equal(next & HUFFMAN_EMIT, HUFFMAN_EMIT);",
    ].join("\n")),
    " */",
    "// deno-fmt-ignore",
    "export const HUFFMAN_DECODE: Uint32Array = new Uint32Array([",
    ...decodeRows,
    "]);",
    "",
  ].join("\n");
}

function flagDoc(name: string, value: number, summary: string, example: string[]): string[] {
  return [
    "/**",
    ` * Decode transition flag: ${summary}`,
    " *",
    " * @example",
    " * ```ts",
    ` * import { HUFFMAN_DECODE, ${name} } from "./huffman_table.ts";`,
    ' * import { equal } from "node:assert/strict";',
    " *",
    ...example.map((line) => ` * ${line}`),
    " * ```",
    " */",
    `export const ${name} = ${hex(value, 5)};`,
  ];
}

/**
 * Prints how to run the generator.
 *
 * @example
 * ```ts
 * import { printUsage } from "./gen_huffman.ts";
 *
 * printUsage();
 * ```
 */
export function printUsage(): void {
  console.log("Usage: deno run -R -W tools/gen_huffman.ts [--check]");
  console.log("  --check  exit 1 if h2/hpack/huffman_table.ts is out of date");
}

/**
 * Runs the generator.
 *
 * @param args Command-line arguments: `--check` or `--help`.
 * @returns The process exit code.
 *
 * @example
 * ```ts
 * import { main } from "./gen_huffman.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(await main(["--check"]), 0); // the committed table is up to date
 * ```
 */
export async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    printUsage();
    return 0;
  }
  const source = render(parseCodes(await Deno.readTextFile(INPUT)));
  if (args.includes("--check")) {
    const current = await Deno.readTextFile(OUTPUT).catch(() => "");
    if (current === source) return 0;
    console.error("h2/hpack/huffman_table.ts is out of date: run tools/gen_huffman.ts");
    return 1;
  }
  await Deno.writeTextFile(OUTPUT, source);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
