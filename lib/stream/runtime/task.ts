/**
 * One running task: a source split or input channels, the task's operator
 * chain, and its output (partitioned channels to the next stage, or the
 * transactional sink of the last stage).
 *
 * - Sources read their split chunk by chunk and inject a barrier between
 *   two chunks when the job manager triggers a checkpoint; the offset in the
 *   snapshot is the byte offset of the next unread record.
 * - Other tasks align barriers over their input channels (`BarrierAligner`);
 *   credit is returned to a sender only once its records were processed, so
 *   blocked channels hold back their senders.
 * - At a barrier a task forwards it, stores its operator state at
 *   `/_checkpoints/<job>/<ckpt>/<task>` and, in the last stage, stages the
 *   records written since the previous barrier at
 *   `/_staging/<job>/<task>/<ckpt>`; then it acknowledges with the list of
 *   staged files not yet known to be committed.
 * - At the end of input it flushes held records, stages its last output
 *   (`final-<attempt>`) and reports that it is done.
 * - Output channels send full batches while more input is at hand (the
 *   next chunk of a file split, queued messages); partial batches go out
 *   before the task waits for input and before a barrier or the end.
 * - A CSV file source reads only the columns the job uses downstream
 *   ({@link inputColumns}), when those are known.
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";
import { type AlignerOutput, BarrierAligner } from "../checkpoint/aligner.ts";
import type { SnapshotValue } from "../operators/types.ts";
import { partitionOf } from "../plan.ts";
import { fieldText, type StreamRecord } from "../record.ts";
import type { JobSpec } from "../spec.ts";
import { batchLength, batchRecords, InputChannel, OutputChannel } from "./channels.ts";
import type { StreamFs } from "./fs.ts";
import {
  type GraphStage,
  inputColumns,
  jobPaths,
  parseTaskId,
  splitId,
  type TaskGraph,
  taskId,
} from "./graph.ts";
import type {
  RestorePoint,
  StagedFile,
  StreamCheckpointed,
  StreamData,
  StreamFailed,
  StreamTaskDone,
} from "./messages.ts";
import { openFileSplit, openStreamLog, type SplitReader } from "./source_reader.ts";
import { type DeadLetter, type ModuleLoader, TaskChain } from "./task_chain.ts";

/** Checkpoint id of the staged output written at the end of input. */
export const FINAL_CHECKPOINT = 0xffffffff;

/** What a task needs from the worker hosting it. */
export interface TaskEnv {
  /** Job id. */
  job: string;
  /** Restore attempt. */
  attempt: number;
  /** The validated spec. */
  spec: JobSpec;
  /** The job's task graph. */
  graph: TaskGraph;
  /** The file system. */
  fs: StreamFs;
  /** Most records per batch. */
  batchSize: number;
  /** Records of credit per channel. */
  creditWindow: number;
  /** Sends a data message to task `msg.to`. */
  send(msg: StreamData): Promise<void>;
  /** Grants `credits` to the sender of channel `from` → `to`. */
  grant(from: string, to: string, credits: number): void;
  /** Reports to the job manager. */
  report(type: "stream.checkpointed", body: StreamCheckpointed): void;
  /** Reports to the job manager. */
  report(type: "stream.task_done", body: StreamTaskDone): void;
  /** Reports to the job manager. */
  report(type: "stream.failed", body: StreamFailed): void;
  /** Loads a user module's source. */
  loadModule: ModuleLoader;
  /** Longest a user operator call may take. */
  userTimeoutMs?: number;
}

type QueueItem = { kind: "data"; msg: StreamData } | { kind: "abort"; id: number };

interface TaskState {
  task: string;
  checkpointId: number;
  operators: SnapshotValue[];
  offset?: number;
}

const enc = new TextEncoder();

