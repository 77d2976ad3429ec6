/**
 * A graceful stop as a list of steps run in order, each with its own time limit. A step that
 * overruns is logged with its name and left behind, and the stop goes on: a node told to stop
 * (SIGTERM, `node leave`) exits within the sum of the limits instead of waiting on one stuck
 * request or connection (a chaos leave once took 47 s to stop; systemd kills at 90 s).
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";

/** One step of a stop. */
export interface StopStep {
  /** What it stops, for the log. */
  name: string;
  /** Starts the step; the stop waits for it up to `limitMs`. */
  run: () => Promise<unknown> | unknown;
  /** Longest wait, ms. */
  limitMs: number;
}

/** How a step ended. */
export interface StopOutcome {
  /** The step's name. */
  name: string;
  /** `done`, `failed` (it threw) or `overran` (still running after its limit). */
  result: "done" | "failed" | "overran";
  /** Milliseconds waited for it. */
  ms: number;
}

/** Steps slower than this are logged even when they finish. */
const SLOW_MS = 1000;

/** Runs `steps` in order (see the module documentation); resolves with how each ended. */
export async function runStopSteps(
  steps: readonly StopStep[],
  log: Logger,
): Promise<StopOutcome[]> {
  const out: StopOutcome[] = [];
  for (const step of steps) {
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<"overran">((resolve) => {
      timer = setTimeout(() => resolve("overran"), step.limitMs);
    });
    const work = Promise.resolve()
      .then(step.run)
      .then(() => "done" as const, (e) => {
        log.warn("stop: {step} failed: {error}", { step: step.name, error: String(e) });
        return "failed" as const;
      });
    const result = await Promise.race([work, limit]);
    clearTimeout(timer);
    const ms = Math.round(performance.now() - started);
    if (result === "overran") {
      log.warn("stop: {step} did not finish within {limit} ms; stopping the rest", {
        step: step.name,
        limit: step.limitMs,
      });
    } else if (ms >= SLOW_MS) {
      log.info("stop: {step} took {ms} ms", { step: step.name, ms });
    }
    out.push({ name: step.name, result, ms });
  }
  return out;
}
