/**
 * The certificate manager's Prometheus metrics: orders by result, and each
 * served certificate's time left (alert on it before it reaches zero).
 *
 * @module
 */

import type { MetricsRegistry } from "../admin/metrics.ts";
import type { AcmeManager } from "./manager.ts";

/**
 * Registers `ptth_acme_orders_total{result}` (issued, failed) and
 * `ptth_certificate_expiry_seconds{name}` (seconds until the served
 * certificate of `name` expires, read at scrape time).
 *
 * @param registry The router's registry.
 * @param manager The certificate manager.
 *
 * @example
 * ```ts
 * import { registerAcmeMetrics } from "./acme_metrics.ts";
 * import { AcmeManager } from "./manager.ts";
 * import { MetricsRegistry } from "../admin/metrics.ts";
 * import { match } from "node:assert/strict";
 * const registry = new MetricsRegistry();
 * registerAcmeMetrics(registry, new AcmeManager({ email: "ops@example.com", names: () => [] }));
 * match(registry.expose(), /ptth_acme_orders_total\{result="failed"\} 0/);
 * ```
 */
export function registerAcmeMetrics(registry: MetricsRegistry, manager: AcmeManager): void {
  const orders = registry.counter(
    "ptth_acme_orders_total",
    "Certificate orders sent to the ACME CA, by result (issued, failed).",
    ["result"],
  );
  // Both series exist from the start, so that a rate() over them is defined.
  const issued = orders.bind({ result: "issued" });
  const failed = orders.bind({ result: "failed" });
  manager.onOrder((_name, result) => (result === "issued" ? issued : failed).inc());
  registry.gauge(
    "ptth_certificate_expiry_seconds",
    "Seconds until the certificate served for a name expires.",
    ["name"],
    () =>
      manager.certificates().map((certificate) => [
        { name: certificate.name },
        (certificate.notAfter - Date.now()) / 1000,
      ]),
  );
}
