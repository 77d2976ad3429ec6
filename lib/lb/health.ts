/**
 * Active health checks: every backend is probed on its own interval with
 * `GET /v1/health` (read pool) and `GET /v1/health/leader` (write pool) over
 * TLS verified against the cluster CA, and the results go to the
 * {@link BackendPool}. Requests that wait for a leader or for a backend's
 * next check use {@link HealthChecker.waitForCheck}.
 *
 * @module
 */
import type { Backend, BackendPool, Transition } from "./pool.ts";

/** Options of the {@link HealthChecker}. */
export interface HealthCheckerOptions {
  /** The backends and their health. */
  pool: BackendPool;
  /** HTTP client trusting the cluster CA. */
  client: Deno.HttpClient;
  /** Interval between two checks of one backend, ms. */
  intervalMs: number;
  /** Longest wait for one check's answers, ms. */
  checkTimeoutMs: number;
  /** Clock, ms. */
  now?: () => number;
  /** Called on every pool admission or ejection. */
  onTransition?: (t: Transition) => void;
  /** Called after every check with its outcome per pool. */
  onCheck?: (b: Backend, read: boolean, write: boolean) => void;
}

interface Waiter {
  backend?: Backend;
  resolve: (checked: boolean) => void;
}

/** Probes every backend on an interval until stopped. */
export class HealthChecker {
  readonly #opts: HealthCheckerOptions;
  readonly #now: () => number;
  readonly #timers = new Map<Backend, ReturnType<typeof setTimeout>>();
  readonly #running = new Set<Promise<void>>();
  readonly #waiters = new Set<Waiter>();
  #stopped = false;
  /** Completed checks, all backends together. */
  checks = 0;

  /** Creates a checker; nothing runs before {@link start}. */
  constructor(opts: HealthCheckerOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Checks every backend once (awaited), then keeps checking on the interval. */
  async start(): Promise<void> {
    await Promise.all(this.#opts.pool.backends.map((b) => this.#runCheck(b)));
    for (const b of this.#opts.pool.backends) this.#schedule(b);
  }

  /** Stops checking and wakes every waiter. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await Promise.allSettled([...this.#running]);
    for (const w of this.#waiters) w.resolve(false);
    this.#waiters.clear();
  }

  #schedule(b: Backend): void {
    if (this.#stopped) return;
    const t = setTimeout(async () => {
      this.#timers.delete(b);
      await this.#runCheck(b);
      this.#schedule(b);
    }, this.#opts.intervalMs);
    this.#timers.set(b, t);
  }

  #runCheck(b: Backend): Promise<void> {
    const p = this.checkOnce(b).finally(() => this.#running.delete(p));
    this.#running.add(p);
    return p;
  }

  /** Probes `b` once now and records the result. */
  async checkOnce(b: Backend): Promise<void> {
    if (this.#stopped) return;
    const [read, write] = await Promise.all([
      this.#probe(b, "/v1/health"),
      this.#probe(b, "/v1/health/leader"),
    ]);
    if (this.#stopped) return;
    const error = read.error ?? (write.status === undefined ? write.error : undefined);
    const transitions = this.#opts.pool.recordCheck(
      b,
      { read: read.status === 200, write: write.status === 200, error },
      this.#now(),
    );
    this.checks++;
    this.#opts.onCheck?.(b, read.status === 200, write.status === 200);
    for (const t of transitions) this.#opts.onTransition?.(t);
    for (const w of [...this.#waiters]) {
      if (w.backend === undefined || w.backend === b) {
        this.#waiters.delete(w);
        w.resolve(true);
      }
    }
  }

  async #probe(b: Backend, path: string): Promise<{ status?: number; error?: string }> {
    try {
      const res = await fetch(b.url + path, {
        client: this.#opts.client,
        signal: AbortSignal.timeout(this.#opts.checkTimeoutMs),
        headers: { "user-agent": "elasticore-lb-check" },
      });
      await res.body?.cancel();
      return res.status === 200 || path !== "/v1/health"
        ? { status: res.status }
        : { status: res.status, error: `${path} answered ${res.status}` };
    } catch (e) {
      return { error: `${path}: ${errorText(e)}` };
    }
  }

  /**
   * Resolves after the next completed check of `backend` (any backend when
   * omitted) with true, or with false at `deadline` (ms, same clock), on
   * `signal` abort or when the checker stops.
   */
  waitForCheck(
    backend: Backend | undefined,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const left = deadline - this.#now();
    if (this.#stopped || left <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const finish = (v: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#waiters.delete(waiter);
        resolve(v);
      };
      const waiter: Waiter = { backend, resolve: finish };
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), left);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }
}

/** One line describing a fetch error, including its cause chain. */
export function errorText(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 4; depth++) {
    if (cur instanceof Error) {
      if (!parts.includes(cur.message)) parts.push(cur.message);
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(": ");
}

/**
 * Whether a fetch error happened while connecting (TCP connect or TLS
 * handshake), i.e. before any byte of the request was sent.
 */
export function isConnectError(e: unknown): boolean {
  return /client error \(Connect\)|Connection refused|os error 111\b/.test(errorText(e));
}
