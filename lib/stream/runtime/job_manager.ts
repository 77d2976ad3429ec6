/**
 * The job manager: runs on the Raft leader. It accepts jobs, keeps one
 * {@link JobDriver} per job, watches workers (pings every `heartbeatMs`; a
 * worker that misses two in a row, or that the directory reports dead, is
 * dead and its jobs restart elsewhere) and collects task progress from the
 * ping replies. When this node becomes leader it reloads every job from the
 * metadata store and resumes the unfinished ones from their last completed
 * checkpoint; when it stops leading it lets go of them. When a worker joins,
 * running jobs whose tasks it would even out restart from their next
 * completed checkpoint with a balanced placement ({@link balancedKeep}).
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { ElasticoreError } from "../../errors.ts";
import type { Rpc } from "../../transport/mod.ts";
import type { JobSpec } from "../spec.ts";
import { type JobRecord, metaKeys } from "./commit.ts";
import { parseHostPort, type WorkerDirectory, type WorkerInfo } from "./directory.ts";
import type { StreamFs } from "./fs.ts";
import type { DriverDeps } from "./driver_deps.ts";
import { JobDriver } from "./job_driver.ts";
import {
  StreamCheckpointed,
  StreamFailed,
  type StreamPingReply,
  StreamTaskDone,
} from "./messages.ts";
import { isCasMismatch, type MetaStore } from "./meta.ts";
import type { JobView } from "./views.ts";

/** Options of {@link JobManager}. */
export interface JobManagerOptions {
  /** This node's id. */
  nodeId: string;
  /** The RPC endpoint (stream messages registered). */
  rpc: Rpc;
  /** Job records and manifests. */
  meta: MetaStore;
  /** Files. */
  fs: StreamFs;
  /** Workers. */
  directory: WorkerDirectory;
  /** True while this node is the Raft leader. */
  isLeader: () => boolean;
  /** Where to log. */
  logger?: Logger;
  /** Records per batch (default 1024). */
  batchSize?: number;
  /** Credit window per channel in records (default 8192). */
  creditWindow?: number;
  /** Coordinator tick in ms (default 50). */
  tickMs?: number;
  /** Worker ping period in ms (default 300). */
  heartbeatMs?: number;
  /** Restarts after which a job fails (default 50). */
  maxRestarts?: number;
  /**
   * Milliseconds without progress after which a running attempt restarts from its last
   * checkpoint (default: three checkpoint timeouts, at least 30 s; see `stall_watchdog.ts`).
   */
  stallTimeoutMs?: number;
}

/** How often the leader looks for job records no driver runs. */
const RECONCILE_MS = 2_000;

/** A fresh job id: `j-<time base 36>-<6 hex>`. */
export function newJobId(): string {
  return `j-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 6)}`;
}

const JOB_ID_RE = /^j-[0-9a-z]{1,16}-[0-9a-f]{6}$/;

/** `id` if it has the form {@link newJobId} makes; a `bad_request` error naming it otherwise. */
export function checkedJobId(id: string): string {
  if (!JOB_ID_RE.test(id)) {
    throw new ElasticoreError("bad_request", `"${id.slice(0, 64)}" is not a job id`, {
      status: 400,
    });
  }
  return id;
}

/** See the module documentation. */
export class JobManager {
  readonly #o: JobManagerOptions;
  readonly #drivers = new Map<string, JobDriver>();
  readonly #dead = new Set<string>();
  readonly #misses = new Map<string, number>();
  readonly #waiters = new Set<() => void>();
  #leading = false;
  #loading: Promise<void> | null = null;
  #timers: ReturnType<typeof setInterval>[] = [];
  #unsubscribe: (() => void) | undefined;
  #stopped = false;
  #reconciling = false;
  /** Submissions in flight, by job id. */
  readonly #submitting = new Map<string, Promise<JobView>>();

