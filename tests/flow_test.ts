import { equal } from "node:assert/strict";
import { MAX_WINDOW_SIZE } from "../h2/constants.ts";
import { ReceiveWindow, SendWindow } from "../h2/flow.ts";

// ---- SendWindow ------------------------------------------------------------------------------

Deno.test("SendWindow starts at the peer's grant and shrinks by what is sent (RFC 9113 §6.9.1)", () => {
  const window = new SendWindow(65_535);
  equal(window.size, 65_535);
  window.consume(16_384);
  window.consume(1);
  equal(window.size, 49_150);
});

Deno.test("SendWindow grows by WINDOW_UPDATE increments up to exactly 2^31-1 (RFC 9113 §6.9.1)", () => {
  const window = new SendWindow(65_535);
  equal(window.add(MAX_WINDOW_SIZE - 65_535), true);
  equal(window.size, MAX_WINDOW_SIZE);
});

Deno.test("SendWindow refuses growth beyond 2^31-1 and stays unchanged (RFC 9113 §6.9.1)", () => {
  const window = new SendWindow(MAX_WINDOW_SIZE - 10);
  equal(window.add(11), false);
  equal(window.size, MAX_WINDOW_SIZE - 10);
  equal(window.add(10), true);
  equal(window.add(1), false);
  equal(window.size, MAX_WINDOW_SIZE);
});

Deno.test("SendWindow goes negative when SETTINGS_INITIAL_WINDOW_SIZE shrinks and recovers by updates (RFC 9113 §6.9.2)", () => {
  const window = new SendWindow(3);
  window.consume(3);
  equal(window.size, 0);
  equal(window.add(1 - 3), true); // the initial window went from 3 to 1
  equal(window.size, -2);
  equal(window.add(2), true);
  equal(window.size, 0);
  equal(window.add(1), true);
  equal(window.size, 1);
});

Deno.test("SendWindow counts an overflow check from a negative window correctly (RFC 9113 §6.9.2)", () => {
  const window = new SendWindow(-100);
  equal(window.add(MAX_WINDOW_SIZE), true);
  equal(window.size, MAX_WINDOW_SIZE - 100);
  equal(window.add(101), false);
});

Deno.test("SendWindow may start at zero (SETTINGS_INITIAL_WINDOW_SIZE 0) (RFC 9113 §6.9.2)", () => {
  const window = new SendWindow(0);
  equal(window.size, 0);
  equal(window.add(5), true);
  equal(window.size, 5);
});

// ---- ReceiveWindow ---------------------------------------------------------------------------

Deno.test("ReceiveWindow accepts DATA up to exactly its size and refuses more (RFC 9113 §6.9.1)", () => {
  const window = new ReceiveWindow(100);
  equal(window.receive(60), true);
  equal(window.receive(40), true);
  equal(window.size, 0);
  equal(window.receive(1), false);
  equal(window.size, 0, "a refused frame does not change the window");
});

Deno.test("ReceiveWindow refuses a frame larger than what is left without consuming it", () => {
  const window = new ReceiveWindow(100);
  equal(window.receive(101), false);
  equal(window.size, 100);
  equal(window.receive(0), true);
  equal(window.size, 100);
});

Deno.test("ReceiveWindow batches WINDOW_UPDATE until half the window was consumed (RFC 9113 §6.9)", () => {
  const window = new ReceiveWindow(100);
  window.receive(80);
  equal(window.release(10), 0);
  equal(window.release(39), 0);
  equal(window.size, 20, "nothing was granted yet");
  equal(window.release(1), 50);
  equal(window.size, 70);
  equal(window.release(30), 0);
  equal(window.size, 70);
});

Deno.test("ReceiveWindow grants at once when the peer has nothing left to send into", () => {
  const window = new ReceiveWindow(100);
  window.receive(100);
  // Even a small release must go out now, or a peer with 0 window would stall forever.
  equal(window.release(1), 1);
  equal(window.size, 1);
});

Deno.test("ReceiveWindow.grow() raises the target and returns the increment that grants it (RFC 9113 §6.9.2)", () => {
  const window = new ReceiveWindow(65_535);
  equal(window.grow(16 * 1024 * 1024), 16 * 1024 * 1024 - 65_535);
  equal(window.size, 16 * 1024 * 1024);
  equal(window.grow(1000), 0, "never shrinks");
  equal(window.grow(16 * 1024 * 1024), 0);
  equal(window.size, 16 * 1024 * 1024);
});

Deno.test("ReceiveWindow batches against the grown target", () => {
  const window = new ReceiveWindow(100);
  window.grow(1000);
  window.receive(900);
  equal(window.release(400), 0);
  equal(window.release(100), 500);
  equal(window.size, 600);
});
