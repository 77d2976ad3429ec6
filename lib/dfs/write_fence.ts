/**
 * The write fence of a DFS metadata primary: before it acknowledges a mutation, the primary
 * proves that it is on the majority side of any partition, by a confirmation that went
 * through the Raft quorum (a ReadIndex on the masters: the leader answers only after a
 * majority of voters acknowledged its heartbeat in its current term).
 *
 * Two questions are asked of a fence, with different freshness:
 *
 * - {@link WriteFence.confirm}, before an acknowledgement: resolves once a confirmation
 *   *sent after the call* succeeded. The primary calls it after the replicas stored the
 *   change, so a success proves that at some moment after the change was on its RF replicas
 *   this node could reach the quorum: either no partition had started yet (the change was
 *   stored like any other), or this node is on the majority side (and so are the replicas
 *   that answered it). A node cut off with the minority therefore acknowledges nothing.
 *   A cached confirmation would not do here: whatever a minority primary stores after the
 *   cut sits only on minority nodes, which the majority side cannot read, so acknowledging
 *   it on the strength of an earlier confirmation would acknowledge a fork the majority
 *   will write past. Callers that arrive while a round is in flight share the next round:
 *   one round trip serves every batch, on every path, that was stored before it was sent.
 * - {@link WriteFence.check}, before storing: resolves at once while the lease holds (a
 *   confirmation sent less than `leaseMs` ago succeeded, measured on the monotonic clock
 *   from the moment it was sent), and otherwise waits for a fresh one. It stops a node on
 *   the minority side from writing (unacknowledged) changes to its side's replicas once its
 *   lease ran out, so such leftovers are bounded to one lease after the cut; a ring change
 *   ends the lease ({@link WriteFence.expire}). The lease is kept shorter than SWIM's
 *   earliest declaration of a dead member ({@link fenceLeaseMs}), so it runs out before the
 *   other side can have moved the path's placement away from this node.
 *
 * {@link FenceLease} is the arithmetic (pure); {@link QuorumFence} shares rounds, with the
 * round itself and the clock injected; `write_fence_raft.ts` runs the rounds over the Raft
 * masters. {@link LocalFence} confirms without asking anyone: only for a ring that has no
 * Raft masters at all (the in-process test clusters, the DFS-only test fixture and the DFS
 * benchmark), where no quorum exists to ask and no partition is simulated.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import type { SwimConfig } from "../swim/config.ts";

/** Proves, before a mutation is acknowledged, that this node is on the majority side. */
export interface WriteFence {
  /**
   * Resolves once a quorum confirmation sent after this call succeeded; rejects with
   * `dfs_no_quorum` (503) when it failed, or with the signal's reason when aborted.
   */
  confirm(signal?: AbortSignal): Promise<void>;
  /** Resolves at once while the lease holds; otherwise as {@link confirm}. */
  check(signal?: AbortSignal): Promise<void>;
  /** Ends the lease (membership or the ring changed): the next check confirms again. */
  expire(): void;
}

/** Default lease when the SWIM timing allows it, ms. */
export const DEFAULT_LEASE_MS = 2_000;
/** Shortest useful lease, ms: shorter than this and every write waits for a round. */
export const MIN_LEASE_MS = 100;
/** Default time one confirmation round may take before it counts as failed, ms. */
export const DEFAULT_ROUND_TIMEOUT_MS = 3_000;

/** The fence's refusal: no quorum confirmed this node (`dfs_no_quorum`, 503). */
export function noQuorum(why: string): ElasticoreError {
  return new ElasticoreError(
    "dfs_no_quorum",
    `not acknowledged: this node could not confirm it is on the majority side (${why})`,
    {
      hint: "the node may be cut off from the Raft masters; nothing was acknowledged, retry",
      status: 503,
    },
  );
}

/**
 * The earliest time, in ms, after which SWIM can declare a member dead that stopped
 * answering: a member is declared dead only when a suspicion of it timed out, and the
 * suspicion timeout is at least `suspicion_mult · max(1, log10 n) · probe_interval`, so at
 * least `suspicion_mult · probe_interval` at any cluster size (Lifeguard only lengthens it).
 */
export function swimDeadBoundMs(cfg: Pick<SwimConfig, "suspicionMult" | "probeIntervalMs">) {
  return cfg.suspicionMult * cfg.probeIntervalMs;
}