  /** Registers the report handlers; call {@link start}. */
  constructor(opts: JobManagerOptions) {
    this.#o = opts;
    const rpc = opts.rpc;
    rpc.handle("stream.checkpointed", (body) => {
      const b = StreamCheckpointed.parse(body);
      this.#drivers.get(b.job)?.onCheckpointed(b);
    });
    rpc.handle("stream.task_done", (body) => {
      const b = StreamTaskDone.parse(body);
      this.#drivers.get(b.job)?.onDone(b);
    });
    rpc.handle("stream.failed", (body) => {
      const b = StreamFailed.parse(body);
      this.#drivers.get(b.job)?.onFailed(b);
    });
  }

  /** Starts watching leadership and workers. */
  start(): void {
    this.#unsubscribe = this.#o.directory.onChange((e) => {
      if (e.type === "dead") this.#workerDead(e.worker.id);
      else {
        this.#dead.delete(e.worker.id);
        this.#workerJoined(e.worker.id);
      }
    });
    this.#timers.push(setInterval(() => this.#checkLeader(), 200));
    this.#timers.push(setInterval(() => this.#reconcile(), RECONCILE_MS));
    this.#timers.push(setInterval(() => this.#heartbeat(), this.#o.heartbeatMs ?? 300));
    this.#checkLeader();
  }

  /** Whether this manager currently leads (and has loaded the jobs). */
  get leading(): boolean {
    return this.#leading && this.#loading === null;
  }

  #checkLeader(): void {
    if (this.#stopped) return;
    const lead = this.#o.isLeader();
    if (lead && !this.#leading) {
      this.#leading = true;
      this.#loading = this.#load().catch((e) => {
        this.#o.logger?.error("loading jobs failed: {err}", { err: String(e) });
        this.#leading = false;
      }).finally(() => (this.#loading = null));
    } else if (!lead && this.#leading) {
      this.#leading = false;
      for (const d of this.#drivers.values()) d.stop();
      this.#drivers.clear();
      this.#o.logger?.info("no longer leader: released the jobs");
    }
  }

  async #load(): Promise<void> {
    const items = await this.#o.meta.list<JobRecord>(metaKeys.prefix);
    for (const [key, item] of items) {
      if (key.slice(metaKeys.prefix.length).includes("/")) continue;
      const r = item.value;
      if (this.#drivers.has(r.id)) continue;
      const d = await JobDriver.load(this.#deps(), r, item.version);
      this.#drivers.set(r.id, d);
    }
    this.#o.logger?.info("leading: loaded {n} jobs", { n: this.#drivers.size });
  }

  /**
   * Picks up job records no driver runs: a submission that raced a leader change can be
   * committed (forwarded to the new leader) after the new leader loaded the jobs.
   */
  #reconcile(): void {
    if (!this.leading || this.#reconciling) return;
    this.#reconciling = true;
    (async () => {
      const items = await this.#o.meta.list<JobRecord>(metaKeys.prefix);
      for (const [key, item] of items) {
        if (key.slice(metaKeys.prefix.length).includes("/")) continue;
        const r = item.value;
        if (!this.leading || this.#drivers.has(r.id) || this.#submitting.has(r.id)) continue;
        const d = await JobDriver.load(this.#deps(), r, item.version);
        if (!this.leading || this.#drivers.has(r.id)) {
          d.stop();
          continue;
        }
        this.#drivers.set(r.id, d);
        if (!d.ended) this.#o.logger?.info("picked up job {id} that no driver ran", { id: r.id });
      }
    })().catch((e) => this.#o.logger?.warn("job reconcile failed: {err}", { err: String(e) }))
      .finally(() => (this.#reconciling = false));
  }

  async #ready(): Promise<void> {
    if (this.#loading) await this.#loading;
    if (!this.#leading) {
      throw new ElasticoreError("not_leader", "this node does not run the job manager", {
        status: 503,
      });
    }
  }

  #deps(): DriverDeps {
    const o = this.#o;
    return {
      rpc: o.rpc,
      meta: o.meta,
      fs: o.fs,
      logger: o.logger,
      workers: () => this.#liveWorkers(),
      load: (except) => {
        const m = new Map<string, number>();
        for (const d of this.#drivers.values()) {
          if (d.record.id === except || d.ended) continue;
          for (const w of Object.values(d.record.assignment)) m.set(w, (m.get(w) ?? 0) + 1);
        }
        return m;
      },
      suspect: (w) => this.#miss(w, 2),
      balance: balancedKeep,
      batchSize: o.batchSize ?? 1024,
      creditWindow: o.creditWindow ?? 8192,
      tickMs: o.tickMs ?? 50,
      maxRestarts: o.maxRestarts ?? 50,
      stallTimeoutMs: o.stallTimeoutMs,
      changed: () => {
        for (const w of this.#waiters) w();
      },
    };
  }

  #liveWorkers(): WorkerInfo[] {
    return this.#o.directory.workers().filter((w) => !this.#dead.has(w.id));
  }

  #heartbeat(): void {
    if (!this.leading) return;
    for (const w of this.#o.directory.workers()) {
      const a = parseHostPort(w.rpc);
      if (a && w.id !== this.#o.nodeId) this.#o.rpc.addPeer(w.id, a);
      this.#o.rpc.call<StreamPingReply>(w.id, "stream.ping", {}, { deadlineMs: 1000 })
        .then((reply) => {
          this.#misses.set(w.id, 0);
          if (this.#dead.delete(w.id)) {
            this.#o.logger?.info("worker {w} answers again", { w: w.id });
          }
          for (const p of reply.tasks) this.#drivers.get(p.job)?.onProgress(p);
        })
        .catch(() => this.#miss(w.id, 1));
    }
  }

  #miss(worker: string, n: number): void {
    const misses = (this.#misses.get(worker) ?? 0) + n;
    this.#misses.set(worker, misses);
    if (misses >= 2 && !this.#dead.has(worker)) this.#workerDead(worker);
  }

  #workerDead(worker: string): void {
    if (this.#dead.has(worker)) return;
    this.#dead.add(worker);
    this.#o.logger?.warn("worker {w} is dead", { w: worker });
    for (const d of this.#drivers.values()) d.workerDead(worker);
  }

  #workerJoined(worker: string): void {
    if (!this.leading) return;
    const live = this.#liveWorkers();
    for (const d of this.#drivers.values()) {
      if (d.ended || Object.values(d.record.assignment).includes(worker)) continue;
      const keep = balancedKeep(d.record.assignment, live);
      if (Object.keys(keep).length === Object.keys(d.record.assignment).length) continue;
      this.#o.logger?.info("job {id}: worker {w} joined; rebalancing at the next checkpoint", {
        id: d.record.id,
        w: worker,
      });
      d.rebalance();
    }
  }

  /**
   * Submits a validated spec under job id `id` (made here when omitted); resolves with the job.
   *
   * Idempotent per id: the node that took the request names the job before forwarding it, so
   * a forward retried after an unknown outcome (the connection to a master lost with the call
   * in flight, or leadership lost after the record was stored) finds the stored job and
   * answers with it instead of starting a second one writing the same output.
   */
  submit(spec: JobSpec, id: string = newJobId()): Promise<JobView> {
    // One attempt per id at a time: a concurrent retry waits for it and gets the same answer.
    const inFlight = this.#submitting.get(id);
    if (inFlight) return inFlight;
    const attempt = this.#submitOnce(spec, id).finally(() => this.#submitting.delete(id));
    this.#submitting.set(id, attempt);
    return attempt;
  }

  async #submitOnce(spec: JobSpec, id: string): Promise<JobView> {
    await this.#ready();
    const running = this.#drivers.get(id);
    if (running) return running.view();
    let d: JobDriver;
    try {
      d = await JobDriver.submit(this.#deps(), id, spec);
    } catch (e) {
      if (!isCasMismatch(e)) throw e;
      // An earlier attempt of this submission stored the job: answer with it.
      const item = await this.#o.meta.get<JobRecord>(metaKeys.job(id));
      if (!item) throw e;
      const known = this.#drivers.get(id);
      if (known) return known.view();
      d = await JobDriver.load(this.#deps(), item.value, item.version);
    }
    if (!this.leading || this.#drivers.has(id)) {
      d.stop();
      const known = this.#drivers.get(id);
      if (known) return known.view();
      // Leadership moved while the record was committed: the new leader runs the job.
      throw new ElasticoreError(
        "not_leader",
        `leadership changed while job ${id} was submitted; it is stored and the new leader runs it`,
        { status: 503, hint: `check it with: elasticore job status ${id}` },
      );
    }
    this.#drivers.set(id, d);
    return d.view();
  }

  /** Every job, newest first. */
  async list(): Promise<JobView[]> {
    await this.#ready();
    return [...this.#drivers.values()].map((d) => d.view())
      .sort((a, b) => (a.submittedAt < b.submittedAt ? 1 : -1));
  }

  /** One job. */
  async get(id: string): Promise<JobView> {
    await this.#ready();
    return this.#driver(id).view();
  }

  #driver(id: string): JobDriver {
    const d = this.#drivers.get(id);
    if (!d) throw new ElasticoreError("job_not_found", `no job ${id}`, { status: 404 });
    return d;
  }

  /** Cancels a job. */
  async cancel(id: string): Promise<JobView> {
    await this.#ready();
    const d = this.#driver(id);
    await d.cancel();
    return d.view();
  }

  /** Waits until job `id` ended or `timeoutMs` passed; resolves with its view. */
  async wait(id: string, timeoutMs: number): Promise<JobView> {
    await this.#ready();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const d = this.#driver(id);
      if (d.ended || Date.now() >= deadline) return d.view();
      await new Promise<void>((resolve) => {
        const w = () => {
          this.#waiters.delete(w);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(w, Math.min(1000, Math.max(1, deadline - Date.now())));
        this.#waiters.add(w);
      });
    }
  }

  /** The jobs this manager drives (empty unless leading). */
  views(): JobView[] {
    return this.leading ? [...this.#drivers.values()].map((d) => d.view()) : [];
  }

  /** Stops every driver and timer (workers keep running until the next leader redeploys). */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#unsubscribe?.();
    for (const d of this.#drivers.values()) d.stop();
    this.#drivers.clear();
  }
}

/**
 * The part of `assignment` that stays put when its tasks are spread evenly
 * over `workers`: every worker keeps at most its fair share (⌊tasks/workers⌋,
 * one more for the `tasks mod workers` busiest), tasks on workers not in
 * the list are dropped. The tasks left out go to the least loaded workers
 * (`placeTasks`), so the fewest tasks move.
 */
export function balancedKeep(
  assignment: Readonly<Record<string, string>>,
  workers: readonly WorkerInfo[],
): Record<string, string> {
  const tasks = Object.keys(assignment).sort();
  const byWorker = new Map<string, string[]>(workers.map((w) => [w.id, []]));
  for (const t of tasks) byWorker.get(assignment[t])?.push(t);
  if (byWorker.size === 0) return {};
  const floor = Math.floor(tasks.length / byWorker.size);
  let extra = tasks.length % byWorker.size;
  const keep: Record<string, string> = {};
  const busiestFirst = [...byWorker].sort((a, b) =>
    b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1)
  );
  for (const [w, ts] of busiestFirst) {
    let share = floor;
    if (extra > 0 && ts.length > floor) {
      share++;
      extra--;
    }
    for (const t of ts.slice(0, share)) keep[t] = w;
  }
  return keep;
}
