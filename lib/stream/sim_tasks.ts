/**
 * Task runtimes used by the stream simulation: FIFO data channels over the
 * lossy simulated network (sequence numbers restore order and drop
 * duplicates), sources that replay from offsets, and operator tasks that run
 * a barrier aligner, an operator chain and, in the last stage, a
 * transactional sink.
 *
 * @module
 */
import type { StreamRecord } from "./record.ts";
import { partitionOf } from "./plan.ts";
import { BarrierAligner, type ChannelItem } from "./checkpoint/aligner.ts";
import { TransactionalSink } from "./checkpoint/sink.ts";
import type { ChainSnapshot, OperatorChain } from "./operators/chain.ts";

/** Messages of the simulated job. */
export type SimMsg =
  | { t: "data"; attempt: number; seq: number; items: ChannelItem<StreamRecord>[] }
  | { t: "trigger"; attempt: number; id: number }
  | {
    t: "ack";
    attempt: number;
    id: number;
    task: string;
    handle: string;
    offsets?: Record<string, number>;
  }
  | { t: "abort"; attempt: number; id: number }
  | { t: "commit"; id: number };

/** What tasks need from the simulation driver. */
export interface TaskEnv {
  /** Current attempt (restore generation); messages of other attempts are dropped. */
  attempt(): number;
  /** Sends a message over the simulated network. */
  send(from: string, to: string, msg: SimMsg): void;
  /** Durable state store (models the DFS): handle → snapshot. */
  store: Map<string, unknown>;
  /** Probability that a barrier is lost on one data channel. */
  barrierLoss: number;
  /** Random draw in [0, 1). */
  random(): number;
  /** Commit sink output at the barrier instead of on completion (at-least-once; for tests). */
  eagerCommit: boolean;
  /** Counts an event in the report. */
  count(name: string): void;
}

/** Sending and receiving halves of a task's FIFO channels. */
class Channels {
  #sendSeq = new Map<string, number>();
  #recvNext = new Map<string, number>();
  #recvBuf = new Map<string, Map<number, ChannelItem<StreamRecord>[]>>();
  #outBuf = new Map<string, ChannelItem<StreamRecord>[]>();

  reset(): void {
    this.#sendSeq.clear();
    this.#recvNext.clear();
    this.#recvBuf.clear();
    this.#outBuf.clear();
  }

  queue(to: string, item: ChannelItem<StreamRecord>): void {
    let b = this.#outBuf.get(to);
    if (!b) this.#outBuf.set(to, b = []);
    b.push(item);
  }

  flush(from: string, env: TaskEnv): void {
    for (const [to, items] of this.#outBuf) {
      if (items.length === 0) continue;
      const seq = this.#sendSeq.get(to) ?? 0;
      this.#sendSeq.set(to, seq + 1);
      env.send(from, to, { t: "data", attempt: env.attempt(), seq, items });
    }
    this.#outBuf.clear();
  }

  /** Accepts a data message; returns the batches now deliverable in order. */
  receive(from: string, seq: number, items: ChannelItem<StreamRecord>[]) {
    const next = this.#recvNext.get(from) ?? 0;
    const out: ChannelItem<StreamRecord>[][] = [];
    if (seq < next) return out;
    let buf = this.#recvBuf.get(from);
    if (!buf) this.#recvBuf.set(from, buf = new Map());
    buf.set(seq, items);
    let n = next;
    while (buf.has(n)) {
      out.push(buf.get(n)!);
      buf.delete(n);
      n++;
    }
    this.#recvNext.set(from, n);
    return out;
  }
}

/** A source task reading its split of the input log from an offset. */
export class SourceTask {
  readonly #ch = new Channels();
  /** Records read so far (the source offset). */
  offset = 0;
  #lastTriggered = 0;

  /** `outputs` are the first stage's tasks, partitioned by `keyField`. */
  constructor(
    readonly id: string,
    readonly split: readonly StreamRecord[],
    readonly outputs: readonly string[],
    readonly keyField: string,
    readonly env: TaskEnv,
  ) {}

  /** True once every record was emitted. */
  get exhausted(): boolean {
    return this.offset >= this.split.length;
  }

  /** Emits up to `n` records. */
  emit(n: number): void {
    const end = Math.min(this.split.length, this.offset + n);
    for (; this.offset < end; this.offset++) {
      const r = this.split[this.offset];
      const to = this.outputs[partitionOf(String(r[this.keyField]), this.outputs.length)];
      this.#ch.queue(to, { kind: "record", value: r });
    }
    this.#ch.flush(this.id, this.env);
  }

