/**
 * The load balancer's view of its backends, without any I/O: two pools per
 * backend (`read`: `/v1/health` answers 200; `write`: `/v1/health/leader`
 * answers 200, i.e. it is the Raft leader), each with HAProxy-style fall/rise
 * hysteresis, plus the selection policies. Health-check results and passive
 * observations are fed in by the I/O shell with the current time; nothing
 * here reads a clock or starts a timer.
 *
 * A backend's first check result in a pool decides its state at once; after
 * that, `fall` consecutive failures eject it and `rise` consecutive successes
 * re-admit it.
 *
 * @module
 */
import type { LbPolicy } from "./config.ts";

/** The two pools: reads go to any healthy backend, writes to the leader. */
export type PoolName = "read" | "write";

/** Health of one backend in one pool. */
export interface PoolHealth {
  /** In the pool (admitted). */
  up: boolean;
  /** Whether any result was recorded yet. */
  checked: boolean;
  /** Consecutive successes while down (towards `rise`). */
  successes: number;
  /** Consecutive failures while up (towards `fall`). */
  failures: number;
  /** When the state last changed (ms, injected clock). */
  since: number;
}

/** One backend and its counters. */
export class Backend {
  /** Origin, e.g. `https://127.0.0.1:7402`; also its name in headers and metrics. */
  readonly url: string;
  /** Position in the configured list. */
  readonly index: number;
  /** Health in the read pool. */
  readonly read: PoolHealth = newHealth();
  /** Health in the write pool (leadership). */
  readonly write: PoolHealth = newHealth();
  /** Requests being served right now (until the response body ends). */
  inFlight = 0;
  /** Responses relayed from this backend. */
  served = 0;
  /** Failures observed on proxied requests (connection errors and 5xx). */
  passiveFailures = 0;
  /** Failed active checks. */
  checkFailures = 0;
  /** The last failure reason, for `/lb/status`. */
  lastError?: string;

  /** Creates a backend that is in no pool until it is checked. */
  constructor(url: string, index: number) {
    this.url = url;
    this.index = index;
  }

  /** Health in `pool`. */
  health(pool: PoolName): PoolHealth {
    return pool === "read" ? this.read : this.write;
  }
}

function newHealth(): PoolHealth {
  return { up: false, checked: false, successes: 0, failures: 0, since: 0 };
}

/** A pool membership change, reported so the shell can log it. */
export interface Transition {
  /** The backend. */
  backend: string;
  /** Which pool. */
  pool: PoolName;
  /** Admitted (true) or ejected (false). */
  up: boolean;
}

/** What `/lb/status` shows per backend. */
export interface BackendStatus {
  /** Origin. */
  url: string;
  /** In the read pool. */
  healthy: boolean;
  /** In the write pool. */
  leader: boolean;
  /** `leader`, `follower`, or `down`. */
  role: "leader" | "follower" | "down";
  /** Requests in flight. */
  inFlight: number;
  /** Responses relayed. */
  served: number;
  /** Failures on proxied requests. */
  passiveFailures: number;
  /** Failed active checks. */
  checkFailures: number;
  /** Last failure reason. */
  lastError?: string;
}

/** Pool options. */
export interface PoolOptions {
  /** Consecutive failures that eject. */
  fall: number;
  /** Consecutive successes that re-admit. */
  rise: number;
  /** Read balancing policy. */
  policy: LbPolicy;
}

/** The backends, their health and the selection policies. */
export class BackendPool {
  /** All configured backends, in order. */
  readonly backends: readonly Backend[];
  readonly #opts: PoolOptions;
  #cursor = 0;

  /** Creates the pool for the configured backend origins. */
  constructor(urls: readonly string[], opts: PoolOptions) {
    this.backends = urls.map((u, i) => new Backend(u, i));
    this.#opts = opts;
  }

  /** The backend named `url`, if configured. */
  get(url: string): Backend | undefined {
    return this.backends.find((b) => b.url === url);
  }

