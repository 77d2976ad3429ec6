/**
 * The job manager's driver of one job: deploys its tasks, drives the
 * checkpoint coordinator with a timer, commits completed checkpoints
 * (manifest first, then the sink output, then it tells the sinks), and on a
 * failure restarts every task of the job from the last completed
 * checkpoint with a new attempt number (tasks of dead workers move to live
 * ones). When every task reported the end of its input, the final output is
 * committed the same way and the job is finished. A rebalance (a worker
 * joined) restarts the same way right after the next completed checkpoint,
 * with a balanced placement; it is not counted as a restart.
 *
 * @module
 */
import { stallTimeoutMs, StallWatchdog } from "./stall_watchdog.ts";
import { CheckpointCoordinator, type CoordinatorEffect } from "../checkpoint/coordinator.ts";
import type { JobSpec } from "../spec.ts";
import {
  commitManifest,
  type JobRecord,
  type Manifest,
  metaKeys,
  retryTransient,
  storeJobRecord,
} from "./commit.ts";
import { buildGraph, jobPaths, outputPath, type TaskGraph } from "./graph.ts";
import type {
  RestorePoint,
  StagedFile,
  StreamCheckpointed,
  StreamFailed,
  StreamTaskDone,
  TaskProgress,
} from "./messages.ts";
import type { DriverDeps } from "./driver_deps.ts";
import { FINAL_CHECKPOINT } from "./task.ts";

import { type JobView, placeTasks, type RateSample, stageViews } from "./views.ts";

/**
 * How long a commit keeps retrying transient failures. Commits are idempotent and a failed
 * commit fails the job, so the budget is long: one block transfer alone may run out its 120 s
 * deadline when a fault cut it short (chaos seed 2007).
 */
const COMMIT_RETRY_BUDGET_MS = 15 * 60_000;

/** See the module documentation. */
export class JobDriver {
  #record: JobRecord;
  #version: number;
  readonly #deps: DriverDeps;
  readonly graph: TaskGraph;
  #coord: CheckpointCoordinator;
  #manifest: Manifest | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running = false;
  #stopped = false;
  #restarting = false;
  #restartAgain = false;
  #rebalance: "pending" | "now" | undefined;
  #commits: Promise<void> = Promise.resolve();
  #acks = new Map<number, Record<string, StagedFile[]>>();
  #triggered = new Map<number, number>();
  #done = new Map<string, StreamTaskDone>();
  #progress = new Map<string, TaskProgress>();
  #rates = new Map<number, RateSample>();
  #lastCheckpoint: JobView["lastCheckpoint"] = null;
  #stall: StallWatchdog;

