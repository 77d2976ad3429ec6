/**
 * The safety properties of Raft, checked incrementally while a simulation
 * runs: election safety, log matching, leader completeness, state machine
 * safety and "no acknowledged write lost". Each check is cheap enough to
 * run after every simulated event.
 *
 * @module
 */
import type { Raft } from "./raft.ts";
import type { Entry } from "./types.ts";

/** A node as the checks see it. */
export interface CheckedNode {
  /** Node id. */
  readonly id: string;
  /** Its core while up. */
  readonly core: Raft | undefined;
}

const fpCache = new WeakMap<Entry, string>();

interface AckedWrite {
  index: number;
  term: number;
  what: string;
}

/** A fingerprint of an entry's content: kind, length and FNV-1a of the payload. */
export function fingerprint(e: Entry): string {
  let fp = fpCache.get(e);
  if (fp !== undefined) return fp;
  let h = 0x811c9dc5;
  for (const b of e.data) h = Math.imul(h ^ b, 0x01000193);
  fp = `${e.kind}:${e.data.byteLength}:${(h >>> 0).toString(16)}`;
  fpCache.set(e, fp);
  return fp;
}

interface Committed {
  term: number;
  fp: string;
  /** Term of the node that first reported it committed (an upper bound of its commit term). */
  seenInTerm: number;
}

/** Incremental checker of Raft's safety properties. */
export class RaftSafetyChecks {
  #leaders = new Map<number, string>();
  #committed: (Committed | undefined)[] = [];
  #maxCommitted = 0;
  #byIndexTerm = new Map<string, { fp: string; prevTerm: number }>();
  #applied: (string | undefined)[] = [];
  #seen = new Map<string, number>();
  #acked: AckedWrite[] = [];
  #violation: { name: string; detail: string } | undefined;
  /** Leaders elected (distinct terms with a leader). */
  elections = 0;
  /** Changes of the most recent leader. */
  leaderChanges = 0;
  #lastLeader = "";

  /** The first violation found, if any. */
  get violation(): { name: string; detail: string } | undefined {
    return this.#violation;
  }

  /** Highest index known committed. */
  get maxCommitted(): number {
    return this.#maxCommitted;
  }

  #fail(name: string, detail: string): void {
    if (!this.#violation) this.#violation = { name, detail };
  }

  /** Term of the committed entry at `index`, if known. */
  committedTerm(index: number): number | undefined {
    return this.#committed[index]?.term;
  }

  /** Log matching: `entries` about to be persisted by `node` (whose log already holds them). */
  onPersist(node: CheckedNode, entries: Entry[]): void {
    const log = node.core?.log;
    if (!log) return;
    for (const e of entries) {
      const prevTerm = log.term(e.index - 1) ?? -1;
      const key = `${e.index}:${e.term}`;
      const fp = fingerprint(e);
      const known = this.#byIndexTerm.get(key);
      if (!known) this.#byIndexTerm.set(key, { fp, prevTerm });
      else if (
        known.fp !== fp || (prevTerm >= 0 && known.prevTerm >= 0 && known.prevTerm !== prevTerm)
      ) {
        this.#fail(
          "log matching",
          `${node.id} holds entry ${key} (${fp}, prev term ${prevTerm}) but another log holds ` +
            `${known.fp} with prev term ${known.prevTerm}`,
        );
      }
    }
  }

  /** State machine safety: `node` applies `e`. */
  onApply(node: CheckedNode, e: Entry): void {
    const fp = `${e.term}/${fingerprint(e)}`;
    const prev = this.#applied[e.index];
    if (prev === undefined) this.#applied[e.index] = fp;
    else if (prev !== fp) {
      this.#fail(
        "state machine safety",
        `${node.id} applies ${fp} at index ${e.index}; another node applied ${prev}`,
      );
    }
  }

  /** Records a write the client saw acknowledged (entry at `index` of `term`). */
  onAck(index: number, term: number, what: string): void {
    this.#acked.push({ index, term, what });
  }

  /** Runs the checks that look at every node; returns a violation message or undefined. */
  check(nodes: Iterable<CheckedNode>): string | undefined {
    for (const n of nodes) {
      const core = n.core;
      if (!core) continue;
      this.#observeCommit(n, core);
      if (core.role === "leader") this.#observeLeader(n, core);
    }
    if (this.#acked.length > 0) this.#checkAcked();
    const v = this.#violation;
    return v ? `${v.name}: ${v.detail}` : undefined;
  }

  #observeCommit(n: CheckedNode, core: Raft): void {
    const log = core.log;
    const c = log.committed;
    const seen = this.#seen.get(n.id) ?? 0;
    if (c === seen) return;
    this.#seen.set(n.id, c);
    if (c < seen) return;
    for (let i = Math.max(seen + 1, log.firstIndex()); i <= c; i++) {
      const e = log.entry(i)!;
      const fp = fingerprint(e);
      const known = this.#committed[i];
      if (!known) {
        this.#committed[i] = { term: e.term, fp, seenInTerm: core.term };
        if (i > this.#maxCommitted) this.#maxCommitted = i;
      } else if (known.term !== e.term || known.fp !== fp) {
        this.#fail(
          "committed entries agree",
          `${n.id} commits ${e.term}/${fp} at index ${i}; ${known.term}/${known.fp} was committed`,
        );
        return;
      }
    }
  }

  #observeLeader(n: CheckedNode, core: Raft): void {
    const prev = this.#leaders.get(core.term);
    if (prev === n.id) return;
    if (prev !== undefined) {
      this.#fail("election safety", `${prev} and ${n.id} are both leaders of term ${core.term}`);
      return;
    }
    this.#leaders.set(core.term, n.id);
    this.elections++;
    if (n.id !== this.#lastLeader) this.leaderChanges++;
    this.#lastLeader = n.id;
    // Leader completeness: every entry committed in an earlier term is in the new leader's log.
    const log = core.log;
    for (let i = log.firstIndex(); i <= this.#maxCommitted; i++) {
      const c = this.#committed[i];
      if (!c || c.seenInTerm >= core.term) continue;
      const e = log.entry(i);
      if (!e || e.term !== c.term || fingerprint(e) !== c.fp) {
        this.#fail(
          "leader completeness",
          `new leader ${n.id} of term ${core.term} lacks committed entry ${i} (term ${c.term}); ` +
            `it has ${e ? `${e.term}/${fingerprint(e)}` : "nothing"}`,
        );
        return;
      }
    }
  }

  #checkAcked(): void {
    const rest: AckedWrite[] = [];
    for (const a of this.#acked) {
      const c = this.#committed[a.index];
      if (!c) rest.push(a);
      else if (c.term !== a.term) {
        this.#fail(
          "acknowledged write lost",
          `${a.what} was acknowledged at index ${a.index} term ${a.term}, ` +
            `but the committed entry there has term ${c.term}`,
        );
      }
    }
    this.#acked = rest;
  }

  /** Acknowledged writes never seen in the committed log (must be none at the end). */
  unverifiedAcks(): string[] {
    return this.#acked.map((a) => `${a.what}@${a.index}/${a.term}`);
  }
}
