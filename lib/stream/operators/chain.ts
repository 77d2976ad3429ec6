/**
 * The operator chain one task runs: builds operators from resolved stage
 * specs, pushes each record through them in order, and snapshots/restores
 * all of their state together at a checkpoint barrier.
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";
import type { ResolvedOp } from "../plan.ts";
import type { StreamRecord } from "../record.ts";
import { RunningAggregateOperator } from "./aggregate.ts";
import { statelessOperator } from "./stateless.ts";
import { badSnapshot, type Operator, type SnapshotValue } from "./types.ts";
import { type UserModule, UserOperator } from "./user.ts";
import { WindowOperator } from "./window.ts";

/** Resolves a user operator's DFS module path to a loaded module. */
export type UserModuleResolver = (path: string) => UserModule;

/** The state of a whole chain at one checkpoint. */
export interface ChainSnapshot {
  /** The checkpoint this state belongs to. */
  checkpointId: number;
  /** One snapshot per operator, in chain order. */
  operators: SnapshotValue[];
}

/** Builds the operator of one resolved stage. */
export function buildOperator(op: ResolvedOp, resolveUser?: UserModuleResolver): Operator {
  const s = op.spec;
  const stateless = statelessOperator(s);
  if (stateless) return stateless;
  switch (s.op) {
    case "count":
      return new RunningAggregateOperator("count", { key: op.key, as: s.as });
    case "sum":
    case "min":
    case "max":
    case "avg":
      return new RunningAggregateOperator(s.op, { field: s.field, key: op.key, as: s.as });
    case "window":
      return new WindowOperator(s, op.key);
    case "user": {
      if (!resolveUser) {
        throw new ElasticoreError(
          "stream_user_module_missing",
          `stages[${op.index}]: no loader for user module ${s.module}`,
          { hint: "upload the module to the DFS and pass a module resolver" },
        );
      }
      return new UserOperator(resolveUser(s.module), s.module, s.args, op.key);
    }
    default:
      throw new ElasticoreError("stream_bad_stage", `stages[${op.index}]: unknown operator`);
  }
}

/** A chain of operators executed record by record. */
export class OperatorChain {
  readonly #ops: Operator[];

  /** Creates a chain of already built operators. */
  constructor(ops: Operator[]) {
    this.#ops = ops;
  }

  /** Builds the chain of a physical stage's resolved ops. */
  static fromOps(ops: readonly ResolvedOp[], resolveUser?: UserModuleResolver): OperatorChain {
    return new OperatorChain(ops.map((o) => buildOperator(o, resolveUser)));
  }

  /** The operators, in order. */
  get operators(): readonly Operator[] {
    return this.#ops;
  }

  /** Runs one record through the chain; returns the chain's outputs (a new array). */
  process(rec: StreamRecord): StreamRecord[] {
    const out: StreamRecord[] = [];
    this.processInto(rec, out);
    return out;
  }

  /** Runs one record through the chain, appending the outputs to `out`. */
  processInto(rec: StreamRecord, out: StreamRecord[]): void {
    this.#run(0, rec, out);
  }

  #scratch: StreamRecord[][] = [];

  #run(from: number, rec: StreamRecord, out: StreamRecord[]): void {
    const ops = this.#ops;
    if (from === ops.length) {
      out.push(rec);
      return;
    }
    if (from === ops.length - 1) {
      ops[from].process(rec, out);
      return;
    }
    const buf = this.#scratch[from] ?? (this.#scratch[from] = []);
    const mark = buf.length;
    ops[from].process(rec, buf);
    const n = buf.length;
    if (n - mark === 1) {
      const one = buf[mark];
      buf.length = mark;
      this.#run(from + 1, one, out);
      return;
    }
    const outs = buf.splice(mark, n - mark);
    for (let i = 0; i < outs.length; i++) this.#run(from + 1, outs[i], out);
  }

  /** Runs many records, appending all outputs to `out`. */
  processAll(recs: readonly StreamRecord[], out: StreamRecord[]): void {
    for (let i = 0; i < recs.length; i++) this.#run(0, recs[i], out);
  }

  /** End of input: flushes each operator and pushes its output through the rest. */
  finish(): StreamRecord[] {
    let cur: StreamRecord[] = [];
    for (const op of this.#ops) {
      const next: StreamRecord[] = [];
      for (const r of cur) op.process(r, next);
      op.finish(next);
      cur = next;
    }
    return cur;
  }

  /** Snapshots every operator at a barrier. */
  onBarrier(checkpointId: number): ChainSnapshot {
    return { checkpointId, operators: this.#ops.map((o) => o.snapshot()) };
  }

  /** Restores every operator; the snapshot must come from a chain of the same shape. */
  restore(snap: ChainSnapshot): void {
    if (!Array.isArray(snap.operators) || snap.operators.length !== this.#ops.length) {
      throw badSnapshot("chain", `expected ${this.#ops.length} operator states`);
    }
    this.#ops.forEach((o, i) => o.restore(snap.operators[i]));
  }
}
