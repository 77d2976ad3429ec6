/**
 * The load balancer's Prometheus metrics (`elasticore_lb_*`), served by its
 * own `GET /metrics`.
 *
 * @module
 */
import type { Counter, Histogram, MetricsRegistry } from "../metrics.ts";
import type { BackendPool } from "./pool.ts";

/** The load balancer's metrics, registered in a {@link MetricsRegistry}. */
export class LbMetrics {
  /** The registry they live in. */
  readonly registry: MetricsRegistry;
  readonly #requests: Counter;
  readonly #latency: Histogram;
  readonly #retries: Counter;
  readonly #checks: Counter;
  readonly #passive: Counter;
  readonly #noLeader: Counter;
  readonly #transitions: Counter;

  /** Registers the metrics; gauges read `pool` at scrape time. */
  constructor(registry: MetricsRegistry, pool: BackendPool) {
    this.registry = registry;
    this.#requests = registry.counter(
      "elasticore_lb_requests_total",
      "Requests answered by the load balancer, by backend (none when it answered itself), kind and status",
    );
    this.#latency = registry.histogram(
      "elasticore_lb_request_seconds",
      "Time to the response headers, by kind (read or write)",
    );
    this.#retries = registry.counter(
      "elasticore_lb_retries_total",
      "Attempts repeated on another backend, by reason",
    );
    this.#checks = registry.counter(
      "elasticore_lb_health_checks_total",
      "Active health checks by backend, pool and result",
    );
    this.#passive = registry.counter(
      "elasticore_lb_passive_failures_total",
      "Connection errors and 5xx answers seen on proxied requests, by backend",
    );
    this.#noLeader = registry.counter(
      "elasticore_lb_no_leader_total",
      "Writes answered 503 no_leader because no backend is the leader",
    );
    this.#transitions = registry.counter(
      "elasticore_lb_pool_transitions_total",
      "Backend admissions (up) and ejections (down), by backend and pool",
    );
    registry.gauge(
      "elasticore_lb_backend_up",
      "1 when the backend is in the pool (read: healthy; write: leader)",
      () =>
        pool.backends.flatMap((b) => [
          [{ backend: b.url, pool: "read" }, b.read.up ? 1 : 0],
          [{ backend: b.url, pool: "write" }, b === pool.leader() ? 1 : 0],
        ]),
    );
    registry.gauge(
      "elasticore_lb_backend_in_flight",
      "Requests in flight per backend",
      () => pool.backends.map((b) => [{ backend: b.url }, b.inFlight]),
    );
  }

  /** Counts one answered request. */
  request(backend: string, kind: "read" | "write", status: number, seconds: number): void {
    this.#requests.inc({ backend, kind, code: String(status) });
    this.#latency.observe(seconds, { kind });
  }

  /** Requests counted so far for `backend`, `kind` and `status`. */
  requests(backend: string, kind: "read" | "write", status: number): number {
    return this.#requests.get({ backend, kind, code: String(status) });
  }

  /** Counts one retry. */
  retry(reason: string): void {
    this.#retries.inc({ reason });
  }

  /** Counts one active check. */
  check(backend: string, read: boolean, write: boolean): void {
    this.#checks.inc({ backend, pool: "read", result: read ? "ok" : "fail" });
    this.#checks.inc({ backend, pool: "write", result: write ? "ok" : "fail" });
  }

  /** Counts one passive failure. */
  passiveFailure(backend: string): void {
    this.#passive.inc({ backend });
  }

  /** Counts one no-leader answer. */
  noLeader(): void {
    this.#noLeader.inc();
  }

  /** Counts one pool transition. */
  transition(backend: string, pool: string, up: boolean): void {
    this.#transitions.inc({ backend, pool, to: up ? "up" : "down" });
  }
}
