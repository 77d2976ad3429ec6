/**
 * The running load balancer: an HTTPS server (`Deno.serve` with its own
 * certificate) in front of the backends, an upstream HTTP client that
 * verifies them against the cluster CA, the active health checker, and the
 * load balancer's own routes `GET /lb/status` and `GET /metrics` (which
 * therefore shadow the backends' routes of the same path).
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { getLogger } from "../log/mod.ts";
import { MetricsRegistry } from "../metrics.ts";
import type { LbConfig, LbPolicy } from "./config.ts";
import { HealthChecker } from "./health.ts";
import { LbMetrics } from "./metrics.ts";
import { BackendPool, type BackendStatus, type Transition } from "./pool.ts";
import { forward, lbError } from "./proxy.ts";

/** Everything {@link startLoadBalancer} needs, with PEM contents instead of files. */
export interface LoadBalancerOptions {
  /** Listen host. */
  hostname: string;
  /** Listen port; 0 picks a free one. */
  port: number;
  /** Backend origins. */
  backends: string[];
  /** Cluster CA certificate, PEM. */
  caPem: string;
  /** The load balancer's certificate, PEM. */
  certPem: string;
  /** Its private key, PEM. */
  keyPem: string;
  /** Read balancing policy. */
  policy: LbPolicy;
  /** Interval between checks of one backend, ms. */
  checkIntervalMs: number;
  /** Consecutive failures that eject. */
  fall: number;
  /** Consecutive successes that re-admit. */
  rise: number;
  /** Upstream response timeout and longest wait for a leader, ms. */
  timeoutMs: number;
  /** Extra attempts for retryable failures. */
  retries: number;
  /** Longest wait for a health check's answers, ms; default min(timeout, max(2 x interval, 250)). */
  checkTimeoutMs?: number;
  /** Registry for the metrics; a new one by default. */
  metrics?: MetricsRegistry;
}

/** What `GET /lb/status` answers. */
export interface LbStatus {
  /** Listen URL. */
  url: string;
  /** Read policy. */
  policy: LbPolicy;
  /** The leader's origin, or null. */
  leader: string | null;
  /** Completed health checks. */
  checks: number;
  /** Per backend. */
  backends: BackendStatus[];
}

/** A running load balancer. */
export interface LoadBalancer {
  /** Where it listens. */
  readonly addr: Deno.NetAddr;
  /** `https://host:port`. */
  readonly url: string;
  /** Backends and health. */
  readonly pool: BackendPool;
  /** Its metrics. */
  readonly metrics: LbMetrics;
  /** The health checker. */
  readonly checker: HealthChecker;
  /** The status document. */
  status(): LbStatus;
  /** Stops accepting, lets in-flight requests finish, stops checking. */
  stop(): Promise<void>;
}

/**
 * Starts a load balancer: checks every backend once, then listens. Resolves
 * when it accepts connections.
 */
export async function startLoadBalancer(opts: LoadBalancerOptions): Promise<LoadBalancer> {
  const log = getLogger("lb");
  const now = () => performance.now();
  // HTTP/1.1 keep-alive pools to the backends (as HAProxy does): in our
  // measurements no slower than one multiplexed HTTP/2 connection, and a
  // slow stream cannot hold up others on a shared connection.
  const client = Deno.createHttpClient({ caCerts: [opts.caPem], http2: false });
  const pool = new BackendPool(opts.backends, {
    fall: opts.fall,
    rise: opts.rise,
    policy: opts.policy,
  });
  const metrics = new LbMetrics(opts.metrics ?? new MetricsRegistry(), pool);
  const onTransition = (t: Transition) => {
    metrics.transition(t.backend, t.pool, t.up);
    const b = pool.get(t.backend);
    const what = t.pool === "read"
      ? (t.up ? "healthy" : "ejected")
      : t.up
      ? "leader"
      : "not leader";
    log.info("backend state changed", {
      backend: t.backend,
      what,
      ...(b?.lastError && !t.up ? { reason: b.lastError } : {}),
    });
  };
  const checker = new HealthChecker({
    pool,
    client,
    intervalMs: opts.checkIntervalMs,
    checkTimeoutMs: opts.checkTimeoutMs ??
      Math.min(opts.timeoutMs, Math.max(2 * opts.checkIntervalMs, 250)),
    now,
    onTransition,
    onCheck: (b, read, write) => metrics.check(b.url, read, write),
  });
  await checker.start();
  const ctx = {
    pool,
    checker,
    client,
    metrics,
    timeoutMs: opts.timeoutMs,
    retries: opts.retries,
    now,
    onTransition,
  };

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: opts.hostname,
      port: opts.port,
      cert: opts.certPem,
      key: opts.keyPem,
      onListen: () => {},
      onError: (e) => {
        log.error("request failed: {error}", { error: e });
        return lbError(500, "internal", e instanceof Error ? e.message : String(e));
      },
    }, (req, info) => {
      const path = new URL(req.url).pathname;
      if (req.method === "GET" && path === "/lb/status") return Response.json(status());
      if (req.method === "GET" && path === "/metrics") {
        return new Response(metrics.registry.render(), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      }
      return forward(ctx, req, info.remoteAddr.hostname);
    });
  } catch (e) {
    await checker.stop();
    client.close();
    const reason = e instanceof Error ? e.message : String(e);
    throw new ElasticoreError(
      "lb_listen_failed",
      `cannot listen on ${opts.hostname}:${opts.port}: ${reason}`,
      { hint: "pick a free port with --listen HOST:PORT" },
    );
  }
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `https://${host}:${addr.port}`;
  function status(): LbStatus {
    return {
      url,
      policy: opts.policy,
      leader: pool.leader()?.url ?? null,
      checks: checker.checks,
      backends: pool.status(),
    };
  }
  log.info("load balancer listening", { url, backends: opts.backends.length });
  let stopping: Promise<void> | undefined;
  return {
    addr,
    url,
    pool,
    metrics,
    checker,
    status,
    stop() {
      stopping ??= (async () => {
        await server.shutdown();
        await checker.stop();
        client.close();
      })();
      return stopping;
    },
  };
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new ElasticoreError("lb_bad_config", `cannot read ${what} ${file}: ${reason}`, {
      hint: "elasticore init writes ca.pem and the certificates",
    });
  }
}

/** Reads the PEM files named in `config` and starts the load balancer. */
export async function startLoadBalancerFromConfig(config: LbConfig): Promise<LoadBalancer> {
  const [caPem, certPem, keyPem] = await Promise.all([
    readPem(config.caFile, "--ca"),
    readPem(config.certFile, "--cert"),
    readPem(config.keyFile, "--key"),
  ]);
  return startLoadBalancer({ ...config, caPem, certPem, keyPem });
}
