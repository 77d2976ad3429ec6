/**
 * Maps the Raft core's persistent state to the write-ahead log and back:
 * entry kinds to WAL record types, and the snapshot's configuration
 * (voters, learners) plus state-machine image into the WAL snapshot blob.
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import { ElasticoreError } from "../../errors.ts";
import type { WalEntry } from "../wal/records.ts";
import type { WalSnapshot, WalState } from "../wal/wal.ts";
import type { Entry, Snapshot, StorageState } from "../types.ts";
import { NONE } from "../types.ts";

const KIND_CODE = { normal: 0, conf: 1 } as const;

/** A core entry as a WAL entry. */
export function toWalEntry(e: Entry): WalEntry {
  return { index: e.index, term: e.term, type: KIND_CODE[e.kind], data: e.data };
}

/** A WAL entry as a core entry. */
export function fromWalEntry(e: WalEntry): Entry {
  if (e.type !== 0 && e.type !== 1) {
    throw new ElasticoreError("wal_corrupt", `entry ${e.index} has unknown kind ${e.type}`);
  }
  return { index: e.index, term: e.term, kind: e.type === 0 ? "normal" : "conf", data: e.data };
}

/** A core snapshot as a WAL snapshot (configuration folded into the blob). */
export function toWalSnapshot(s: Snapshot): WalSnapshot {
  return {
    index: s.index,
    term: s.term,
    data: encode({ voters: s.voters, learners: s.learners, data: s.data }),
  };
}

/** A WAL snapshot as a core snapshot. */
export function fromWalSnapshot(w: WalSnapshot): Snapshot {
  const v = decode(w.data) as { voters?: unknown; learners?: unknown; data?: unknown };
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === "string");
  if (!strings(v.voters) || !strings(v.learners) || !(v.data instanceof Uint8Array)) {
    throw new ElasticoreError("wal_corrupt", `snapshot ${w.index} has a malformed header`);
  }
  return {
    index: w.index,
    term: w.term,
    voters: v.voters as string[],
    learners: v.learners as string[],
    data: v.data,
  };
}

/**
 * The state a core starts from: what the WAL replayed, or, on a fresh node,
 * an index-0 snapshot holding the bootstrap configuration (`voters`, empty
 * for a node that will join as a learner).
 */
export function storageStateFrom(wal: WalState, bootstrapVoters: string[]): StorageState {
  const snapshot: Snapshot = wal.snapshot
    ? fromWalSnapshot(wal.snapshot)
    : { index: 0, term: 0, voters: bootstrapVoters, learners: [], data: new Uint8Array(0) };
  return {
    hardState: wal.hardState.term === 0 && wal.hardState.vote === ""
      ? { term: wal.hardState.term, vote: NONE, commit: wal.hardState.commit }
      : wal.hardState,
    snapshot,
    entries: wal.entries.map(fromWalEntry),
  };
}
