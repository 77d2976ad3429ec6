/**
 * Prometheus metrics: counters, gauges and histograms with labels, rendered
 * in the Prometheus text exposition format (version 0.0.4) by `GET /metrics`.
 * Every subsystem registers its metrics in the node's {@link MetricsRegistry}.
 *
 * @module
 */

/** Label names and values of one series. */
export type Labels = Record<string, string>;

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return "";
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(",");
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    if (!NAME_RE.test(name)) throw new Error(`invalid metric name ${name}`);
    this.name = name;
    this.help = help;
  }
  abstract readonly type: "counter" | "gauge" | "histogram";
  abstract render(): string[];
  protected checkLabels(labels: Labels | undefined): void {
    if (!labels) return;
    for (const k of Object.keys(labels)) {
      if (!LABEL_RE.test(k)) throw new Error(`invalid label name ${k} on ${this.name}`);
    }
  }
}

/** A monotonically increasing count, per label set. */
export class Counter extends Metric {
  /** Prometheus type. */
  readonly type = "counter";
  #values = new Map<string, number>();

  /** Adds `by` (default 1) to the series with `labels`. */
  inc(labels?: Labels, by = 1): void {
    if (by < 0) throw new RangeError(`counter ${this.name} cannot decrease`);
    const k = labelKey(labels);
    if (!this.#values.has(k)) this.checkLabels(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }

  /** Current value of a series. */
  get(labels?: Labels): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }

  /** Exposition lines. */
  render(): string[] {
    return [...this.#values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${fmt(v)}`);
  }
}

/** A value that goes up and down, set directly or computed at scrape time. */
export class Gauge extends Metric {
  /** Prometheus type. */
  readonly type = "gauge";
  #values = new Map<string, number>();
  #collect?: () => Array<[Labels | undefined, number]>;

  /** Creates a gauge; `collect`, if given, is called at every scrape. */
  constructor(name: string, help: string, collect?: () => Array<[Labels | undefined, number]>) {
    super(name, help);
    this.#collect = collect;
  }

  /** Sets the series with `labels` to `value`. */
  set(value: number, labels?: Labels): void {
    const k = labelKey(labels);
    if (!this.#values.has(k)) this.checkLabels(labels);
    this.#values.set(k, value);
  }

  /** Current value of a series. */
  get(labels?: Labels): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }

  /** Exposition lines. */
  render(): string[] {
    if (this.#collect) {
      for (const [labels, v] of this.#collect()) this.set(v, labels);
    }
    return [...this.#values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${fmt(v)}`);
  }
}

/** Default histogram buckets for latencies in seconds. */
export const LATENCY_BUCKETS = [
  0.0001,
  0.0005,
  0.001,
  0.0025,
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

/** A distribution of observations in cumulative buckets. */
export class Histogram extends Metric {
  /** Prometheus type. */
  readonly type = "histogram";
  readonly #buckets: number[];
  #series = new Map<string, { counts: number[]; sum: number; count: number }>();

  /** Creates a histogram with upper bounds `buckets` (ascending). */
  constructor(name: string, help: string, buckets: number[] = LATENCY_BUCKETS) {
    super(name, help);
    this.#buckets = [...buckets].sort((a, b) => a - b);
  }

  /** Records one observation. */
  observe(value: number, labels?: Labels): void {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (!s) {
      this.checkLabels(labels);
      s = { counts: new Array(this.#buckets.length).fill(0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.#buckets.length; i++) if (value <= this.#buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  /** Number of observations of a series. */
  count(labels?: Labels): number {
    return this.#series.get(labelKey(labels))?.count ?? 0;
  }

  /** Exposition lines. */
  render(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.#series) {
      const pre = k ? `${k},` : "";
      for (let i = 0; i < this.#buckets.length; i++) {
        out.push(`${this.name}_bucket{${pre}le="${fmt(this.#buckets[i])}"} ${s.counts[i]}`);
      }
      out.push(`${this.name}_bucket{${pre}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ""} ${fmt(s.sum)}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ""} ${s.count}`);
    }
    return out;
  }
}

/** The set of metrics a node exposes. */
export class MetricsRegistry {
  #metrics = new Map<string, Metric>();

  #add<M extends Metric>(m: M): M {
    const existing = this.#metrics.get(m.name);
    if (existing) {
      if (existing.type !== m.type) throw new Error(`metric ${m.name} registered with two types`);
      return existing as M;
    }
    this.#metrics.set(m.name, m);
    return m;
  }

  /** Registers (or returns the existing) counter `name`. */
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }

  /** Registers (or returns the existing) gauge `name`. */
  gauge(name: string, help: string, collect?: () => Array<[Labels | undefined, number]>): Gauge {
    return this.#add(new Gauge(name, help, collect));
  }

  /** Registers (or returns the existing) histogram `name`. */
  histogram(name: string, help: string, buckets?: number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }

  /** The whole registry in Prometheus text format. */
  render(): string {
    const lines: string[] = [];
    for (const m of [...this.#metrics.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      lines.push(`# HELP ${m.name} ${m.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      lines.push(`# TYPE ${m.name} ${m.type}`);
      lines.push(...m.render());
    }
    return lines.join("\n") + "\n";
  }
}
