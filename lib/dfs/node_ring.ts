/**
 * The ring half of a DFS node's I/O shell: drives the sans-I/O `RingNode` with ring messages
 * from the RPC layer and ticks from a real timer, sends its messages, feeds it membership
 * events, and answers placement questions: the replica candidates of a key come from the
 * local view when it knows them exactly (the key falls in this node's range or among its
 * successors) and from a Chord lookup otherwise (cached until the ring changes).
 *
 * Liveness: nodes reported dead are skipped; nodes that failed to answer an RPC are
 * suspected for a few seconds and placed after the live ones.
 *
 * @module
 */
import type { RingMessage } from "../../proto/dfs_ring.ts";
import type { Rpc } from "../transport/rpc.ts";
import type { PeerAddress } from "../transport/types.ts";
import { unavailable } from "./node_errors.ts";
import type { RingSide } from "./node_repair.ts";
import { inOpenClosed, type RingId, ringIdOf } from "./ring/id.ts";
import { sortByRingId, trueSuccessors } from "./ring/invariants.ts";
import { RingNode } from "./ring/node.ts";
import type { LookupResult } from "./ring/types.ts";

/**
 * How long a member declared dead keeps its place among the quorum owners of its keys
 * ({@link RingLocator.quorumOwners}): a crashed node that restarts within it finds its
 * metadata still counted; one gone for longer is replaced (one change of the owner set).
 */
export const OWNER_GRACE_MS = 10 * 60_000;

/** How long a node that failed an RPC is placed last. */
const SUSPECT_MS = 5000;
/** How long a lookup result is reused (it is also dropped on every ring change). */
const LOOKUP_TTL_MS = 2000;
/** Placement attempts while the ring converges (two ticks apart). */
const LOCATE_RETRIES = 20;
/** Lookups that take longer fail. */
const LOOKUP_TIMEOUT_MS = 5000;

/** Options of {@link RingLocator}. */
export interface RingLocatorOptions {
  /** This node. */
  self: string;
  /** Replication factor. */
  rf: number;
  /** The RPC layer ring messages travel on. */
  rpc: Rpc;
  /** Milliseconds per tick. */
  tickMs: number;
  /** Called when neighbours or membership changed. */
  onChange: () => void;
  /** Told when this node leaves the ring (every successor failed) and when it is back. */
  onStatus?: (event: "alone" | "joined", detail: string) => void;
}

/** See the module documentation. */
export class RingLocator implements RingSide {
  /** The ring core. */
  readonly core: RingNode;
  readonly #o: RingLocatorOptions;
  readonly #members = new Map<string, PeerAddress>();
  readonly #dead = new Set<string>();
  /** When each member now dead was declared dead. */
  readonly #deadSince = new Map<string, number>();
  /** Members that handed their metadata off and left: owners of nothing from then on. */
  readonly #departed = new Set<string>();
  /** The quorum members sorted by ring id, until a member joins or a grace ends. */
  #quorum: { sorted: string[]; until: number } | undefined;
  readonly #suspects = new Map<string, number>();
  readonly #lookups = new Map<number, (r: LookupResult) => void>();
  readonly #cache = new Map<RingId, { list: string[]; until: number }>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Creates the shell; {@link start} enters the ring. */
  constructor(o: RingLocatorOptions) {
    this.#o = o;
    // Lenient timeouts: real failures arrive from SWIM (memberDead); a slow, loaded node
    // must not be dropped from successor lists by a few late replies.
    this.core = new RingNode({
      self: o.self,
      successors: o.rf + 3,
      requestTimeoutTicks: 5,
      successorAttempts: 3,
    });
  }