  /** Coordinator trigger: snapshot the offset, inject the barrier, ack. */
  onTrigger(id: number): void {
    if (id <= this.#lastTriggered) return;
    this.#lastTriggered = id;
    for (const to of this.outputs) {
      if (this.env.random() < this.env.barrierLoss) {
        this.env.count("barriersLost");
        continue;
      }
      this.#ch.queue(to, { kind: "barrier", checkpointId: id });
    }
    this.#ch.flush(this.id, this.env);
    const handle = `${this.id}@${id}`;
    this.env.store.set(handle, { offset: this.offset });
    this.env.send(this.id, "coord", {
      t: "ack",
      attempt: this.env.attempt(),
      id,
      task: this.id,
      handle,
      offsets: { [this.id]: this.offset },
    });
  }

  /** Rolls back to a source offset (a new attempt). */
  restore(offset: number): void {
    this.#ch.reset();
    this.offset = offset;
    this.#lastTriggered = 0;
  }
}

/** An operator task: aligner + chain, forwarding downstream or into a sink. */
export class OperatorTask {
  readonly #ch = new Channels();
  readonly #aligner: BarrierAligner<StreamRecord>;
  #chain: OperatorChain;
  /** The transactional sink (last stage only); durable across crashes. */
  readonly sink: TransactionalSink<StreamRecord> | undefined;

  /** `outputs` empty means this task is a sink task. */
  constructor(
    readonly id: string,
    readonly inputs: readonly string[],
    readonly outputs: readonly string[],
    readonly keyField: string,
    readonly makeChain: () => OperatorChain,
    readonly env: TaskEnv,
  ) {
    this.#aligner = new BarrierAligner(inputs);
    this.#chain = makeChain();
    this.sink = outputs.length === 0 ? new TransactionalSink() : undefined;
  }

  /** Handles a data message from an upstream task. */
  onData(from: string, seq: number, items: ChannelItem<StreamRecord>[]): void {
    for (const batch of this.#ch.receive(from, seq, items)) {
      for (const item of batch) this.#apply(this.#aligner.push(from, item));
    }
    this.#ch.flush(this.id, this.env);
  }

  /** The coordinator aborted a checkpoint. */
  onAbort(id: number): void {
    this.#apply(this.#aligner.abort(id));
    this.#ch.flush(this.id, this.env);
  }

  /** A checkpoint completed: commit the sink's staged output. */
  onCommit(id: number): void {
    this.sink?.commit(id);
  }

  #apply(outs: ReturnType<BarrierAligner<StreamRecord>["push"]>): void {
    for (const o of outs) {
      if (o.type === "record") {
        for (const r of this.#chain.process(o.value)) {
          if (this.sink) this.sink.write(r);
          else {
            const k = String(r[this.keyField]);
            this.#ch.queue(this.outputs[partitionOf(k, this.outputs.length)], {
              kind: "record",
              value: r,
            });
          }
        }
      } else if (o.type === "checkpoint") {
        const id = o.checkpointId;
        const handle = `${this.id}@${id}`;
        this.env.store.set(handle, structuredClone(this.#chain.onBarrier(id)));
        if (this.sink) {
          this.sink.preCommit(id);
          if (this.env.eagerCommit) this.sink.commit(id);
        }
        for (const to of this.outputs) {
          if (this.env.random() < this.env.barrierLoss) {
            this.env.count("barriersLost");
            continue;
          }
          this.#ch.queue(to, { kind: "barrier", checkpointId: id });
        }
        this.env.send(this.id, "coord", {
          t: "ack",
          attempt: this.env.attempt(),
          id,
          task: this.id,
          handle,
        });
      } else if (o.type === "abort") {
        this.env.count("alignmentsAborted");
      }
    }
  }

  /** Rolls back to a checkpoint's state (`undefined`: fresh state). */
  restore(handle: string | undefined, checkpointId: number): void {
    this.#ch.reset();
    this.#aligner.reset();
    this.#chain = this.makeChain();
    if (handle !== undefined) {
      const snap = this.env.store.get(handle);
      if (snap === undefined) throw new Error(`state ${handle} missing from the store`);
      this.#chain.restore(structuredClone(snap) as ChainSnapshot);
    }
    if (this.sink) {
      this.sink.restore(checkpointId);
      if (checkpointId > 0) this.sink.commit(checkpointId);
    }
  }
}
