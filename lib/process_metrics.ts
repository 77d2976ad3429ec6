/**
 * Memory of the node process, read at scrape time: the resident set and the
 * JavaScript engine's share of it. Resident memory well above the heap and
 * external bytes is native memory (TLS, Deno KV, the allocator's free
 * lists; `malloc_trim.ts` returns the last to the system).
 *
 * @module
 */
import type { MetricsRegistry } from "./metrics.ts";

const GAUGES: [name: string, help: string, pick: (m: Deno.MemoryUsage) => number][] = [
  ["process_resident_memory_bytes", "Resident memory of the node process", (m) => m.rss],
  [
    "elasticore_js_heap_used_bytes",
    "JavaScript heap in use (live objects and garbage not yet collected)",
    (m) => m.heapUsed,
  ],
  ["elasticore_js_heap_total_bytes", "JavaScript heap reserved by the engine", (m) => m.heapTotal],
  [
    "elasticore_js_external_bytes",
    "Memory held outside the JavaScript heap by JavaScript objects (buffers)",
    (m) => m.external,
  ],
];

/** Registers `process_resident_memory_bytes` and the `elasticore_js_*_bytes` gauges. */
export function registerProcessMetrics(metrics: MetricsRegistry): void {
  for (const [name, help, pick] of GAUGES) {
    metrics.gauge(name, help, () => [[undefined, pick(Deno.memoryUsage())]]);
  }
}
