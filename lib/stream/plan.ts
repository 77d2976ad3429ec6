/**
 * Turns a validated {@link JobSpec} into an execution plan: physical stages
 * (operator chains with a parallelism) and how records move between them.
 *
 * Rules: a `keyBy` stage is not a task of its own; it makes the next stage's
 * input hash-partitioned by its column, and keyed operators after it without
 * their own `key` use that column. A stage whose input needs no
 * repartitioning and whose parallelism equals the previous one is chained
 * into the previous physical stage (one task runs both operators, no network
 * hop). Otherwise the records are rebalanced round-robin.
 *
 * @module
 */
import type { JobSpec, StageSpec } from "./spec.ts";

/** How a physical stage receives records from the one before it. */
export type Partitioning =
  | { kind: "forward" }
  | { kind: "rebalance" }
  | { kind: "hash"; column: string };

/** An operator with its key column resolved (`undefined`: not keyed). */
export interface ResolvedOp {
  /** The stage as written in the spec. */
  spec: StageSpec;
  /** Index of the stage in `spec.stages`. */
  index: number;
  /** Key column used by keyed operators. */
  key: string | undefined;
}

/** One physical stage: a chain of operators run by `parallelism` tasks. */
export interface PlannedStage {
  /** Operators of the chain, in order. */
  ops: ResolvedOp[];
  /** Number of parallel tasks. */
  parallelism: number;
  /** How this stage's input is partitioned. */
  input: Partitioning;
}

/** The plan of a job. */
export interface JobPlan {
  /** Physical stages in pipeline order. */
  stages: PlannedStage[];
}

/** Builds the plan of a validated spec. */
export function planJob(spec: JobSpec): JobPlan {
  const stages: PlannedStage[] = [];
  let key: string | undefined;
  let pendingHash: string | undefined;
  spec.stages.forEach((s, index) => {
    if (s.op === "keyBy") {
      key = s.column;
      pendingHash = s.column;
      return;
    }
    const own = "key" in s && typeof s.key === "string" ? s.key : undefined;
    const op: ResolvedOp = { spec: s, index, key: own ?? key };
    const last = stages[stages.length - 1];
    if (pendingHash === undefined && last && last.parallelism === s.parallelism) {
      last.ops.push(op);
      return;
    }
    const input: Partitioning = pendingHash !== undefined
      ? { kind: "hash", column: pendingHash }
      : { kind: "rebalance" };
    stages.push({ ops: [op], parallelism: s.parallelism, input });
    pendingHash = undefined;
  });
  return { stages };
}

/** FNV-1a 32-bit hash of a string's UTF-16 code units (stable across processes). */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The partition (0..n-1) a key goes to. */
export function partitionOf(key: string, n: number): number {
  return n <= 1 ? 0 : hashKey(key) % n;
}
