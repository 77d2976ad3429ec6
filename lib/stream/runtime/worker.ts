/**
 * The task executor of a worker node: serves the job manager's deploy,
 * start, cancel and ping calls, runs the tasks, moves data between tasks
 * (in process when both ends are here, else worker to worker over RPC) and
 * routes triggers, aborts, commits and credits to the tasks they concern.
 * Reports (checkpoint acks, done, failures) go to the node that deployed
 * the job.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { StreamAbort, StreamCommit, StreamCredit, StreamTrigger } from "../../../proto/stream.ts";
import type { Rpc } from "../../transport/mod.ts";
import { validateJobSpec } from "../spec.ts";
import { codeRows } from "./channels.ts";
import { parseHostPort } from "./directory.ts";
import type { StreamFs } from "./fs.ts";
import { buildGraph } from "./graph.ts";
import {
  StreamCancel,
  StreamData,
  StreamDeploy,
  type StreamPingReply,
  StreamStart,
} from "./messages.ts";
import { StreamTask, type TaskEnv } from "./task.ts";

/** Options of {@link StreamWorker}. */
export interface StreamWorkerOptions {
  /** This node's id. */
  nodeId: string;
  /** The node's RPC endpoint (stream messages registered). */
  rpc: Rpc;
  /** The file system. */
  fs: StreamFs;
  /** Where to log. */
  logger?: Logger;
  /** Longest a user operator call may take (default 30 s). */
  userTimeoutMs?: number;
}

interface JobRun {
  attempt: number;
  manager: string;
  tasks: Map<string, StreamTask>;
  assignment: Record<string, string>;
}

/** See the module documentation. */
export class StreamWorker {
  readonly #o: StreamWorkerOptions;
  readonly #jobs = new Map<string, JobRun>();
  #closed = false;

