/**
 * A tiny Prometheus registry: counters, gauges and histograms with labels,
 * written in the text exposition format (version 0.0.4) that every Prometheus
 * server scrapes.
 *
 * @module
 */

/** Label values by label name. */
export type Labels = Readonly<Record<string, string>>;

/** The `Content-Type` of the text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The default duration buckets (seconds), as the Prometheus client libraries have them. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `\`, `"` and line feeds escaped, as label values need (HELP text escapes no quotes). */
function escape(text: string, quotes: boolean): string {
  const escaped = text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
  return quotes ? escaped.replaceAll('"', '\\"') : escaped;
}

/** A sample value: `+Inf`, `-Inf`, `NaN` or the shortest decimal. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** One metric family: its name, help, type and labelled series. */
abstract class Metric<S> {
  /** The family's name. */
  readonly name: string;
  /** What it measures. */
  readonly help: string;
  /** Its label names, in the order samples show them. */
  readonly labelNames: readonly string[];
  /** Series by their label values joined with NUL. */
  protected readonly series = new Map<string, { labels: Labels; state: S }>();

  constructor(name: string, help: string, labelNames: readonly string[]) {
    if (!METRIC_NAME.test(name)) throw new TypeError(`Invalid metric name: ${name}`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__") || label === "le") {
        throw new TypeError(`Invalid label name for ${name}: ${label}`);
      }
    }
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  /** The type on the `# TYPE` line. */
  abstract readonly type: "counter" | "gauge" | "histogram";

  /** A new series' state. */
  protected abstract initial(): S;

  /** The series for `labels`, created at its initial state. */
  protected state(labels: Labels): S {
    // The key is built without an array, and a single label is its own key.
    const names = this.labelNames;
    let key = "";
    for (let i = 0; i < names.length; i++) {
      const value = labels[names[i]!];
      if (value === undefined) throw new TypeError(`Missing label ${names[i]} for ${this.name}`);
      key = i === 0 ? value : `${key}\0${value}`;
    }
    let entry = this.series.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, state: this.initial() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  /** `{a="1",b="2"}` for the family's labels plus `extra`, or nothing without labels. */
  protected labelText(labels: Labels, extra?: [string, string]): string {
    const parts = this.labelNames.map((name) => `${name}="${escape(labels[name]!, true)}"`);
    if (extra) parts.push(`${extra[0]}="${escape(extra[1], true)}"`);
    return parts.length === 0 ? "" : `{${parts.join(",")}}`;
  }

  /** The sample lines of every series. */
  protected abstract samples(): string[];

  /** The family in the text format: HELP, TYPE and sample lines. */
  expose(): string {
    return [
      `# HELP ${this.name} ${escape(this.help, false)}`,
      `# TYPE ${this.name} ${this.type}`,
      ...this.samples(),
    ].join("\n");
  }
}

/** Adds to a counter series; counters never go down. */
function add(name: string, state: { value: number }, amount: number): void {
  if (!(amount >= 0)) throw new RangeError(`Counter ${name} cannot decrease`);
  state.value += amount;
}

/** One counter series, bound to its labels by {@linkcode Counter.bind}. */
export interface CounterSeries {
  /** Adds to the series (1 unless told); never negative. */
  inc(amount?: number): void;
}

/**
 * A value that only goes up (requests, bytes); its name ends in `_total`.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * import { equal } from "node:assert/strict";
 * const registry = new MetricsRegistry();
 * const requests = registry.counter("app_requests_total", "Requests served", ["code"]);
 * requests.inc({ code: "200" });
 * requests.inc({ code: "200" }, 2);
 * equal(requests.get({ code: "200" }), 3);
 * ```
 */
export class Counter extends Metric<{ value: number }> {
  /** Always `counter`. */
  readonly type = "counter";

  protected initial(): { value: number } {
    return { value: 0 };
  }

  /**
   * Adds to a series.
   *
   * @param labels The series' label values.
   * @param amount How much to add; never negative.
   */
  inc(labels: Labels = {}, amount = 1): void {
    add(this.name, this.state(labels), amount);
  }