/**
 * The lease for this SWIM timing: `wantMs`, capped at half of {@link swimDeadBoundMs} (the
 * other half is margin for clock rates and scheduling). Throws `dfs_fence_config` when the
 * timing leaves less than {@link MIN_LEASE_MS}.
 */
export function fenceLeaseMs(
  cfg: Pick<SwimConfig, "suspicionMult" | "probeIntervalMs">,
  wantMs = DEFAULT_LEASE_MS,
): number {
  const bound = swimDeadBoundMs(cfg);
  const lease = Math.min(wantMs, Math.floor(bound / 2));
  if (!(lease >= MIN_LEASE_MS)) {
    throw new ElasticoreError(
      "dfs_fence_config",
      `the DFS write lease must be shorter than SWIM's earliest dead declaration ` +
        `(swim.suspicion_mult ${cfg.suspicionMult} × swim.probe_interval_ms ` +
        `${cfg.probeIntervalMs} = ${bound} ms) with margin, which leaves ${lease} ms; ` +
        `at least ${MIN_LEASE_MS} ms are needed`,
      {
        hint: `raise swim.probe_interval_ms or swim.suspicion_mult so their product is at least ${
          2 * MIN_LEASE_MS
        } ms`,
      },
    );
  }
  assertLeaseBound(lease, cfg);
  return lease;
}

/** Throws `dfs_fence_config` unless `leaseMs` is strictly shorter than SWIM's dead bound. */
export function assertLeaseBound(
  leaseMs: number,
  cfg: Pick<SwimConfig, "suspicionMult" | "probeIntervalMs">,
): void {
  const bound = swimDeadBoundMs(cfg);
  if (!(leaseMs > 0 && leaseMs < bound)) {
    throw new ElasticoreError(
      "dfs_fence_config",
      `the DFS write lease (${leaseMs} ms) must be > 0 and shorter than SWIM's earliest ` +
        `dead declaration (${bound} ms)`,
    );
  }
}

/**
 * Lease arithmetic on a monotonic clock (pure: times are passed in). A confirmation counts
 * from the moment it was *sent*: the quorum answered at some moment after that.
 */
export class FenceLease {
  /** Lease length, ms. */
  readonly leaseMs: number;
  /** Send time of the newest successful confirmation. */
  #okSentAt = -Infinity;
  /** Confirmations sent before this time do not hold the lease (see {@link expire}). */
  #notBefore = -Infinity;

  /** A lease of `leaseMs` (> 0). */
  constructor(leaseMs: number) {
    if (!(leaseMs > 0) || !Number.isFinite(leaseMs)) {
      throw new RangeError(`leaseMs must be a positive number, got ${leaseMs}`);
    }
    this.leaseMs = leaseMs;
  }

  /** Records that a confirmation sent at `sentAt` succeeded. */
  confirmed(sentAt: number): void {
    if (sentAt > this.#okSentAt) this.#okSentAt = sentAt;
  }

  /** True if a confirmation sent at or after `t` succeeded. */
  covers(t: number): boolean {
    return this.#okSentAt >= t;
  }

  /** True while the lease holds at `now`: the newest confirmation was sent after `now - leaseMs`. */
  holds(now: number): boolean {
    return this.#okSentAt >= this.#notBefore && now < this.#okSentAt + this.leaseMs;
  }

  /** Ms the lease still holds at `now` (0 when it does not). */
  remainingMs(now: number): number {
    return this.holds(now) ? this.#okSentAt + this.leaseMs - now : 0;
  }

  /** Ends the lease at `now`: only confirmations sent from `now` on hold it again. */
  expire(now: number): void {
    this.#notBefore = now;
  }

  /** Send time of the newest successful confirmation (-Infinity if none). */
  get lastSentAt(): number {
    return this.#okSentAt;
  }
}

/** One confirmation through the quorum; rejects (or honours `signal`) when it cannot. */
export type ConfirmRound = (signal: AbortSignal) => Promise<void>;

/** Options of {@link QuorumFence}. */
export interface QuorumFenceOptions {
  /** Runs one confirmation round. */
  round: ConfirmRound;
  /** Lease length, ms (see {@link fenceLeaseMs}). */
  leaseMs: number;
  /** A round that takes longer fails (default {@link DEFAULT_ROUND_TIMEOUT_MS}). */
  roundTimeoutMs?: number;
  /** Monotonic clock in ms (default `performance.now`). */
  now?: () => number;
  /** Called after each round with its outcome (metrics, logs). */
  onRound?: (ok: boolean, ms: number, error?: unknown) => void;
}

interface Round {
  sentAt: number;
  done: Promise<void>;
}

/**
 * A {@link WriteFence} over an injected confirmation round: at most one round in flight;
 * callers whose needs the in-flight round cannot meet (it was sent before they asked) share
 * the next one, which starts as soon as the in-flight one settles.
 */
export class QuorumFence implements WriteFence {
  /** The lease state. */
  readonly lease: FenceLease;
  readonly #round: ConfirmRound;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #onRound?: (ok: boolean, ms: number, error?: unknown) => void;
  #current: Round | null = null;
  #next: Promise<void> | null = null;
  /** Rounds started so far. */
  rounds = 0;

