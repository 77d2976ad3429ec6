/**
 * The operators one task runs, as segments: runs of built-in operators are
 * one {@link OperatorChain} (executed inline), each user operator runs in
 * its own sandbox ({@link SandboxedOperator}). Records go through the
 * segments batch by batch; state is snapshotted and restored segment by
 * segment. Records a user operator failed on are returned as dead letters
 * (or fail the task when the stage says `onError = "fail"`).
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";
import { OperatorChain } from "../operators/chain.ts";
import type { SnapshotValue } from "../operators/types.ts";
import type { ResolvedOp } from "../plan.ts";
import type { StreamRecord } from "../record.ts";
import { SandboxedOperator } from "./sandbox.ts";

/** A record a user operator could not process. */
export interface DeadLetter {
  /** The module's DFS path. */
  module: string;
  /** The error. */
  error: string;
  /** The input record. */
  record: StreamRecord;
}

type Segment =
  | { kind: "inline"; chain: OperatorChain }
  | { kind: "user"; op: SandboxedOperator; module: string; failOnError: boolean };

/** Loads a user module's source by its DFS path. */
export type ModuleLoader = (path: string) => Promise<Uint8Array>;

/** See the module documentation. */
export class TaskChain {
  readonly #segments: Segment[];

  private constructor(segments: Segment[]) {
    this.#segments = segments;
  }

  /** Builds the segments of `ops`, starting one sandbox per user operator. */
  static async build(
    ops: readonly ResolvedOp[],
    loadModule: ModuleLoader,
    timeoutMs?: number,
  ): Promise<TaskChain> {
    const segments: Segment[] = [];
    let run: ResolvedOp[] = [];
    const flush = () => {
      if (run.length > 0) segments.push({ kind: "inline", chain: OperatorChain.fromOps(run) });
      run = [];
    };
    try {
      for (const o of ops) {
        const s = o.spec;
        if (s.op !== "user") {
          run.push(o);
          continue;
        }
        flush();
        const source = await loadModule(s.module);
        const op = await SandboxedOperator.load(source, {
          name: s.module,
          params: s.args,
          key: o.key,
          timeoutMs,
        });
        segments.push({ kind: "user", op, module: s.module, failOnError: s.onError === "fail" });
      }
      flush();
    } catch (e) {
      for (const seg of segments) if (seg.kind === "user") seg.op.close();
      throw e;
    }
    return new TaskChain(segments);
  }

  /** True when every operator runs inline (no sandbox round trips). */
  get inline(): boolean {
    return this.#segments.every((s) => s.kind === "inline");
  }

  /** Runs inline-only chains synchronously, appending outputs to `out`. */
  processSync(recs: readonly StreamRecord[], out: StreamRecord[]): void {
    if (this.#segments.length === 0) {
      for (let i = 0; i < recs.length; i++) out.push(recs[i]);
      return;
    }
    const seg = this.#segments[0];
    if (this.#segments.length !== 1 || seg.kind !== "inline") {
      throw new RangeError("processSync needs an inline chain");
    }
    seg.chain.processAll(recs, out);
  }

  /** Runs a batch through every segment. */
  async process(
    recs: readonly StreamRecord[],
    dead: DeadLetter[],
  ): Promise<StreamRecord[]> {
    let cur: readonly StreamRecord[] = recs;
    for (const seg of this.#segments) {
      if (cur.length === 0) return [];
      cur = await this.#run(seg, cur, dead);
    }
    return cur === recs ? [...recs] : cur as StreamRecord[];
  }

  async #run(
    seg: Segment,
    recs: readonly StreamRecord[],
    dead: DeadLetter[],
  ): Promise<StreamRecord[]> {
    if (seg.kind === "inline") {
      const out: StreamRecord[] = [];
      seg.chain.processAll(recs, out);
      return out;
    }
    const r = await seg.op.processBatch(recs);
    for (const e of r.errors) {
      if (seg.failOnError) {
        throw new ElasticoreError(
          "stream_user_operator",
          `user operator ${seg.module}: process threw: ${e.message}`,
          { hint: 'fix the module, or set onError = "deadletter" on the stage' },
        );
      }
      dead.push({ module: seg.module, error: e.message, record: recs[e.index] });
    }
    return r.out;
  }

  /** End of input: flushes held records (open windows) through the rest of the chain. */
  async finish(dead: DeadLetter[]): Promise<StreamRecord[]> {
    let cur: StreamRecord[] = [];
    for (const seg of this.#segments) {
      if (seg.kind === "inline") {
        const out: StreamRecord[] = [];
        seg.chain.processAll(cur, out);
        for (const r of seg.chain.finish()) out.push(r);
        cur = out;
      } else if (cur.length > 0) cur = await this.#run(seg, cur, dead);
    }
    return cur;
  }

  /** Every operator's state, in chain order. */
  async snapshot(): Promise<SnapshotValue[]> {
    const out: SnapshotValue[] = [];
    for (const seg of this.#segments) {
      if (seg.kind === "inline") out.push(...seg.chain.onBarrier(0).operators);
      else out.push(await seg.op.snapshot());
    }
    return out;
  }

  /** Restores a snapshot made by {@link snapshot} of a chain of the same shape. */
  async restore(states: readonly SnapshotValue[]): Promise<void> {
    let at = 0;
    for (const seg of this.#segments) {
      if (seg.kind === "inline") {
        const n = seg.chain.operators.length;
        seg.chain.restore({ checkpointId: 0, operators: states.slice(at, at + n) });
        at += n;
      } else {
        if (at >= states.length) throw new RangeError("snapshot has too few operator states");
        await seg.op.restore(states[at++]);
      }
    }
    if (at !== states.length) throw new RangeError("snapshot has too many operator states");
  }

  /** Stops the sandboxes. */
  close(): void {
    for (const seg of this.#segments) if (seg.kind === "user") seg.op.close();
  }
}