  /**
   * One series, bound once: a caller that updates it on every request then
   * builds no label key and looks nothing up.
   *
   * @param labels The series' label values.
   * @returns The series; it shows in the exposition from now on, at 0.
   *
   * @example
   * ```ts
   * import { MetricsRegistry } from "./metrics.ts";
   * import { equal } from "node:assert/strict";
   * const requests = new MetricsRegistry().counter("app_requests_total", "Requests", ["code"]);
   * const ok = requests.bind({ code: "200" });
   * ok.inc();
   * ok.inc(2);
   * equal(requests.get({ code: "200" }), 3);
   * ```
   */
  bind(labels: Labels): CounterSeries {
    const state = this.state(labels);
    const name = this.name;
    return { inc: (amount = 1) => add(name, state, amount) };
  }

  /**
   * Reads a series.
   *
   * @param labels The series' label values.
   * @returns Its value (0 for a series never incremented).
   */
  get(labels: Labels = {}): number {
    return this.state(labels).value;
  }

  protected samples(): string[] {
    return [...this.series.values()].map(({ labels, state }) =>
      `${this.name}${this.labelText(labels)} ${formatValue(state.value)}`
    );
  }
}

/**
 * A value that goes up and down (tunnels connected, streams in flight). Set it,
 * or give a `collect` function that reads every series at scrape time.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * import { match } from "node:assert/strict";
 * const registry = new MetricsRegistry();
 * registry.gauge("app_queue_length", "Jobs waiting", [], () => [[{}, 7]]);
 * match(registry.expose(), /^app_queue_length 7$/m);
 * ```
 */
export class Gauge extends Metric<{ value: number }> {
  /** Always `gauge`. */
  readonly type = "gauge";
  #collect: (() => Iterable<[Labels, number]>) | undefined;

  /**
   * @param name The family's name.
   * @param help What it measures.
   * @param labelNames Its label names.
   * @param collect Reads every series at scrape time, replacing set values.
   */
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    collect?: () => Iterable<[Labels, number]>,
  ) {
    super(name, help, labelNames);
    this.#collect = collect;
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }

  /**
   * Sets a series.
   *
   * @param labels The series' label values.
   * @param value The value.
   */
  set(labels: Labels, value: number): void {
    this.state(labels).value = value;
  }

  /**
   * Reads a series.
   *
   * @param labels The series' label values.
   * @returns Its value.
   */
  get(labels: Labels = {}): number {
    return this.state(labels).value;
  }

  protected samples(): string[] {
    if (this.#collect) {
      this.series.clear();
      for (const [labels, value] of this.#collect()) this.set(labels, value);
    }
    return [...this.series.values()].map(({ labels, state }) =>
      `${this.name}${this.labelText(labels)} ${formatValue(state.value)}`
    );
  }
}

/** A histogram series: counts per bucket (not cumulative), sum and count. */
interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

/** Counts one observation into a histogram series. */
function record(buckets: readonly number[], state: HistogramState, value: number): void {
  let i = 0;
  while (i < buckets.length && value > buckets[i]!) i++;
  state.counts[i]!++;
  state.sum += value;
  state.count++;
}

/** One histogram series, bound to its labels by {@linkcode Histogram.bind}. */
export interface HistogramSeries {
  /** Counts one observation, in the metric's base unit. */
  observe(value: number): void;
}

/**
 * Observations counted into buckets (durations, sizes), exposed as cumulative
 * `_bucket{le="…"}` series with `_sum` and `_count`.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * import { match } from "node:assert/strict";
 * const registry = new MetricsRegistry();
 * const latency = registry.histogram("app_seconds", "Latency", [], [0.1, 1]);
 * latency.observe({}, 0.05);
 * latency.observe({}, 0.5);
 * const text = registry.expose();
 * match(text, /^app_seconds_bucket\{le="0\.1"\} 1$/m);
 * match(text, /^app_seconds_bucket\{le="\+Inf"\} 2$/m);
 * match(text, /^app_seconds_count 2$/m);
 * ```
 */
export class Histogram extends Metric<HistogramState> {
  /** Always `histogram`. */
  readonly type = "histogram";
  /** Upper bounds, ascending; `+Inf` is implied. */
  readonly buckets: readonly number[];

