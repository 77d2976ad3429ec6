/**
 * Identity of DFS metadata histories: every record carries a `head`, a hash chained over
 * its history, and every ordered op carries the `base` head it applies to.
 *
 * - A record that starts a history (a created or overwritten-by-put file, a tombstone) has
 *   `head = H("new" | record without head)`.
 * - Applying op `o` to a record with head `h` gives `head = H(h | digest(o))`, where the digest
 *   covers every field of the op but `base`.
 *
 * So two records with equal `(version, appendSeq)` are the same record exactly when their
 * heads are equal, and a replica can tell whether an op numbered like one it already applied
 * is that same op (same base, same content) or a conflicting one ordered by another primary
 * (or by a primary working from a stale record). Records written before heads existed have
 * none; they are compared by content.
 *
 * Pure functions, no I/O.
 *
 * @module
 */
import { encode } from "@msgpack/msgpack";
import { sha256Hex } from "./store/checksum.ts";

/** The fields of an op that identify it (everything but `base`). */
interface OpLike {
  seq: number;
  kind: string;
  blocks: readonly { id: string; size: number; checksum: string; version: number }[];
  covered: number;
  nowMs: number;
  base?: string;
}

/** What a record's head is computed from. */
interface RecordLike {
  head?: string;
  confirmed?: unknown;
  version: number;
  appendSeq: number;
}

const encoder = new TextEncoder();

/** The digest of an op: SHA-256 over every field but `base` (hex). */
export function opDigest(op: OpLike): string {
  const { base: _base, ...rest } = op;
  return sha256Hex(encode(rest));
}

/** The head of the record reached by applying `op` to a record whose head is `base`. */
export function chainHead(base: string | undefined, op: OpLike): string {
  return sha256Hex(encoder.encode(`${base ?? ""}|${opDigest(op)}`));
}

/**
 * The head of a record that starts a history: a hash of its content (head excluded, and its
 * `confirmed` point, which is a property of the history, not content: `meta_order.ts`).
 */
export function freshHead<T extends RecordLike>(rec: T): string {
  const { head: _head, confirmed: _confirmed, ...rest } = rec;
  return sha256Hex(encode(["new", rest]));
}

/** `rec` with the head of a record that starts a history. */
export function sealed<T extends RecordLike>(rec: T): T {
  return { ...rec, head: freshHead(rec) };
}

/** The identity of a record: its head, or a hash of its content for a record without one. */
export function recordIdentity<T extends RecordLike>(rec: T): string {
  return rec.head ?? freshHead(rec);
}

/** True if `a` and `b` are the same record (same order and identity). */
export function sameRecord<T extends RecordLike>(a: T, b: T): boolean {
  return a.version === b.version && a.appendSeq === b.appendSeq &&
    recordIdentity(a) === recordIdentity(b);
}