  /** See {@link QuorumFenceOptions}. */
  constructor(o: QuorumFenceOptions) {
    this.lease = new FenceLease(o.leaseMs);
    this.#round = o.round;
    this.#timeoutMs = o.roundTimeoutMs ?? DEFAULT_ROUND_TIMEOUT_MS;
    this.#now = o.now ?? (() => performance.now());
    this.#onRound = o.onRound;
  }

  /** See {@link WriteFence.confirm}. */
  confirm(signal?: AbortSignal): Promise<void> {
    return withSignal(this.#after(this.#now()), signal);
  }

  /** See {@link WriteFence.check}. */
  check(signal?: AbortSignal): Promise<void> {
    if (this.lease.holds(this.#now())) return Promise.resolve();
    return this.confirm(signal);
  }

  /** See {@link WriteFence.expire}. */
  expire(): void {
    this.lease.expire(this.#now());
  }

  /** A promise of a successful round sent at or after `t`. */
  #after(t: number): Promise<void> {
    if (this.lease.covers(t)) return Promise.resolve();
    const cur = this.#current;
    if (cur === null) return this.#start().done;
    if (cur.sentAt >= t) return cur.done;
    // The round in flight was sent before the caller asked: share the next one. Any round
    // running when it starts began after `cur` settled, hence after every waiter asked.
    this.#next ??= cur.done.then(noop, noop).then(() => {
      this.#next = null;
      return (this.#current ?? this.#start()).done;
    });
    return this.#next;
  }

  #start(): Round {
    const sentAt = this.#now();
    this.rounds++;
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = noQuorum(`no quorum confirmation within ${this.#timeoutMs} ms`);
        ac.abort(e);
        reject(e);
      }, this.#timeoutMs);
    });
    const round: Round = {
      sentAt,
      done: Promise.race([this.#round(ac.signal), timeout]).then(
        () => {
          this.lease.confirmed(sentAt);
          this.#onRound?.(true, this.#now() - sentAt);
        },
        (e) => {
          this.#onRound?.(false, this.#now() - sentAt, e);
          throw e instanceof ElasticoreError && e.code === "dfs_no_quorum"
            ? e
            : noQuorum(e instanceof Error ? e.message : String(e));
        },
      ).finally(() => {
        clearTimeout(timer);
        if (this.#current === round) this.#current = null;
      }),
    };
    round.done.catch(noop);
    this.#current = round;
    return round;
  }
}

/**
 * A fence that confirms without asking anyone. Safe only where there is no Raft quorum to
 * ask and no partition to guard against: a ring with no masters configured (in-process test
 * clusters, the DFS-only fixture, benchmarks). A node with Raft masters must use the
 * Raft-confirmed fence (`startDfs` wires it).
 */
export class LocalFence implements WriteFence {
  /** Resolves at once (or rejects if `signal` was aborted). */
  confirm(signal?: AbortSignal): Promise<void> {
    return signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve();
  }

  /** Resolves at once (or rejects if `signal` was aborted). */
  check(signal?: AbortSignal): Promise<void> {
    return this.confirm(signal);
  }

  /** Nothing to end. */
  expire(): void {}
}

function noop(): void {}

/** `p`, or the signal's reason if it aborts first. */
function withSignal(p: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