  /**
   * @param name The family's name.
   * @param help What it measures.
   * @param labelNames Its label names.
   * @param buckets Upper bounds, ascending.
   */
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {
    super(name, help, labelNames);
    const sorted = buckets.every((bound, i) => i === 0 || bound > buckets[i - 1]!);
    if (!sorted || buckets.length === 0) {
      throw new RangeError(`Buckets of ${name} must be ascending`);
    }
    this.buckets = buckets.filter((bound) => bound !== Infinity);
  }

  protected initial(): HistogramState {
    return { counts: new Array(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  /**
   * Counts one observation.
   *
   * @param labels The series' label values.
   * @param value The observed value, in the metric's base unit.
   */
  observe(labels: Labels, value: number): void {
    record(this.buckets, this.state(labels), value);
  }

  /**
   * One series, bound once (see {@linkcode Counter.bind}).
   *
   * @param labels The series' label values.
   * @returns The series; it shows in the exposition from now on, empty.
   *
   * @example
   * ```ts
   * import { MetricsRegistry } from "./metrics.ts";
   * import { match } from "node:assert/strict";
   * const registry = new MetricsRegistry();
   * const latency = registry.histogram("app_seconds", "Latency", ["route"], [0.1, 1]);
   * latency.bind({ route: "/" }).observe(0.05);
   * match(registry.expose(), /^app_seconds_count\{route="\/"\} 1$/m);
   * ```
   */
  bind(labels: Labels): HistogramSeries {
    const state = this.state(labels);
    const buckets = this.buckets;
    return { observe: (value) => record(buckets, state, value) };
  }

  protected samples(): string[] {
    const lines: string[] = [];
    for (const { labels, state } of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += state.counts[i]!;
        const le = this.labelText(labels, ["le", formatValue(bound)]);
        lines.push(`${this.name}_bucket${le} ${cumulative}`);
      });
      const inf = this.labelText(labels, ["le", "+Inf"]);
      lines.push(`${this.name}_bucket${inf} ${state.count}`);
      lines.push(`${this.name}_sum${this.labelText(labels)} ${formatValue(state.sum)}`);
      lines.push(`${this.name}_count${this.labelText(labels)} ${state.count}`);
    }
    return lines;
  }
}

/**
 * The metric families of one process, exposed together.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * import { equal } from "node:assert/strict";
 * const registry = new MetricsRegistry();
 * registry.counter("app_jobs_total", "Jobs done", []).inc();
 * equal(
 *   registry.expose(),
 *   "# HELP app_jobs_total Jobs done\n# TYPE app_jobs_total counter\napp_jobs_total 1\n",
 * );
 * ```
 */
export class MetricsRegistry {
  #families = new Map<string, { expose(): string }>();

  #add<M extends { readonly name: string; expose(): string }>(metric: M): M {
    if (this.#families.has(metric.name)) {
      throw new TypeError(`Metric ${metric.name} is registered already`);
    }
    this.#families.set(metric.name, metric);
    return metric;
  }

  /**
   * Registers a counter.
   *
   * @param name Its name, ending in `_total`.
   * @param help What it counts.
   * @param labelNames Its label names.
   * @returns The counter.
   */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }

  /**
   * Registers a gauge.
   *
   * @param name Its name.
   * @param help What it measures.
   * @param labelNames Its label names.
   * @param collect Reads every series at scrape time.
   * @returns The gauge.
   */
  gauge(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    collect?: () => Iterable<[Labels, number]>,
  ): Gauge {
    return this.#add(new Gauge(name, help, labelNames, collect));
  }

  /**
   * Registers a histogram.
   *
   * @param name Its name, ending in its unit (`_seconds`, `_bytes`).
   * @param help What it observes.
   * @param labelNames Its label names.
   * @param buckets Upper bounds, ascending.
   * @returns The histogram.
   */
  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets?: readonly number[],
  ): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets));
  }

  /**
   * Writes every family in the text exposition format.
   *
   * @returns The text, ending in a line feed.
   */
  expose(): string {
    return [...this.#families.values()].map((metric) => metric.expose()).join("\n") + "\n";
  }
}
