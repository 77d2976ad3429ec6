/**
 * What the API shows of a job (the job objects of the API contract) and
 * task placement.
 *
 * @module
 */
import type { JobState } from "./commit.ts";
import type { GraphStage } from "./graph.ts";
import type { TaskProgress } from "./messages.ts";
import type { WorkerInfo } from "./directory.ts";

/** Progress of one stage. */
export interface StageView {
  /** Display name, e.g. `source+filter`. */
  name: string;
  /** Number of tasks. */
  parallelism: number;
  /** Records the stage read or received (this attempt). */
  recordsIn: number;
  /** Records it emitted (this attempt). */
  recordsOut: number;
  /** Input records per second, recently. */
  ratePerSec: number;
  /** Records waiting in its queues. */
  backlog: number;
}

/** A job as `GET /v1/jobs` shows it. */
export interface JobView {
  /** Job id. */
  id: string;
  /** Spec name. */
  name: string;
  /** State. */
  state: JobState;
  /** Stages in pipeline order. */
  stages: StageView[];
  /** The last completed checkpoint. */
  lastCheckpoint: { id: number; at: string; durationMs: number } | null;
  /** Restarts after failures. */
  restarts: number;
  /** Current attempt. */
  attempt: number;
  /** ISO time of submission. */
  submittedAt: string;
  /** ISO time it ended. */
  finishedAt?: string;
  /** Why it failed. */
  error?: string;
  /** The output file (DFS path). */
  output: string;
  /** Task id → worker id. */
  tasks: Record<string, string>;
}

/**
 * Places tasks on workers: tasks already on a live worker stay; every other
 * task goes to the least loaded worker (tasks / slots) that has a free slot.
 * `load` counts other jobs' tasks per worker. Returns undefined when the
 * slots do not suffice.
 */
export function placeTasks(
  tasks: readonly string[],
  current: Readonly<Record<string, string>>,
  workers: readonly WorkerInfo[],
  load: ReadonlyMap<string, number>,
): Record<string, string> | undefined {
  const used = new Map<string, number>();
  for (const w of workers) used.set(w.id, load.get(w.id) ?? 0);
  const out: Record<string, string> = {};
  const unplaced: string[] = [];
  for (const t of tasks) {
    const w = current[t];
    const info = workers.find((x) => x.id === w);
    if (info && used.get(w)! < info.slots) {
      out[t] = w;
      used.set(w, used.get(w)! + 1);
    } else unplaced.push(t);
  }
  for (const t of unplaced) {
    let best: WorkerInfo | undefined;
    for (const w of workers) {
      const u = used.get(w.id)!;
      if (u >= w.slots) continue;
      if (!best || u / w.slots < used.get(best.id)! / best.slots) best = w;
    }
    if (!best) return undefined;
    out[t] = best.id;
    used.set(best.id, used.get(best.id)! + 1);
  }
  return out;
}

/** The last throughput sample of a stage: records in at `at`, and the rate derived then. */
export interface RateSample {
  /** Records in, summed over the stage's tasks. */
  total: number;
  /** `Date.now()` of the sample. */
  at: number;
  /** Records per second. */
  rate: number;
}

/**
 * Per-stage records, backlog and throughput from the tasks' latest progress reports; the rate is
 * re-derived at most every 500 ms (`rates` keeps the last sample per stage and is updated).
 */
export function stageViews(
  stages: readonly GraphStage[],
  progress: ReadonlyMap<string, TaskProgress>,
  rates: Map<number, RateSample>,
  now: number,
): StageView[] {
  return stages.map((s) => {
    let recordsIn = 0, recordsOut = 0, backlog = 0;
    for (let i = 0; i < s.parallelism; i++) {
      const p = progress.get(`s${s.index}.${i}`);
      if (!p) continue;
      recordsIn += p.recordsIn;
      recordsOut += p.recordsOut;
      backlog += p.backlog;
    }
    const prev = rates.get(s.index);
    let rate = prev?.rate ?? 0;
    if (!prev || now - prev.at >= 500) {
      if (prev) rate = Math.max(0, (recordsIn - prev.total) * 1000 / (now - prev.at));
      rates.set(s.index, { total: recordsIn, at: now, rate });
    }
    return {
      name: s.name,
      parallelism: s.parallelism,
      recordsIn,
      recordsOut,
      ratePerSec: Math.round(rate),
      backlog,
    };
  });
}