/** See the module documentation. */
export class StreamTask {
  /** Task id, e.g. `s1.0`. */
  readonly id: string;
  /** Its stage. */
  readonly stage: GraphStage;
  /** Index within the stage. */
  readonly index: number;
  /** Records read or received. */
  recordsIn = 0;
  /** Records emitted to the next stage or the sink. */
  recordsOut = 0;
  readonly #env: TaskEnv;
  readonly #chain: TaskChain;
  readonly #outputs: OutputChannel[] = [];
  readonly #inputs = new Map<string, InputChannel>();
  readonly #aligner: BarrierAligner<StreamRecord[]> | undefined;
  readonly #isSink: boolean;
  readonly #route: (rec: StreamRecord) => number;
  #split: SplitReader | undefined;
  #queue: QueueItem[] = [];
  #queuedRecords = 0;
  #wake: (() => void) | null = null;
  #barriers: number[] = [];
  #lastBarrier = 0;
  #sinkOpen: string[] = [];
  #staged: StagedFile[] = [];
  #stopped = false;
  #started = false;
  #done = false;

  private constructor(env: TaskEnv, id: string, chain: TaskChain) {
    this.#env = env;
    this.id = id;
    const { stage, index } = parseTaskId(id);
    this.stage = env.graph.stages[stage];
    this.index = index;
    this.#chain = chain;
    const next = env.graph.stages[stage + 1];
    this.#isSink = next === undefined;
    if (next) {
      const project = inputColumns(env.graph, next.index);
      for (let k = 0; k < next.parallelism; k++) {
        const to = taskId(next.index, k);
        this.#outputs.push(
          new OutputChannel(
            { job: env.job, attempt: env.attempt, from: id, to },
            env.send,
            env.creditWindow,
            env.batchSize,
            project,
          ),
        );
      }
    }
    const q = next?.parallelism ?? 1;
    if (next?.input.kind === "hash") {
      const col = next.input.column;
      this.#route = (rec) => partitionOf(fieldText(rec, col), q);
    } else {
      let rr = index % q;
      this.#route = () => (rr = (rr + 1) % q);
    }
    if (this.stage.input.kind !== "source") {
      const prev = env.graph.stages[stage - 1];
      const names: string[] = [];
      for (let k = 0; k < prev.parallelism; k++) {
        const from = taskId(prev.index, k);
        names.push(from);
        this.#inputs.set(
          from,
          new InputChannel(from, env.creditWindow, (n) => env.grant(from, id, n)),
        );
      }
      this.#aligner = new BarrierAligner(names);
    }
  }

  /** Builds the task, restoring its state (and source offset) from `restore` when given. */
  static async create(env: TaskEnv, id: string, restore?: RestorePoint): Promise<StreamTask> {
    const { stage } = parseTaskId(id);
    const chain = await TaskChain.build(
      env.graph.stages[stage].ops,
      env.loadModule,
      env.userTimeoutMs,
    );
    const task = new StreamTask(env, id, chain);
    try {
      await task.#restore(restore);
    } catch (e) {
      chain.close();
      throw e;
    }
    return task;
  }

  async #restore(restore: RestorePoint | undefined): Promise<void> {
    const env = this.#env;
    let offset: number | undefined;
    if (restore) {
      this.#lastBarrier = restore.checkpointId;
      this.#aligner?.reset(restore.checkpointId);
      const handle = restore.states[this.id];
      if (handle === undefined) {
        throw new ElasticoreError(
          "stream_restore_failed",
          `checkpoint has no state for ${this.id}`,
        );
      }
      const st = JSON.parse(new TextDecoder().decode(await env.fs.read(handle))) as TaskState;
      await this.#chain.restore(st.operators);
      offset = restore.offsets[splitId(this.index)];
    }
    if (this.stage.input.kind === "source") {
      const src = env.spec.source;
      this.#split = src.kind === "stream"
        ? openStreamLog(env.fs, src, offset)
        : await openFileSplit(
          env.fs,
          src,
          this.index,
          this.stage.parallelism,
          offset,
          inputColumns(env.graph, this.stage.index),
        );
    }
  }

  /** Whether the task reads a source split. */
  get isSource(): boolean {
    return this.#split !== undefined;
  }

  /** Whether the task writes the job's output. */
  get isSink(): boolean {
    return this.#isSink;
  }

  /** Records waiting to be processed or sent. */
  get backlog(): number {
    let n = this.#queuedRecords + (this.#aligner?.buffered ?? 0);
    for (const o of this.#outputs) n += o.buffered;
    return n;
  }

  /** Largest uncredited records in flight on any output channel. */
  get maxInFlight(): number {
    return Math.max(0, ...this.#outputs.map((o) => o.maxInFlight));
  }

  /** Starts the task's loop (once). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const loop = this.#split ? this.#runSource() : this.#runInputs();
    loop.catch((e) => this.#fail(e));
  }

  #fail(e: unknown): void {
    if (this.#stopped) return;
    this.stop();
    const env = this.#env;
    const fatal = e instanceof ElasticoreError && e.code === "stream_user_operator";
    env.report("stream.failed", {
      job: env.job,
      attempt: env.attempt,
      task: this.id,
      reason: (e instanceof Error ? e.message : String(e)).slice(0, 1000),
      fatal,
    });
  }

  /** A data message for this task arrived. */
  onData(msg: StreamData): void {
    if (this.#stopped) return;
    this.#queue.push({ kind: "data", msg });
    this.#queuedRecords += batchLength(msg);
    this.#notify();
  }

  /** The receiver `to` granted credit. */
  onCredit(to: string, credits: number): void {
    this.#outputs.find((o) => o.to === to)?.credit(credits);
  }

  /** Checkpoint `id` was triggered (sources inject its barrier). */
  trigger(id: number): void {
    if (!this.#split || this.#done || id <= this.#lastBarrier || this.#barriers.includes(id)) {
      return;
    }
    this.#barriers.push(id);
    this.#notify();
  }

  /** Checkpoint `id` was aborted. */
  abort(id: number): void {
    if (!this.#aligner) return;
    this.#queue.push({ kind: "abort", id });
    this.#notify();
  }

  /** Checkpoint `id` was committed: staged files up to it are no longer reported. */
  committed(id: number): void {
    this.#staged = this.#staged.filter((f) => f.id > id);
  }

  /** Stops the task (no more reports). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const o of this.#outputs) o.close();
    this.#chain.close();
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  async #runSource(): Promise<void> {
    const split = this.#split!;
    while (!this.#stopped) {
      const b = this.#barriers.shift();
      if (b !== undefined) {
        await this.#checkpoint(b);
        continue;
      }
      if (split.done) {
        await this.#finishTask();
        return;
      }
      const recs = await split.next();
      if (recs === null) {
        await this.#flushOutputs();
        await this.#sleep(20);
        continue;
      }
      this.recordsIn += recs.length;
      // A file split has its next chunk at hand: send only full batches until it ends.
      await this.#processAndEmit(recs, this.#env.spec.source.kind === "stream");
    }
  }

  async #runInputs(): Promise<void> {
    const aligner = this.#aligner!;
    while (!this.#stopped) {
      const item = this.#queue.shift();
      if (!item) {
        if (this.#outputs.some((o) => o.buffered > 0)) {
          // Nothing else to do: send the partial batches before waiting.
          await this.#flushOutputs();
          continue;
        }
        await new Promise<void>((r) => (this.#wake = r));
        continue;
      }
      let outs: AlignerOutput<StreamRecord[]>[];
      if (item.kind === "abort") outs = aligner.abort(item.id);
      else {
        const msg = item.msg;
        const n = batchLength(msg);
        this.#queuedRecords -= n;
        const ch = this.#inputs.get(msg.from);
        if (!ch) throw new Error(`${this.id}: data from unknown task ${msg.from}`);
        if (!ch.accept(msg.seq)) {
          throw new Error(`${this.id}: channel from ${msg.from} lost or reordered data`);
        }
        outs = [];
        if (n > 0) {
          const value = batchRecords(msg);
          outs.push(...aligner.push(msg.from, { kind: "record", value }));
        }
        if (msg.barrier !== undefined) {
          outs.push(...aligner.push(msg.from, { kind: "barrier", checkpointId: msg.barrier }));
        }
        if (msg.end) outs.push(...aligner.push(msg.from, { kind: "end" }));
      }
      for (const o of outs) {
        if (this.#stopped) return;
        switch (o.type) {
          case "record":
            this.recordsIn += o.value.length;
            await this.#processAndEmit(o.value, this.#queue.length === 0);
            this.#inputs.get(o.channel)!.processed(o.value.length, this.#queue.length === 0);
            break;
          case "checkpoint":
            await this.#checkpoint(o.checkpointId);
            break;
          case "abort":
            break;
          case "end":
            await this.#finishTask();
            return;
        }
      }
    }
  }

  /** Sends every buffered record, partial batches included. */
  async #flushOutputs(): Promise<void> {
    await Promise.all(this.#outputs.map((o) => o.flush()));
  }

  /** Runs a batch through the chain and emits the outputs; `all`: flush partial batches too. */
  async #processAndEmit(recs: StreamRecord[], all: boolean): Promise<void> {
    let out: StreamRecord[];
    if (this.#chain.inline) {
      out = [];
      this.#chain.processSync(recs, out);
    } else {
      const dead: DeadLetter[] = [];
      out = await this.#chain.process(recs, dead);
      if (dead.length > 0) await this.#deadLetter(dead);
    }
    await this.#emit(out, all);
  }

  async #emit(out: StreamRecord[], all: boolean): Promise<void> {
    this.recordsOut += out.length;
    if (this.#isSink) {
      for (let i = 0; i < out.length; i++) this.#sinkOpen.push(JSON.stringify(out[i]));
      return;
    }
    const outputs = this.#outputs;
    for (let i = 0; i < out.length; i++) outputs[this.#route(out[i])].push(out[i]);
    await Promise.all(outputs.map((o) => o.flush(all)));
  }

  async #deadLetter(dead: DeadLetter[]): Promise<void> {
    const env = this.#env;
    const lines = dead.map((d) =>
      JSON.stringify({
        job: env.job,
        task: this.id,
        module: d.module,
        error: d.error,
        record: d.record,
      }) + "\n"
    ).join("");
    await env.fs.append(jobPaths.deadLetter(env.job), enc.encode(lines));
  }

  async #stage(id: number, tag: string): Promise<void> {
    if (this.#sinkOpen.length === 0) return;
    const env = this.#env;
    const path = jobPaths.staged(env.job, this.id, tag);
    const bytes = enc.encode(this.#sinkOpen.join("\n") + "\n");
    this.#sinkOpen = [];
    await env.fs.write(path, bytes, { overwrite: true });
    this.#staged.push({ id, path, bytes: bytes.length });
  }

  async #checkpoint(id: number): Promise<void> {
    const env = this.#env;
    this.#lastBarrier = Math.max(this.#lastBarrier, id);
    await Promise.all(this.#outputs.map((o) => o.barrier(id)));
    const state: TaskState = {
      task: this.id,
      checkpointId: id,
      operators: await this.#chain.snapshot(),
      offset: this.#split?.offset,
    };
    const handle = jobPaths.state(env.job, id, this.id);
    await env.fs.write(handle, enc.encode(JSON.stringify(state)), { overwrite: true });
    if (this.#isSink) await this.#stage(id, String(id));
    if (this.#stopped) return;
    env.report("stream.checkpointed", {
      job: env.job,
      attempt: env.attempt,
      checkpointId: id,
      task: this.id,
      stateHandle: handle,
      sourceOffsets: this.#split ? { [splitId(this.index)]: this.#split.offset } : undefined,
      staged: [...this.#staged],
    });
  }

  async #finishTask(): Promise<void> {
    const env = this.#env;
    const dead: DeadLetter[] = [];
    const held = await this.#chain.finish(dead);
    if (dead.length > 0) await this.#deadLetter(dead);
    await this.#emit(held, true);
    if (this.#isSink) await this.#stage(FINAL_CHECKPOINT, `final-${env.attempt}`);
    else await Promise.all(this.#outputs.map((o) => o.end()));
    this.#done = true;
    if (this.#stopped) return;
    env.report("stream.task_done", {
      job: env.job,
      attempt: env.attempt,
      task: this.id,
      recordsIn: this.recordsIn,
      recordsOut: this.recordsOut,
      sourceOffsets: this.#split ? { [splitId(this.index)]: this.#split.offset } : undefined,
      staged: [...this.#staged],
    });
  }
}