  /** Registers the handlers on the node's RPC endpoint. */
  constructor(opts: StreamWorkerOptions) {
    this.#o = opts;
    const rpc = opts.rpc;
    rpc.handle("stream.deploy", (body, ctx) => this.#deploy(StreamDeploy.parse(body), ctx.peer));
    rpc.handle("stream.start", (body) => {
      const b = StreamStart.parse(body);
      const run = this.#jobs.get(b.job);
      if (run && run.attempt === b.attempt) { for (const t of run.tasks.values()) t.start(); }
      return {};
    });
    rpc.handle("stream.cancel", (body) => {
      this.cancel(StreamCancel.parse(body).job);
      return {};
    });
    rpc.handle("stream.ping", () => this.progress());
    rpc.handle("stream.data", (body) => this.#deliver(StreamData.parse(body)));
    rpc.handle("stream.credit", (body) => {
      const b = StreamCredit.parse(body);
      this.#task(b.job, b.attempt, b.from)?.onCredit(b.to, b.credits);
    });
    rpc.handle("stream.trigger", (body) => {
      const b = StreamTrigger.parse(body);
      for (const t of this.#tasksOf(b.job, b.attempt)) if (t.isSource) t.trigger(b.checkpointId);
    });
    rpc.handle("stream.abort", (body) => {
      const b = StreamAbort.parse(body);
      for (const t of this.#tasksOf(b.job, b.attempt)) t.abort(b.checkpointId);
    });
    rpc.handle("stream.commit", (body) => {
      const b = StreamCommit.parse(body);
      const run = this.#jobs.get(b.job);
      for (const t of run?.tasks.values() ?? []) if (t.isSink) t.committed(b.checkpointId);
    });
  }

  #task(job: string, attempt: number, id: string): StreamTask | undefined {
    const run = this.#jobs.get(job);
    return run && run.attempt === attempt ? run.tasks.get(id) : undefined;
  }

  #tasksOf(job: string, attempt: number): StreamTask[] {
    const run = this.#jobs.get(job);
    return run && run.attempt === attempt ? [...run.tasks.values()] : [];
  }

  #deliver(msg: StreamData): void {
    this.#task(msg.job, msg.attempt, msg.to)?.onData(msg);
  }

  async #deploy(d: StreamDeploy, manager: string): Promise<Record<string, never>> {
    const o = this.#o;
    const old = this.#jobs.get(d.job);
    if (old && old.attempt > d.attempt) return {};
    this.cancel(d.job);
    const spec = validateJobSpec(JSON.parse(d.spec));
    const graph = buildGraph(spec);
    for (const [id, addr] of Object.entries(d.addrs)) {
      const a = parseHostPort(addr);
      if (a && id !== o.nodeId) o.rpc.addPeer(id, a);
    }
    const run: JobRun = { attempt: d.attempt, manager, tasks: new Map(), assignment: d.assignment };
    this.#jobs.set(d.job, run);
    const report = (type: string, body: unknown) => {
      if (this.#jobs.get(d.job) !== run || this.#closed) return;
      o.rpc.notify(run.manager, type, body).catch((e) =>
        o.logger?.warn("stream report {type} to {jm} failed: {err}", {
          type,
          jm: run.manager,
          err: String(e),
        })
      );
    };
    const env: TaskEnv = {
      job: d.job,
      attempt: d.attempt,
      spec,
      graph,
      fs: o.fs,
      batchSize: d.batchSize,
      creditWindow: d.creditWindow,
      send: (msg) => this.#send(run, msg),
      grant: (from, to, credits) => {
        const target = run.assignment[from];
        const body = { job: d.job, attempt: d.attempt, from, to, credits };
        if (target === o.nodeId) {
          queueMicrotask(() => run.tasks.get(from)?.onCredit(to, credits));
        } else report2(target, "stream.credit", body);
      },
      report: report as TaskEnv["report"],
      loadModule: (path) => o.fs.read(path),
      userTimeoutMs: o.userTimeoutMs,
    };
    const report2 = (peer: string, type: string, body: unknown) => {
      o.rpc.notify(peer, type, body).catch(() => {});
    };
    const mine = Object.entries(d.assignment).filter(([, w]) => w === o.nodeId).map(([t]) => t);
    try {
      for (const id of mine) {
        run.tasks.set(id, await StreamTask.create(env, id, d.restore));
      }
    } catch (e) {
      this.cancel(d.job);
      throw e;
    }
    if (this.#jobs.get(d.job) !== run) { for (const t of run.tasks.values()) t.stop(); }
    o.logger?.info("deployed {n} tasks of {job} attempt {attempt}", {
      n: mine.length,
      job: d.job,
      attempt: d.attempt,
    });
    return {};
  }

  async #send(run: JobRun, msg: StreamData): Promise<void> {
    const target = run.assignment[msg.to];
    if (target === this.#o.nodeId) {
      run.tasks.get(msg.to)?.onData(msg);
      return;
    }
    await this.#o.rpc.notify(target, "stream.data", codeRows(msg), { deadlineMs: 10_000 });
  }

  /** Stops every task of `job`. */
  cancel(job: string): void {
    const run = this.#jobs.get(job);
    if (!run) return;
    this.#jobs.delete(job);
    for (const t of run.tasks.values()) t.stop();
  }

  /** Progress of every task. */
  progress(): StreamPingReply {
    const tasks: StreamPingReply["tasks"] = [];
    for (const [job, run] of this.#jobs) {
      for (const t of run.tasks.values()) {
        tasks.push({
          job,
          attempt: run.attempt,
          task: t.id,
          recordsIn: t.recordsIn,
          recordsOut: t.recordsOut,
          backlog: t.backlog,
        });
      }
    }
    return { tasks };
  }

  /** The running tasks of `job` (for tests). */
  tasks(job: string): StreamTask[] {
    return [...(this.#jobs.get(job)?.tasks.values() ?? [])];
  }

  /** Stops every task. */
  close(): void {
    this.#closed = true;
    for (const job of [...this.#jobs.keys()]) this.cancel(job);
  }
}
