/**
 * The dashboard in a real browser: Debian's Chromium, headless, driven by
 * playwright-core (which never downloads a browser of its own). Screenshots
 * at a laptop and a phone size go to test-artifacts/.
 */
import { equal, ok } from "node:assert/strict";
import type { ReverseServer } from "../backend/serve_reverse.ts";
import { baseUrl, startBackend, startRouter } from "./_helpers.ts";
import { launchChromium, requireChromium } from "./_chromium.ts";

const ARTIFACTS = new URL("../test-artifacts/", import.meta.url).pathname;
const API_TOKEN = "api-token-for-dashboard-001";
const WEB_TOKEN = "web-token-for-dashboard-001";
/** Bounded waits for what the page shows: it polls every second. */
const SHOWN_WITHIN = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test({
  name: "the dashboard shows services and their tunnels, and follows tunnels coming and going",
  // Playwright keeps its own timers and pipes to the browser process.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    requireChromium();
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await using router = startRouter({
      admin: { port: 0 },
      tokens: { api: API_TOKEN, web: WEB_TOKEN },
      serviceHosts: { web: ["www.example.com"] },
      // Requests for any other host (localhost, below) match no route.
      routes: [
        { host: "127.0.0.1", path: "/api", service: "api" },
        { host: "127.0.0.1", service: "web" },
      ],
      keepaliveInterval: 500,
    });
    const handler = async (request: Request) => {
      const path = new URL(request.url).pathname;
      // Latencies that spread the percentiles: mostly fast, a slow tail.
      const ms = Math.random() < 0.9 ? 2 + Math.random() * 8 : 20 + Math.random() * 40;
      await sleep(ms);
      if (path.endsWith("/fail")) return new Response("unavailable", { status: 503 });
      return new Response(`ok ${path}`);
    };
    const backends: ReverseServer[] = [];
    const browser = await launchChromium();
    let traffic = true;
    let load: Promise<void> = Promise.resolve();
    try {
      backends.push(
        await startBackend(router, handler, {
          service: "api",
          token: API_TOKEN,
          metadata: { region: "eu-west", version: "1.4.2" },
        }),
        await startBackend(router, handler, {
          service: "web",
          token: WEB_TOKEN,
          hosts: ["www.example.com"],
          metadata: { version: "2.0.0" },
        }),
      );
      const [apiTunnel, webTunnel] = router.pool.list().map((t) => t.id);

      // Steady traffic to both services, a few failures among it.
      load = (async () => {
        let n = 0;
        while (traffic) {
          const path = n % 17 === 16
            ? "/api/fail"
            : n % 3 === 0
            ? "/index.html"
            : `/api/items/${n}`;
          n++;
          const init = n % 5 === 0 ? { method: "POST", body: "u".repeat(256) } : {};
          if (n % 7 === 0) {
            await fetch(`http://localhost:${router.addr.port}/nowhere`).then((r) =>
              r.body?.cancel()
            )
              .catch(() => {});
          }
          await Promise.all(
            [0, 1, 2].map(() =>
              fetch(`${baseUrl(router)}${path}`, init).then((r) => r.body?.cancel())
            ),
          ).catch(() => {});
          await sleep(40);
        }
      })();

      const admin = `http://127.0.0.1:${router.adminAddr!.port}/`;
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      // Self-contained: every request the page makes goes to the admin listener.
      const elsewhere: string[] = [];
      const errors: string[] = [];
      page.on("request", (request) => {
        const url = request.url();
        if (!url.startsWith(admin) && !url.startsWith("data:")) elsewhere.push(url);
      });
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(admin);
      await page.waitForSelector(`[data-service="api"] [data-tunnel="${apiTunnel}"]`, {
        timeout: SHOWN_WITHIN,
      });
      await page.waitForSelector(`[data-service="web"] [data-tunnel="${webTunnel}"]`, {
        timeout: SHOWN_WITHIN,
      });
      equal(await page.locator("[data-service]").count(), 2);

      // A third tunnel connects: it appears under its service.
      backends.push(
        await startBackend(router, handler, {
          service: "api",
          token: API_TOKEN,
          metadata: { region: "us-east", version: "1.4.2" },
        }),
      );
      const third = router.pool.list().map((t) => t.id).find((id) =>
        id !== apiTunnel && id !== webTunnel
      )!;
      await page.waitForSelector(`[data-service="api"] [data-tunnel="${third}"]`, {
        timeout: SHOWN_WITHIN,
      });
      equal(await page.locator("[data-tunnel]").count(), 3);

      // Let the charts fill with a few seconds of traffic, then take the pictures.
      await sleep(6000);
      const rate = await page.locator('[data-service="api"] .chart svg rect').count();
      ok(rate > 0, "the request-rate chart has bars");
      const latency = await page.locator('[data-service="api"] .chart svg path').count();
      equal(latency, 3, "p50, p95 and p99 lines");
      // Requests that matched no route: a card of their own, not a service without tunnels.
      ok(await page.locator("[data-unrouted]").isVisible(), "the unrouted requests' card");
      equal(await page.locator("[data-unrouted] .pill").count(), 0, "no tunnel pill on it");
      equal(await page.locator("[data-unrouted] .empty").count(), 0, 'no "No tunnel connected"');
      const servicesStat = page.locator(".stat", { hasText: "services" }).locator(".value");
      equal(await servicesStat.textContent(), "2", "the services count leaves it out");
      await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });

      const phone = await browser.newPage({
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
      });
      await phone.goto(admin);
      await phone.waitForSelector(`[data-tunnel="${third}"]`, { timeout: SHOWN_WITHIN });
      // A string, evaluated in the page: Deno's type checker knows no DOM.
      const overflow = Number(
        await phone.evaluate(
          "document.documentElement.scrollWidth - document.documentElement.clientWidth",
        ),
      );
      ok(overflow <= 0, `the page fits a phone's width (overflows by ${overflow}px)`);
      await phone.screenshot({ path: `${ARTIFACTS}dashboard-phone.png`, fullPage: true });
      await phone.close();

      // The third tunnel's backend shuts down: its row goes.
      await backends.pop()!.shutdown();
      await page.waitForSelector(`[data-tunnel="${third}"]`, {
        state: "detached",
        timeout: SHOWN_WITHIN,
      });
      equal(await page.locator("[data-tunnel]").count(), 2);
      ok(await page.locator(`[data-service="api"] [data-tunnel="${apiTunnel}"]`).isVisible());
      ok(await page.locator(`[data-service="web"] [data-tunnel="${webTunnel}"]`).isVisible());
      equal(elsewhere.length, 0, `requests outside the admin listener: ${elsewhere.join(", ")}`);
      equal(errors.length, 0, `script errors: ${errors.join("; ")}`);
    } finally {
      traffic = false;
      await load;
      await browser.close();
      await Promise.all(backends.map((backend) => backend.shutdown()));
    }
  },
});
