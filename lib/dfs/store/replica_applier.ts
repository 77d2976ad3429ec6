/**
 * The replica side of metadata ordering: a state machine that receives a record's ordered
 * ops ({@link MetaOp}, numbered by `appendSeq`) in any order, possibly duplicated, and applies
 * each exactly once, strictly in `appendSeq` order. Ops that arrive early wait in a bounded
 * buffer; ops already applied or already buffered are ignored. Every replica therefore
 * applies the primary's ops in the primary's order and reaches the primary's record.
 *
 * "Already applied" is checked, not assumed: an op numbered like one the replica applied is a
 * duplicate only if it IS that op (its digest matches the op applied under that number, or,
 * for the last one, its chained head matches the record's, see `meta_head.ts`). Anything else
 * (another primary's op under that number, or an op from a primary working from a stale
 * record) is refused with `dfs_meta_conflict`, so such a primary can never count this replica
 * as holding its op.
 *
 * Sans-I/O: deliveries in, applied ops out.
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";
import { applyOp, encodeOp, type FileMeta, type MetaOp } from "../file_meta.ts";
import { chainHead, opDigest } from "../meta_head.ts";

/** What happened to one delivery. */
export interface DeliverResult {
  /** `applied` (it and maybe buffered successors), `buffered` (a gap before it), `duplicate`. */
  status: "applied" | "buffered" | "duplicate";
  /** Ops applied by this delivery, in order. */
  applied: MetaOp[];
  /** A buffered op that turned out malformed when its turn came: dropped, to be re-sent. */
  rejected?: { op: MetaOp; error: Error };
}

/** Options of {@link ReplicaApplier}. */
export interface ReplicaApplierOptions {
  /** How far ahead of the last applied op a delivery may be buffered (default 1024). */
  window?: number;
}

function sameOp(a: MetaOp, b: MetaOp): boolean {
  const x = encodeOp(a);
  const y = encodeOp(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Applies a record's ops exactly once, in `appendSeq` order. */
export class ReplicaApplier {
  #record: FileMeta;
  readonly #buffer = new Map<number, MetaOp>();
  readonly #window: number;
  /** Digests of the ops applied through this applier, by number (the last `window`). */
  readonly #history = new Map<number, string>();

  /** Starts from `record` (its `appendSeq` is the last op applied). */
  constructor(record: FileMeta, opts: ReplicaApplierOptions = {}) {
    this.#record = record;
    this.#window = opts.window ?? 1024;
  }

  /** The record with every op applied so far. */
  get record(): FileMeta {
    return this.#record;
  }

  /** `appendSeq` of the last applied op. */
  get appliedSeq(): number {
    return this.#record.appendSeq;
  }

  /** Number of ops waiting for a gap to fill. */
  get buffered(): number {
    return this.#buffer.size;
  }

  /** Sequence numbers missing before the highest buffered op (to ask the primary again). */
  missing(): number[] {
    const out: number[] = [];
    const max = Math.max(this.appliedSeq, ...this.#buffer.keys());
    for (let s = this.appliedSeq + 1; s < max; s++) if (!this.#buffer.has(s)) out.push(s);
    return out;
  }

  /**
   * Delivers one op. Throws `dfs_meta_backlog` when it is further ahead than the window,
   * `dfs_meta_conflict` when another op with the same number is buffered, and the
   * {@link applyOp} error (the op is dropped, the state unchanged) when it is malformed.
   * An op numbered like an applied one is a `duplicate` only if it is the same op; otherwise,
   * or when that cannot be verified, `dfs_meta_conflict`.
   */
  deliver(op: MetaOp): DeliverResult {
    const applied = this.appliedSeq;
    if (op.seq <= applied) {
      if (this.#isApplied(op)) return { status: "duplicate", applied: [] };
      throw new ElasticoreError(
        "dfs_meta_conflict",
        `${this.#record.path}: op ${op.seq} differs from the op applied under that number ` +
          `(this replica is at ${applied})`,
        { status: 409 },
      );
    }
    const held = this.#buffer.get(op.seq);
    if (held) {
      if (!sameOp(held, op)) {
        throw new ElasticoreError(
          "dfs_meta_conflict",
          `${this.#record.path}: two different ops numbered ${op.seq}`,
          { status: 409 },
        );
      }
      return { status: "duplicate", applied: [] };
    }
    if (op.seq > applied + this.#window) {
      throw new ElasticoreError(
        "dfs_meta_backlog",
        `${this.#record.path}: op ${op.seq} is more than ${this.#window} ahead of ${applied}`,
        { hint: "deliver the missing ops first", status: 503 },
      );
    }
    if (op.seq !== applied + 1) {
      this.#buffer.set(op.seq, op);
      return { status: "buffered", applied: [] };
    }
    this.#apply(op);
    const done = [op];
    for (;;) {
      const next = this.#buffer.get(this.appliedSeq + 1);
      if (!next) break;
      this.#buffer.delete(next.seq);
      try {
        this.#apply(next);
      } catch (e) {
        return { status: "applied", applied: done, rejected: { op: next, error: e as Error } };
      }
      done.push(next);
    }
    return { status: "applied", applied: done };
  }

  #apply(op: MetaOp): void {
    this.#record = applyOp(this.#record, op);
    this.#history.set(op.seq, opDigest(op));
    this.#history.delete(op.seq - this.#window);
  }

  /** True if `op` (numbered at most the applied number) is the op applied under its number. */
  #isApplied(op: MetaOp): boolean {
    const seen = this.#history.get(op.seq);
    if (seen !== undefined) return seen === opDigest(op);
    const rec = this.#record;
    if (op.seq !== rec.appendSeq) return false;
    if (rec.head !== undefined && op.base !== undefined) return chainHead(op.base, op) === rec.head;
    // A record or op without heads (written before they existed): compare the op's effect.
    if (rec.modifiedMs !== op.nowMs) return false;
    const tail = op.kind === "merge" ? rec.blocks.slice(0, op.blocks.length) : op.kind ===
        "overwrite"
      ? rec.blocks
      : rec.blocks.slice(rec.blocks.length - op.blocks.length);
    return tail.length === op.blocks.length &&
      tail.every((b, i) => {
        const o = op.blocks[i];
        return b.id === o.id && b.checksum === o.checksum && b.size === o.size &&
          b.version === o.version;
      });
  }
}