  private constructor(deps: DriverDeps, record: JobRecord, version: number, m?: Manifest) {
    this.#deps = deps;
    this.#record = record;
    this.#version = version;
    this.#manifest = m;
    if (m && !m.final) this.#lastCheckpoint = { id: m.id, at: m.at, durationMs: m.durationMs };
    this.graph = buildGraph(record.spec);
    this.#coord = this.#newCoordinator();
    this.#stall = new StallWatchdog(
      deps.stallTimeoutMs ?? stallTimeoutMs(record.spec.checkpoint?.timeoutMs),
    );
  }

  /** Creates the record of a new job and starts it. */
  static async submit(deps: DriverDeps, id: string, spec: JobSpec): Promise<JobDriver> {
    const record: JobRecord = {
      id,
      name: spec.name,
      spec,
      state: "pending",
      submittedAt: new Date().toISOString(),
      attempt: 0,
      assignment: {},
      restarts: 0,
    };
    const version = await deps.meta.put(metaKeys.job(id), record, 0);
    const d = new JobDriver(deps, record, version);
    d.#restart();
    return d;
  }

  /** Loads a stored job: an ended one is only shown, an unfinished one resumes. */
  static async load(deps: DriverDeps, record: JobRecord, version: number): Promise<JobDriver> {
    if (["finished", "failed", "cancelled"].includes(record.state)) {
      const m = (await deps.meta.get<Manifest>(metaKeys.manifest(record.id)))?.value;
      const d = new JobDriver(deps, record, version, m);
      d.stop();
      return d;
    }
    return await JobDriver.resume(deps, record, version);
  }

  /** Resumes a stored job (after a leader change) from its last completed checkpoint. */
  static async resume(deps: DriverDeps, record: JobRecord, version: number): Promise<JobDriver> {
    const m = (await deps.meta.get<Manifest>(metaKeys.manifest(record.id)))?.value;
    const d = new JobDriver(deps, record, version, m);
    if (m?.final) {
      d.#chain(
        d.#commits.then(() => d.#complete(m)).catch((err) =>
          d.#fail(`final commit failed: ${(err as Error).message}`)
        ),
      );
    } else {
      // The previous manager may have died between storing the manifest and committing its
      // output; the restored sinks no longer list those staged files, so commit them now
      // (idempotent) before the tasks restart from this manifest.
      if (m) {
        const commit = () =>
          retryTransient(() => commitManifest(deps.fs, deps.meta, record.id, record.spec, m), {
            stopped: () => d.#stopped,
            budgetMs: COMMIT_RETRY_BUDGET_MS,
          });
        const fail = (e: unknown) => d.#fail(`commit of checkpoint ${m.id} failed: ${String(e)}`);
        d.#chain(d.#commits.then(commit).then(() => {}, fail));
      }
      d.#restart();
    }
    return d;
  }

  /** The job record. */
  get record(): JobRecord {
    return this.#record;
  }

  /** Whether the job is over. */
  get ended(): boolean {
    return ["finished", "failed", "cancelled"].includes(this.#record.state);
  }

  #newCoordinator(): CheckpointCoordinator {
    const c = this.#record.spec.checkpoint;
    const tick = this.#deps.tickMs;
    const m = this.#manifest;
    return new CheckpointCoordinator({
      tasks: this.graph.tasks,
      sources: this.graph.sources,
      intervalTicks: Math.max(1, Math.round((c?.intervalMs ?? 2000) / tick)),
      timeoutTicks: Math.max(1, Math.round((c?.timeoutMs ?? 10_000) / tick)),
      maxConcurrent: c?.maxConcurrent ?? 1,
      recovered: m
        ? {
          completed: [{
            id: m.id,
            triggeredAt: 0,
            completedAt: 0,
            states: m.states,
            sourceOffsets: m.offsets,
          }],
          nextCheckpointId: m.id + 1,
        }
        : undefined,
    });
  }

  /**
   * Stores `next` over the record version this driver holds ({@link storeJobRecord}). A record
   * changed by anyone else means another manager owns the job: this driver lets go.
   */
  async #persist(next: JobRecord): Promise<boolean> {
    const version = await storeJobRecord(this.#deps.meta, next, this.#version, () => this.#stopped);
    if (version === null) {
      this.#deps.logger?.warn("job {id} was changed by another manager; letting go", {
        id: next.id,
      });
      this.stop();
      return false;
    }
    this.#version = version;
    this.#record = next;
    this.#deps.changed();
    return true;
  }

  #workersOf(tasks: readonly string[] = this.graph.tasks): string[] {
    return [...new Set(tasks.map((t) => this.#record.assignment[t]).filter(Boolean))];
  }

  #notify(workers: readonly string[], type: string, body: unknown): void {
    for (const w of workers) this.#deps.rpc.notify(w, type, body).catch(() => {});
  }

  #restart(): void {
    if (this.#restarting) {
      this.#restartAgain = true;
      return;
    }
    this.#restarting = true;
    this.#restartLoop().catch((e) => this.#fail(`restart failed: ${(e as Error).message}`))
      .finally(() => (this.#restarting = false));
  }

  async #restartLoop(): Promise<void> {
    do {
      this.#restartAgain = false;
      this.#running = false;
      await this.#commits;
      if (this.#stopped || this.ended) return;
      const r = this.#record;
      if (r.restarts >= this.#deps.maxRestarts) {
        await this.#fail(`gave up after ${r.restarts} restarts`);
        return;
      }
      const live = this.#deps.workers();
      const rebalancing = this.#rebalance === "now";
      const assignment = placeTasks(
        this.graph.tasks,
        rebalancing ? this.#deps.balance(r.assignment, live) : r.assignment,
        live,
        this.#deps.load(r.id),
      );
      if (!assignment) {
        this.#deps.logger?.warn("job {id}: not enough free worker slots; waiting", { id: r.id });
        await delay(1000);
        this.#restartAgain = true;
        continue;
      }
      const oldWorkers = this.#workersOf();
      const next: JobRecord = {
        ...r,
        state: "running",
        attempt: r.attempt + 1,
        assignment,
        restarts: r.attempt > 0 && !rebalancing ? r.restarts + 1 : r.restarts,
      };
      if (!await this.#persist(next)) return;
      if (rebalancing) this.#rebalance = undefined;
      const workers = this.#workersOf();
      this.#notify(oldWorkers.filter((w) => !workers.includes(w)), "stream.cancel", { job: r.id });
      this.#acks.clear();
      this.#done.clear();
      this.#progress.clear();
      const m = this.#manifest;
      const restore: RestorePoint | undefined = m
        ? { checkpointId: m.id, states: m.states, offsets: m.offsets }
        : undefined;
      const addrs = Object.fromEntries(live.map((w) => [w.id, w.rpc]));
      const deploy = {
        job: r.id,
        attempt: next.attempt,
        spec: JSON.stringify(r.spec),
        assignment,
        addrs,
        restore,
        batchSize: this.#deps.batchSize,
        creditWindow: this.#deps.creditWindow,
      };
      const results = await Promise.allSettled(
        workers.map((w) => this.#deps.rpc.call(w, "stream.deploy", deploy, { deadlineMs: 30_000 })),
      );
      const failed = workers.filter((_, i) => results[i].status === "rejected");
      if (failed.length > 0) {
        for (const [i, res] of results.entries()) {
          if (res.status === "rejected") {
            this.#deps.logger?.warn("job {id}: deploy on {w} failed: {err}", {
              id: r.id,
              w: workers[i],
              err: String(res.reason),
            });
          }
        }
        for (const w of failed) this.#deps.suspect(w);
        await delay(200);
        this.#restartAgain = true;
        continue;
      }
      if (this.#restartAgain) continue;
      await Promise.allSettled(
        workers.map((w) =>
          this.#deps.rpc.call(w, "stream.start", { job: r.id, attempt: next.attempt }, {
            deadlineMs: 10_000,
          })
        ),
      );
      this.#deps.logger?.info("job {id} running, attempt {a} from checkpoint {c}", {
        id: r.id,
        a: next.attempt,
        c: m?.id ?? 0,
      });
      this.#coord.step({ type: "restored", attempt: this.#coord.attempt });
      this.#handle(this.#coord.ready());
      this.#running = true;
      this.#timer ??= setInterval(() => this.#tick(), this.#deps.tickMs);
    } while (this.#restartAgain && !this.#stopped);
  }

  #tick(): void {
    if (!this.#running || this.#stopped) return;
    if (this.#stall.observe(this.#progressMark(), Date.now())) {
      const reason = `no progress for ${this.#stall.stalledFor(Date.now())} ms`;
      this.#deps.logger?.warn("job {id} attempt {a}: {reason}; restarting from checkpoint {c}", {
        id: this.#record.id,
        a: this.#record.attempt,
        reason,
        c: this.#manifest?.id ?? 0,
      });
      this.#stall.reset();
      this.taskFailed(this.graph.tasks[0], reason);
      return;
    }
    if (this.#done.size > 0) return;
    this.#coord.tick();
    this.#handle(this.#coord.ready());
  }

  /** Changes whenever the job progresses: records, finished tasks, checkpoints, attempts. */
  #progressMark(): string {
    let n = 0;
    for (const p of this.#progress.values()) n += p.recordsIn + p.recordsOut;
    return `${this.#record.attempt}/${n}/${this.#done.size}/${this.#lastCheckpoint?.id ?? 0}`;
  }

  #handle(effects: CoordinatorEffect[]): void {
    const r = this.#record;
    for (const e of effects) {
      switch (e.type) {
        case "trigger":
          this.#triggered.set(e.checkpointId, Date.now());
          this.#acks.set(e.checkpointId, {});
          this.#notify(this.#workersOf(this.graph.sources), "stream.trigger", {
            job: r.id,
            attempt: r.attempt,
            checkpointId: e.checkpointId,
          });
          break;
        case "complete": {
          const id = e.checkpoint.id;
          const started = this.#triggered.get(id) ?? Date.now();
          const m: Manifest = {
            id,
            at: new Date().toISOString(),
            durationMs: Date.now() - started,
            states: e.checkpoint.states,
            offsets: e.checkpoint.sourceOffsets,
            staged: this.#acks.get(id) ?? {},
          };
          this.#acks.delete(id);
          this.#triggered.delete(id);
          this.#chain(
            this.#commits.then(() => this.#commit(m)).catch((err) =>
              this.#fail(`commit of checkpoint ${id} failed: ${(err as Error).message}`)
            ),
          );
          break;
        }
        case "abort":
          this.#deps.logger?.info("job {id}: checkpoint {c} aborted: {reason}", {
            id: r.id,
            c: e.checkpointId,
            reason: e.reason,
          });
          this.#acks.delete(e.checkpointId);
          this.#triggered.delete(e.checkpointId);
          this.#notify(this.#workersOf(), "stream.abort", {
            job: r.id,
            attempt: r.attempt,
            checkpointId: e.checkpointId,
          });
          break;
        case "restore":
          this.#running = false;
          this.#restart();
          break;
        case "discard":
          this.#chain(this.#commits.then(async () => {
            if (this.#manifest?.id === e.checkpointId) return;
            // Garbage: a failed deletion (e.g. a DFS refusal during a failover) is logged and
            // left for later; it must not fail the job (the chain's next step is its restart).
            await this.#deps.fs.delete(jobPaths.checkpoint(r.id, e.checkpointId)).catch((err) => {
              this.#deps.logger?.warn("job {id}: deleting checkpoint {c} failed: {err}", {
                id: r.id,
                c: e.checkpointId,
                err: String(err),
              });
            });
          }));
          break;
      }
    }
  }

  async #commit(m: Manifest): Promise<void> {
    if (this.#stopped) return;
    const r = this.#record;
    await retryTransient(() => this.#deps.meta.put(metaKeys.manifest(r.id), m), {
      stopped: () => this.#stopped,
      budgetMs: COMMIT_RETRY_BUDGET_MS,
    });
    this.#manifest = m;
    if (!m.final) this.#lastCheckpoint = { id: m.id, at: m.at, durationMs: m.durationMs };
    // Idempotent: a transient DFS refusal (e.g. a node not yet back in the ring) is retried,
    // and said (the first refusal, then every tenth): output stalls while it lasts.
    await retryTransient(() => commitManifest(this.#deps.fs, this.#deps.meta, r.id, r.spec, m), {
      stopped: () => this.#stopped,
      budgetMs: COMMIT_RETRY_BUDGET_MS,
      onRetry: (e, attempt) => {
        if (attempt % 10 !== 1) return;
        this.#deps.logger?.warn("job {id}: commit of checkpoint {c} refused (attempt {n}): {e}", {
          id: r.id,
          c: m.id,
          n: attempt,
          e: String(e),
        });
      },
    });
    this.#notify(this.#workersOf(this.graph.sinks), "stream.commit", {
      job: r.id,
      checkpointId: m.id,
    });
    this.#deps.changed();
    if (this.#rebalance === "pending" && !m.final && this.#done.size === 0) {
      this.#rebalance = "now";
      this.taskFailed(this.graph.tasks[0], "rebalancing onto a new worker");
    }
  }

  /** Restarts from the next completed checkpoint with a balanced placement. */
  rebalance(): void {
    if (!this.ended && !this.#stopped) this.#rebalance ??= "pending";
  }

  /** A task acknowledged a checkpoint. */
  onCheckpointed(b: StreamCheckpointed): void {
    if (b.attempt !== this.#record.attempt || this.#stopped) return;
    const acks = this.#acks.get(b.checkpointId);
    if (acks && this.graph.sinks.includes(b.task)) acks[b.task] = b.staged;
    this.#coord.step({
      type: "ack",
      checkpointId: b.checkpointId,
      taskId: b.task,
      ack: { stateHandle: b.stateHandle, sourceOffsets: b.sourceOffsets },
    });
    this.#handle(this.#coord.ready());
  }

  /** A task failed. */
  onFailed(b: StreamFailed): void {
    if (b.attempt !== this.#record.attempt || this.#stopped || this.ended) return;
    this.#deps.logger?.warn("job {id}: task {t} failed: {reason}", {
      id: b.job,
      t: b.task,
      reason: b.reason,
    });
    if (b.fatal) {
      this.#chain(this.#commits.then(() => this.#fail(`task ${b.task}: ${b.reason}`)));
      return;
    }
    this.taskFailed(b.task, b.reason);
  }

  /** Restarts the job because `task` failed. */
  taskFailed(task: string, reason: string): void {
    this.#coord.step({ type: "taskFailed", taskId: task, reason });
    this.#handle(this.#coord.ready());
  }

  /** A worker died: restart if the job had tasks there. */
  workerDead(worker: string): void {
    if (this.ended || this.#stopped) return;
    const t = this.graph.tasks.find((x) => this.#record.assignment[x] === worker);
    if (t) this.taskFailed(t, `worker ${worker} died`);
  }

  /** A task reached the end of its input. */
  onDone(b: StreamTaskDone): void {
    if (b.attempt !== this.#record.attempt || this.#stopped || this.ended) return;
    this.#done.set(b.task, b);
    this.#progress.set(b.task, {
      job: b.job,
      attempt: b.attempt,
      task: b.task,
      recordsIn: b.recordsIn,
      recordsOut: b.recordsOut,
      backlog: 0,
    });
    if (this.#done.size < this.graph.tasks.length) return;
    const staged: Record<string, StagedFile[]> = {};
    const offsets: Record<string, number> = {};
    for (const d of this.#done.values()) {
      if (this.graph.sinks.includes(d.task)) staged[d.task] = d.staged;
      Object.assign(offsets, d.sourceOffsets ?? {});
    }
    const m: Manifest = {
      id: FINAL_CHECKPOINT,
      at: new Date().toISOString(),
      durationMs: 0,
      states: {},
      offsets,
      staged,
      final: true,
    };
    this.#chain(
      this.#commits.then(() => this.#complete(m)).catch((err) =>
        this.#fail(`final commit failed: ${(err as Error).message}`)
      ),
    );
  }

  /**
   * Makes `step` the end of the commit chain, which never rejects: a step that fails even in
   * its own failure handling (a stopped driver's `#fail`) is logged. An unhandled rejection
   * ends the whole process (soak seed 782: a resumed final commit refused while the leader
   * stepped down took down m1).
   */
  #chain(step: Promise<void>): void {
    this.#commits = step.catch((err) => {
      this.#deps.logger?.error("job {id}: commit chain: {err}", {
        id: this.#record.id,
        err: String(err),
      });
    });
  }

  async #complete(m: Manifest): Promise<void> {
    await this.#commit(m);
    await this.#end("finished");
  }

  async #end(state: "finished" | "failed" | "cancelled", error?: string): Promise<void> {
    if (this.ended || this.#stopped) return;
    const r = this.#record;
    const workers = this.#workersOf();
    if (!await this.#persist({ ...r, state, error, finishedAt: new Date().toISOString() })) return;
    this.#notify(workers, "stream.cancel", { job: r.id });
    this.stop();
    if (state === "finished") {
      await this.#deps.fs.delete(jobPaths.checkpoints(r.id)).catch(() => {});
      await this.#deps.fs.delete(jobPaths.staging(r.id)).catch(() => {});
    }
  }

  async #fail(reason: string): Promise<void> {
    this.#deps.logger?.error("job {id} failed: {reason}", { id: this.#record.id, reason });
    await this.#end("failed", reason);
  }

  /** Cancels the job. */
  async cancel(): Promise<void> {
    await this.#end("cancelled");
  }

  /** Progress reported by a worker. */
  onProgress(p: TaskProgress): void {
    if (p.attempt === this.#record.attempt) this.#progress.set(p.task, p);
  }

  /** Stops driving the job (leadership lost or job ended); workers are not told. */
  stop(): void {
    this.#stopped = true;
    this.#running = false;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The job as the API shows it. */
  view(): JobView {
    const r = this.#record;
    const now = Date.now();
    const stages = stageViews(this.graph.stages, this.#progress, this.#rates, now);
    return {
      id: r.id,
      name: r.name,
      state: r.state,
      stages,
      lastCheckpoint: this.#lastCheckpoint,
      restarts: r.restarts,
      attempt: r.attempt,
      submittedAt: r.submittedAt,
      finishedAt: r.finishedAt,
      error: r.error,
      output: outputPath(r.id, r.spec),
      tasks: { ...r.assignment },
    };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
