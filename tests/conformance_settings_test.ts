/**
 * Conformance of the server role (`serveConnection`) with RFC 9113 §6.5 (SETTINGS), §6.7
 * (PING) and §6.9 (WINDOW_UPDATE and flow control), driven by a raw-frame client over a real loopback socket. Each case asserts the exact
 * outcome: GOAWAY with a code (connection error), RST_STREAM with a code (stream error, after
 * which the connection must still serve), or a normal response.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { ErrorCode, Flag, FrameType, MAX_WINDOW_SIZE, SettingId } from "../h2/constants.ts";
import { describeFrame, isSettingsAck, rejectErrors } from "./_raw_peer.ts";
import {
  connectionErrorCases,
  expectServes,
  MAX_FRAME,
  nextData,
  nextHead,
  noData,
  req,
  sendHeaders,
  sendRaw,
  serverTest,
} from "./_server_conformance.ts";

// ---- §6.5 SETTINGS ------------------------------------------------------------------------

serverTest("server acknowledges an empty SETTINGS frame (RFC 9113 §6.5.3)", async (h) => {
  h.peer.out.settings([]);
  await h.peer.flush();
  const ack = await h.peer.expectFrame("SETTINGS ACK", isSettingsAck, rejectErrors);
  equal(ack.header.length, 0);
});

connectionErrorCases([
  [
    "server answers SETTINGS ACK with a payload with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.5)",
    FrameType.SETTINGS,
    Flag.ACK,
    0,
    [0, 4, 0, 0, 0, 1],
    ErrorCode.FRAME_SIZE_ERROR,
    0,
  ],
  [
    "server answers SETTINGS on a stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.5)",
    FrameType.SETTINGS,
    0,
    1,
    [0, 3, 0, 0, 0, 100],
    ErrorCode.PROTOCOL_ERROR,
    0,
  ],
  [
    "server answers SETTINGS whose length is not a multiple of 6 with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.5)",
    FrameType.SETTINGS,
    0,
    0,
    [0, 3, 0, 0, 100],
    ErrorCode.FRAME_SIZE_ERROR,
    0,
  ],
]);

serverTest(
  "server answers SETTINGS_ENABLE_PUSH of 2 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.5.2)",
  async (h) => {
    h.peer.out.settings([[SettingId.ENABLE_PUSH, 2]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 with GOAWAY FLOW_CONTROL_ERROR (RFC 9113 §6.5.2)",
  async (h) => {
    h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 0x8000_0000]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.FLOW_CONTROL_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS_MAX_FRAME_SIZE below 16384 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.5.2)",
  async (h) => {
    h.peer.out.settings([[SettingId.MAX_FRAME_SIZE, 16_383]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS_MAX_FRAME_SIZE above 2^24-1 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.5.2)",
  async (h) => {
    h.peer.out.settings([[SettingId.MAX_FRAME_SIZE, 16_777_216]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS_ENABLE_CONNECT_PROTOCOL of 2 with GOAWAY PROTOCOL_ERROR (RFC 8441 §3)",
  async (h) => {
    h.peer.out.settings([[SettingId.ENABLE_CONNECT_PROTOCOL, 2]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server processes the values of one SETTINGS frame in order (RFC 9113 §6.5.3)",
  async (h) => {
    h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 100], [SettingId.INITIAL_WINDOW_SIZE, 1]]);
    await h.peer.flush();
    await h.peer.expectFrame("SETTINGS ACK", isSettingsAck, rejectErrors);
    await sendHeaders(h, 1, req("/size?n=5"));
    equal((await nextData(h, 1)).length, 1);
  },
);

serverTest(
  "server honours a SETTINGS_HEADER_TABLE_SIZE of 0 with a table size update (RFC 7541 §4.2)",
  async (h) => {
    // From now on our decoder requires the server's blocks to shrink the table to 0 first.
    h.peer.decoder.setMaxTableSize(0);
    await expectServes(h, 1);
    await expectServes(h, 3);
    equal(h.peer.decoder.dynamicTable.length, 0);
  },
  { handshake: [[SettingId.HEADER_TABLE_SIZE, 0]] },
);

// ---- §6.7 PING ----------------------------------------------------------------------------

serverTest("server answers PING with a PING ACK echoing the payload (RFC 9113 §6.7)", async (h) => {
  const data = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
  h.peer.out.ping(false, data);
  await h.peer.flush();
  const ack = await h.peer.expectFrame(
    "PING",
    (r) => r.header.type === FrameType.PING,
    rejectErrors,
  );
  equal(ack.header.flags, Flag.ACK);
  equal(ack.header.streamId, 0);
  deepEqual(ack.payload, data);
});

serverTest("server does not answer a PING ACK (RFC 9113 §6.7)", async (h) => {
  h.peer.out.ping(true, new Uint8Array(8).fill(7));
  await h.peer.flush();
  const before = await h.peer.sync();
  deepEqual(before.filter((r) => r.header.type === FrameType.PING).map(describeFrame), []);
});

connectionErrorCases([
  [
    "server answers PING on a stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.7)",
    FrameType.PING,
    0,
    1,
    new Uint8Array(8),
    ErrorCode.PROTOCOL_ERROR,
    0,
  ],
  [
    "server answers PING of 6 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.7)",
    FrameType.PING,
    0,
    0,
    new Uint8Array(6),
    ErrorCode.FRAME_SIZE_ERROR,
    0,
  ],
]);

// ---- §6.9 WINDOW_UPDATE and flow control ----------------------------------------------------

serverTest(
  "server answers a connection WINDOW_UPDATE of 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.9)",
  async (h) => {
    await sendRaw(h, FrameType.WINDOW_UPDATE, 0, 0, [0, 0, 0, 0]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers a stream WINDOW_UPDATE of 0 with RST_STREAM PROTOCOL_ERROR (RFC 9113 §6.9)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.WINDOW_UPDATE, 0, 1, [0, 0, 0, 0]);
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers WINDOW_UPDATE of 3 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.9)",
  async (h) => {
    await sendRaw(h, FrameType.WINDOW_UPDATE, 0, 0, [0, 0, 1]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 0);
  },
);

serverTest(
  "server answers a stream WINDOW_UPDATE of 5 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.9)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.WINDOW_UPDATE, 0, 1, [0, 0, 0, 1, 0]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 1);
  },
);

serverTest(
  "server answers a connection window above 2^31-1 with GOAWAY FLOW_CONTROL_ERROR (RFC 9113 §6.9.1)",
  async (h) => {
    h.peer.out.windowUpdate(0, MAX_WINDOW_SIZE - 65_535);
    await h.peer.flush();
    deepEqual((await h.peer.sync()).map(describeFrame), [], "a window of exactly 2^31-1 is fine");
    h.peer.out.windowUpdate(0, 1);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.FLOW_CONTROL_ERROR, 0);
  },
);

serverTest(
  "server answers a stream window above 2^31-1 with RST_STREAM FLOW_CONTROL_ERROR (RFC 9113 §6.9.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.windowUpdate(1, MAX_WINDOW_SIZE - 65_535);
    await h.peer.flush();
    deepEqual((await h.peer.sync()).map(describeFrame), []);
    h.peer.out.windowUpdate(1, 1);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.FLOW_CONTROL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers a SETTINGS_INITIAL_WINDOW_SIZE change that overflows a stream window with GOAWAY FLOW_CONTROL_ERROR (RFC 9113 §6.9.2)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.windowUpdate(1, MAX_WINDOW_SIZE - 65_535);
    await h.peer.flush();
    await h.peer.sync();
    h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 65_536]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.FLOW_CONTROL_ERROR, 1);
  },
);

serverTest(
  "server sends 1-octet DATA frames, each only after WINDOW_UPDATE, with an initial window of 1 (RFC 9113 §6.9.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/size?n=3"));
    await nextHead(h, 1);
    let received = 0;
    while (true) {
      const data = await nextData(h, 1);
      if (data.length === 0) {
        ok(data.endStream);
        break;
      }
      equal(data.length, 1);
      received++;
      if (data.endStream) break;
      const before = await h.peer.sync();
      noData(before, 1);
      // After the last octet, an empty DATA with END_STREAM needs no window.
      const end = before.find((r) => r.header.type === FrameType.DATA && r.header.streamId === 1);
      if (end !== undefined) {
        equal(received, 3);
        ok((end.header.flags & Flag.END_STREAM) !== 0);
        break;
      }
      h.peer.out.windowUpdate(1, 1);
      await h.peer.flush();
    }
    equal(received, 3);
  },
  { handshake: [[SettingId.INITIAL_WINDOW_SIZE, 1]] },
);

serverTest(
  "server applies a SETTINGS_INITIAL_WINDOW_SIZE increase to open streams (RFC 9113 §6.9.2)",
  async (h) => {
    await sendHeaders(h, 1, req("/size?n=5"));
    await nextHead(h, 1);
    noData(await h.peer.sync(), 1);
    h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 5]]);
    await h.peer.flush();
    let received = 0;
    while (true) {
      const data = await nextData(h, 1);
      received += data.length;
      if (data.endStream) break;
    }
    equal(received, 5);
  },
  { handshake: [[SettingId.INITIAL_WINDOW_SIZE, 0]] },
);

serverTest(
  "server tracks a stream window made negative by SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113 §6.9.2)",
  async (h) => {
    await sendHeaders(h, 1, req("/size?n=10"));
    await nextHead(h, 1);
    equal((await nextData(h, 1)).length, 3);
    noData(await h.peer.sync(), 1);
    // The window goes from 0 to 1 - 3 = -2.
    h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 1]]);
    await h.peer.flush();
    noData(await h.peer.sync(), 1);
    h.peer.out.windowUpdate(1, 2);
    await h.peer.flush();
    noData(await h.peer.sync(), 1);
    // Now -2 + 2 + 1 = 1: exactly one octet may go.
    h.peer.out.windowUpdate(1, 1);
    await h.peer.flush();
    equal((await nextData(h, 1)).length, 1);
    noData(await h.peer.sync(), 1);
    h.peer.out.windowUpdate(1, 100);
    await h.peer.flush();
    let rest = 0;
    while (true) {
      const data = await nextData(h, 1);
      rest += data.length;
      if (data.endStream) break;
    }
    equal(rest, 6);
  },
  { handshake: [[SettingId.INITIAL_WINDOW_SIZE, 3]] },
);

serverTest(
  "server never exceeds the connection window and resumes on its WINDOW_UPDATE (RFC 9113 §6.9.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/size?n=70000"));
    await nextHead(h, 1);
    let sent = 0;
    while (sent < 65_535) {
      const data = await nextData(h, 1);
      ok(data.length <= MAX_FRAME);
      sent += data.length;
    }
    equal(sent, 65_535);
    noData(await h.peer.sync(), 1);
    h.peer.out.windowUpdate(0, 70_000 - 65_535);
    await h.peer.flush();
    while (true) {
      const data = await nextData(h, 1);
      sent += data.length;
      if (data.endStream) break;
    }
    equal(sent, 70_000);
  },
  { handshake: [[SettingId.INITIAL_WINDOW_SIZE, 1 << 20]] },
);

serverTest(
  "server answers DATA beyond its stream window with RST_STREAM FLOW_CONTROL_ERROR (RFC 9113 §6.9.1)",
  async (h) => {
    equal(h.serverSettings.get(SettingId.INITIAL_WINDOW_SIZE), 100);
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    h.peer.out.data(1, new Uint8Array(101), false);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.FLOW_CONTROL_ERROR);
    await expectServes(h, 3);
  },
  { server: { settings: { initialWindowSize: 100 } } },
);

serverTest(
  "server counts DATA padding against its stream window (RFC 9113 §6.1, §6.9.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    // 50 octets of data, the pad length octet and 50 of padding: 101 > 100.
    h.peer.out.data(1, new Uint8Array(50), false, 50);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.FLOW_CONTROL_ERROR);
    await expectServes(h, 3);
  },
  { server: { settings: { initialWindowSize: 100 } } },
);

serverTest(
  "server answers DATA beyond its connection window with GOAWAY FLOW_CONTROL_ERROR (RFC 9113 §6.9.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    for (let i = 0; i < 4; i++) h.peer.out.data(1, new Uint8Array(16_384), false);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.FLOW_CONTROL_ERROR, 1);
  },
  { server: { connectionWindowSize: 65_535 } },
);

serverTest(
  "server replenishes its windows as the handler reads a large body (RFC 9113 §6.9)",
  async (h) => {
    await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
    let streamWindow = 16_384;
    let connectionWindow = 65_535;
    let remaining = 200_000;
    while (remaining > 0) {
      const n = Math.min(remaining, streamWindow, connectionWindow, MAX_FRAME);
      if (n === 0) {
        const update = await h.peer.expectFrame(
          "WINDOW_UPDATE",
          (r) => r.header.type === FrameType.WINDOW_UPDATE,
          rejectErrors,
        );
        const increment = (update.frame as { increment: number }).increment;
        if (update.header.streamId === 0) connectionWindow += increment;
        else streamWindow += increment;
        continue;
      }
      remaining -= n;
      streamWindow -= n;
      connectionWindow -= n;
      h.peer.out.data(1, new Uint8Array(n), remaining === 0);
      await h.peer.flush();
    }
    // Room for the echoed body in our own windows.
    h.peer.out.windowUpdate(0, 200_000);
    h.peer.out.windowUpdate(1, 200_000);
    await h.peer.flush();
    equal((await h.peer.expectResponse(1)).body.length, 200_000);
  },
  { server: { settings: { initialWindowSize: 16_384 }, connectionWindowSize: 65_535 } },
);
