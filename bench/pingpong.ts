/**
 * What a round trip between two processes costs on this machine: a TCP
 * ping-pong of one octet over loopback, `rounds` times, each end in its own
 * process (two handoffs a round). A tunnel adds such a round trip (router to
 * backend and back) to every batch of requests, which direct serving does not;
 * when the two processes sit on different cores, each handoff wakes the other
 * core, and on a virtual machine that can cost more than the work itself.
 *
 *     deno run -A bench/pingpong.ts echo                  # prints {"event":"listening","port":N}
 *     deno run -A bench/pingpong.ts ping <port> [rounds]  # prints {"event":"result","rttUs":…}
 *
 * bench/run.ts runs the two ends pinned (taskset) to one core, then to two.
 *
 * @module
 */

const [mode, port, rounds] = Deno.args;

if (mode === "echo") {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(JSON.stringify({ event: "listening", port: listener.addr.port }));
  // One peer, then exit: the probe's client closes when it is done.
  using conn = await listener.accept();
  conn.setNoDelay(true);
  const octet = new Uint8Array(1);
  while ((await conn.read(octet)) === 1) await conn.write(octet);
} else if (mode === "ping" && Number(port) > 0 && Number(rounds ?? 20_000) > 0) {
  const n = Math.floor(Number(rounds ?? 20_000));
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  conn.setNoDelay(true);
  const octet = new Uint8Array(1);
  const roundTrip = async () => {
    await conn.write(octet);
    if ((await conn.read(octet)) !== 1) throw new Error("the echo end closed");
  };
  // Warm up (JIT, socket buffers), unmeasured.
  for (let i = 0; i < 500; i++) await roundTrip();
  const start = performance.now();
  for (let i = 0; i < n; i++) await roundTrip();
  const rttUs = ((performance.now() - start) * 1000) / n;
  console.log(JSON.stringify({ event: "result", rttUs: Number(rttUs.toFixed(1)), rounds: n }));
} else {
  console.error("usage: pingpong.ts echo | ping <port> [rounds > 0]");
  Deno.exit(2);
}
