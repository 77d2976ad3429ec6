/**
 * Gives the C allocator's free memory back to the system at intervals.
 *
 * glibc's malloc returns freed memory from the middle of its main heap only
 * when asked (`malloc_trim`); until then it keeps it for reuse. A node frees
 * small buffers (TLS records, Deno KV values, HTTP bodies) at a high rate, so
 * its resident memory kept climbing through a 30-minute soak while the memory
 * in use stayed flat: `malloc_trim(0)` gave back 36-56 MiB every three minutes
 * (docs/RELIABILITY.md, MEM-1). Where libc is not glibc (macOS, Windows, musl)
 * or FFI is not permitted, this does nothing.
 *
 * @module
 */
import type { MetricsRegistry } from "./metrics.ts";

/** How often a node trims its allocator, ms. */
export const MALLOC_TRIM_INTERVAL_MS = 30_000;

/** The `malloc_trim` of glibc, or null where there is none. */
export function openMallocTrim(): (() => void) | null {
  if (Deno.build.os !== "linux") return null;
  try {
    const lib = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    return () => void lib.symbols.malloc_trim(0n);
  } catch {
    return null; // not glibc, or no FFI permission
  }
}

/** A running trimmer; {@link MallocTrimmer.stop} ends it. */
export interface MallocTrimmer {
  /** Whether this platform has `malloc_trim` (false: the trimmer does nothing). */
  readonly active: boolean;
  /** Stops the timer. */
  stop(): void;
}

/**
 * Calls `trim` (default: glibc's `malloc_trim(0)`; null: nothing) every `intervalMs`, counting the calls, the resident memory they
 * gave back and the time they took in `metrics`.
 */
export function startMallocTrim(
  metrics: MetricsRegistry,
  intervalMs = MALLOC_TRIM_INTERVAL_MS,
  trim: (() => void) | null = openMallocTrim(),
): MallocTrimmer {
  if (!trim) return { active: false, stop() {} };
  const released = metrics.counter(
    "elasticore_malloc_trim_released_bytes_total",
    "Resident memory given back to the system by malloc_trim",
  );
  const took = metrics.histogram(
    "elasticore_malloc_trim_seconds",
    "Time one malloc_trim call blocked the node",
    [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1],
  );
  const timer = setInterval(() => {
    const before = Deno.memoryUsage().rss;
    const t0 = performance.now();
    trim();
    took.observe((performance.now() - t0) / 1000);
    released.inc(undefined, Math.max(0, before - Deno.memoryUsage().rss));
  }, intervalMs);
  return { active: true, stop: () => clearInterval(timer) };
}
