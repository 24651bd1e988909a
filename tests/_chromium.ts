/**
 * Debian's Chromium, headless, driven by playwright-core (which never
 * downloads a browser of its own), for the tests that need a real browser.
 *
 * @module
 */

import { type Browser, chromium } from "playwright-core";

/** Where the Chromium binary is: PTTH_CHROMIUM, or Debian's package. */
export const CHROMIUM = Deno.env.get("PTTH_CHROMIUM") ?? "/usr/bin/chromium";

/** Throws, saying how to install it, when there is no Chromium binary at {@link CHROMIUM}. */
export function requireChromium(): void {
  let present: boolean;
  try {
    present = Deno.statSync(CHROMIUM).isFile;
  } catch {
    present = false;
  }
  if (!present) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; ` +
        ".ci/run does) or point PTTH_CHROMIUM at a Chromium binary",
    );
  }
}

/**
 * Launches a headless Chromium. launch() gives the browser a fresh temporary
 * profile (--user-data-dir) and removes it after; the caller closes it.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