  /** Records one result for `pool` of `b` at time `now`; returns the change, if any. */
  record(b: Backend, pool: PoolName, ok: boolean, now: number): Transition | undefined {
    const h = b.health(pool);
    if (!h.checked) {
      h.checked = true;
      h.up = ok;
      h.since = now;
      h.successes = 0;
      h.failures = 0;
      return { backend: b.url, pool, up: ok };
    }
    if (h.up) {
      h.successes = 0;
      if (ok) {
        h.failures = 0;
        return undefined;
      }
      if (++h.failures < this.#opts.fall) return undefined;
      h.up = false;
      h.failures = 0;
      h.since = now;
      return { backend: b.url, pool, up: false };
    }
    h.failures = 0;
    if (!ok) {
      h.successes = 0;
      return undefined;
    }
    if (++h.successes < this.#opts.rise) return undefined;
    h.up = true;
    h.successes = 0;
    h.since = now;
    return { backend: b.url, pool, up: true };
  }

  /** Records an active check of both routes of `b`. */
  recordCheck(
    b: Backend,
    result: { read: boolean; write: boolean; error?: string },
    now: number,
  ): Transition[] {
    if (!result.read || result.error) {
      b.checkFailures++;
      if (result.error) b.lastError = result.error;
    }
    const out: Transition[] = [];
    const r = this.record(b, "read", result.read, now);
    if (r) out.push(r);
    const w = this.record(b, "write", result.write, now);
    if (w) out.push(w);
    return out;
  }

  /**
   * Records a failure a proxied request saw (connection error, timeout or
   * 5xx): it counts against the read pool and, when the backend is in it,
   * the write pool. Successful requests are not recorded: only active checks
   * end a failure streak or re-admit a backend.
   */
  recordPassiveFailure(b: Backend, now: number, error?: string): Transition[] {
    b.passiveFailures++;
    if (error) b.lastError = error;
    const out: Transition[] = [];
    for (const pool of ["read", "write"] as const) {
      const h = b.health(pool);
      if (!h.checked || (!h.up && pool === "write")) continue;
      const t = this.record(b, pool, false, now);
      if (t) out.push(t);
    }
    return out;
  }

  /** The healthy backends (read pool). */
  healthy(): Backend[] {
    return this.backends.filter((b) => b.read.up);
  }

  /**
   * The current leader: the write-pool member admitted most recently (during
   * a leadership change two may briefly answer 200; the newer one wins).
   */
  leader(): Backend | undefined {
    let best: Backend | undefined;
    for (const b of this.backends) {
      if (b.write.up && (!best || b.write.since > best.write.since)) best = b;
    }
    return best;
  }

  /**
   * Picks a healthy backend for a read by the policy, skipping `exclude`
   * (backends this request already tried); undefined when none is left.
   */
  pickRead(exclude: ReadonlySet<Backend> = new Set()): Backend | undefined {
    const n = this.backends.length;
    let best: Backend | undefined;
    for (let k = 0; k < n; k++) {
      const b = this.backends[(this.#cursor + k) % n];
      if (!b.read.up || exclude.has(b)) continue;
      if (this.#opts.policy === "round-robin") {
        best = b;
        break;
      }
      if (!best || b.inFlight < best.inFlight) best = b;
    }
    // The next search starts after the chosen one, so equal choices rotate.
    if (best) this.#cursor = (best.index + 1) % n;
    return best;
  }

  /** The per-backend view for `/lb/status`. */
  status(): BackendStatus[] {
    const leader = this.leader();
    return this.backends.map((b) => ({
      url: b.url,
      healthy: b.read.up,
      leader: b === leader,
      role: b === leader ? "leader" : b.read.up ? "follower" : "down",
      inFlight: b.inFlight,
      served: b.served,
      passiveFailures: b.passiveFailures,
      checkFailures: b.checkFailures,
      ...(b.lastError ? { lastError: b.lastError } : {}),
    }));
  }
}