  /** Enters the ring (see `DfsStartOptions`) and starts ticking. */
  start(members: Record<string, PeerAddress>, join: boolean): void {
    this.#quorum = undefined;
    for (const [id, addr] of Object.entries(members)) {
      if (id !== this.#o.self) {
        this.#members.set(id, addr);
        this.#o.rpc.addPeer(id, addr);
      }
    }
    const others = [...this.#members.keys()];
    if (others.length === 0) this.core.create();
    else if (join) this.core.join(others[0]);
    else this.core.bootstrap([this.#o.self, ...others]);
    this.#flush();
    this.#timer = setInterval(() => {
      this.core.tick();
      this.#flush();
    }, this.#o.tickMs);
  }

  /** Stops ticking. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const done of this.#lookups.values()) {
      done({ kind: "lookup", lookup: -1, key: 0n, ok: false } as LookupResult);
    }
    this.#lookups.clear();
  }

  /** Delivers a ring message from `from`. */
  step(from: string, msg: RingMessage): void {
    if (this.#dead.has(from)) return;
    this.core.step(from, msg);
    this.#flush();
  }

  /** `id` joined at `addr`. */
  memberJoined(id: string, addr: PeerAddress): void {
    if (!this.#members.has(id)) this.#quorum = undefined;
    this.#members.set(id, addr);
    if (this.#departed.delete(id)) this.#quorum = undefined;
    this.#dead.delete(id);
    this.#deadSince.delete(id);
    this.#suspects.delete(id);
    this.#o.rpc.addPeer(id, addr);
    if (this.core.status === "idle") this.core.join(id);
    else this.core.onMemberJoined(id);
    this.#changed();
    this.#flush();
  }

  /** `id` is dead. */
  memberDead(id: string): void {
    this.#dead.add(id);
    if (!this.#deadSince.has(id)) this.#deadSince.set(id, Date.now());
    this.core.onMemberDead(id);
    this.#changed();
    this.#flush();
  }

  /**
   * `id` handed its metadata records to the owners that replace it and left
   * (`node_handoff.ts`): it is dead, and it leaves the quorum owners at once instead of after
   * {@link OWNER_GRACE_MS}, so a second failure among its keys' other owners does not leave
   * them without a majority. Safe only because every record it held is on its replacements.
   */
  memberDeparted(id: string): void {
    if (id === this.#o.self) return;
    this.#departed.add(id);
    this.#quorum = undefined;
    this.memberDead(id);
  }

  /** Suspects `id` for a while (it failed to answer). */
  suspect(id: string): void {
    if (id !== this.#o.self) this.#suspects.set(id, Date.now() + SUSPECT_MS);
  }

  /** `id` answered: it is no longer suspected. */
  trust(id: string): void {
    this.#suspects.delete(id);
  }

  #isSuspect(id: string): boolean {
    const until = this.#suspects.get(id);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.#suspects.delete(id);
    return false;
  }

  /** Whether `id` was reported dead (and has not joined since). */
  isDead(id: string): boolean {
    return this.#dead.has(id);
  }

  /** Members not reported dead, this node included. */
  liveMembers(): string[] {
    return [this.#o.self, ...[...this.#members.keys()].filter((id) => !this.#dead.has(id))];
  }

  /** The predecessor (RingSide). */
  predecessor(): string | null {
    return this.core.predecessor();
  }

  /** Live successors (RingSide). */
  liveSuccessors(): string[] {
    return this.core.successors().filter((id) => !this.#dead.has(id) && !this.#isSuspect(id));
  }

  /** Whether the node is a ring member (RingSide). */
  isMember(): boolean {
    return this.core.status === "member";
  }

  #changed(): void {
    this.#cache.clear();
    this.#o.onChange();
  }

  #flush(): void {
    for (const e of this.core.ready()) {
      switch (e.kind) {
        case "send":
          if (!this.#dead.has(e.to)) {
            this.#o.rpc.notify(e.to, e.msg.type, e.msg.body, { deadlineMs: 1000 }).catch(() => {});
          }
          break;
        case "lookup": {
          const done = this.#lookups.get(e.lookup);
          this.#lookups.delete(e.lookup);
          done?.(e);
          break;
        }
        case "joined":
          this.#o.onStatus?.("joined", `through ${e.successor}`);
          this.#changed();
          break;
        case "neighbors":
          this.#changed();
          break;
        case "alone":
          this.#o.onStatus?.("alone", "every successor failed; rejoining");
          break;
      }
    }
  }

  /** The replica list of `key` from the local view, when it is exact. */
  #local(key: RingId, want: number): string[] | null {
    const self = this.#o.self;
    const selfRid = ringIdOf(self);
    const pred = this.core.predecessor();
    const succs = this.core.successors();
    if (succs.length === 0) return pred === null ? [self] : null;
    // The successor list covers every live member: the ring is this node and its successors.
    const all = succs.length + 1 >= this.liveMembers().length;
    if (pred !== null && inOpenClosed(key, ringIdOf(pred), selfRid)) return [self, ...succs];
    let prev = selfRid;
    for (let i = 0; i < succs.length; i++) {
      const s = ringIdOf(succs[i]);
      if (inOpenClosed(key, prev, s)) {
        if (all) return [...succs.slice(i), self, ...succs.slice(0, i)];
        const list = succs.slice(i);
        return list.length >= want ? list : null;
      }
      prev = s;
    }
    if (all) return [self, ...succs];
    return null;
  }

  #lookup(key: RingId): Promise<string[]> {
    const cached = this.#cache.get(key);
    if (cached && cached.until > Date.now()) return Promise.resolve(cached.list);
    const { promise, resolve, reject } = Promise.withResolvers<string[]>();
    const timer = setTimeout(() => {
      this.#lookups.delete(id);
      reject(unavailable(`ring lookup of ${key.toString(16)} timed out`));
    }, LOOKUP_TIMEOUT_MS);
    const id = this.core.lookup(key);
    this.#lookups.set(id, (r) => {
      clearTimeout(timer);
      if (!r.ok) {
        reject(unavailable(`ring lookup of ${key.toString(16)} failed`));
        return;
      }
      this.#cache.set(key, { list: r.replicas, until: Date.now() + LOOKUP_TTL_MS });
      resolve(r.replicas);
    });
    this.#flush();
    return promise;
  }

  /** The live replica candidates of `key` (see `NodeContext.locate`). */
  async locate(key: RingId, extra = 0): Promise<string[]> {
    const need = Math.min(this.#o.rf, this.liveMembers().length);
    for (let attempt = 0;; attempt++) {
      const list = await this.#locateOnce(key, extra);
      // Fewer candidates than live members allow: the ring is still converging (a join or
      // a failure); wait for maintenance rounds to repair it, up to a few seconds.
      if (list.length >= need || attempt >= LOCATE_RETRIES) return list;
      this.#cache.delete(key);
      await new Promise((r) => setTimeout(r, this.#o.tickMs * 2));
    }
  }

  /**
   * The RF quorum owners of `key`: its first RF successors in ring order among every member
   * known, dead ones included until {@link OWNER_GRACE_MS} after they were declared dead. The
   * set does not move when a member crashes, pauses or is cut off, so a majority of it read
   * and a majority of it written always meet (`node_meta_sync.ts`); a cut-off primary cannot
   * form one with fall-back nodes.
   */
  quorumOwners(key: RingId): string[] {
    const now = Date.now();
    if (!this.#quorum || now >= this.#quorum.until) {
      let until = Infinity;
      const ids = [this.#o.self];
      for (const id of this.#members.keys()) {
        if (this.#departed.has(id)) continue;
        const since = this.#deadSince.get(id);
        if (since !== undefined && now - since >= OWNER_GRACE_MS) continue;
        if (since !== undefined) until = Math.min(until, since + OWNER_GRACE_MS);
        ids.push(id);
      }
      this.#quorum = { sorted: sortByRingId(ids), until };
    }
    return trueSuccessors(this.#quorum.sorted, key, this.#o.rf);
  }

  /**
   * The quorum owners `key` would have without `id`: where `id` hands its copy of the key's
   * record when it leaves (`node_handoff.ts`).
   */
  quorumOwnersWithout(key: RingId, id: string): string[] {
    this.quorumOwners(key); // refreshes the sorted set
    const sorted = this.#quorum!.sorted.filter((x) => x !== id);
    return trueSuccessors(sorted, key, this.#o.rf);
  }

  /**
   * The RF nodes that own `key` in ring order among members not reported dead, whether or not
   * this node suspects them (a suspect may still hold the newest copy; see `readMeta`).
   */
  async owners(key: RingId): Promise<string[]> {
    return await this.#locateOnce(key, 0, true);
  }

  async #locateOnce(key: RingId, extra: number, keepSuspects = false): Promise<string[]> {
    const want = this.#o.rf + extra;
    if (this.core.status !== "member") {
      throw unavailable(`${this.#o.self} has not joined the ring yet`);
    }
    const list = this.#local(key, want) ?? await this.#lookup(key);
    const seen = new Set<string>();
    const live: string[] = [];
    const later: string[] = [];
    for (const id of list) {
      if (seen.has(id) || this.#dead.has(id)) continue;
      seen.add(id);
      (!keepSuspects && this.#isSuspect(id) ? later : live).push(id);
    }
    return [...live, ...later].slice(0, want);
  }
}
