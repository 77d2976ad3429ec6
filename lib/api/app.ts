/**
 * The node's HTTP API application (hono): error shape, authentication, HTTP
 * metrics, health routes and `GET /metrics`. Subsystems add their routes as
 * {@link ApiModule}s.
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ElasticoreError } from "../errors.ts";
import type { MetricsRegistry } from "../metrics.ts";
import { authenticate, need, type TokenVerifier } from "./auth.ts";
import { errorResponse, notFound } from "./errors.ts";

/** Adds a subsystem's routes to the API. */
export type ApiModule = (app: Hono) => void;

/** What `GET /v1/health` reports. */
export interface HealthInfo {
  /** This node's id. */
  node: string;
  /** `ok` when the node serves requests. */
  status: "ok" | "starting" | "stopping";
  /** Roles this node runs. */
  roles: string[];
  /** Product version. */
  version: string;
}

/** Everything the API application needs from its node. */
export interface ApiOptions {
  /** Checks bearer tokens. */
  verify: TokenVerifier;
  /** The node's metrics registry, served at `/metrics`. */
  metrics: MetricsRegistry;
  /** Current health. */
  health: () => HealthInfo;
  /** True when this node is the Raft leader (for `/v1/health/leader`). */
  isLeader: () => boolean;
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Subsystem routes. */
  modules?: ApiModule[];
}

/** Builds the API application. */
export function createApiApp(opts: ApiOptions): Hono {
  const app = new Hono();
  const requests = opts.metrics.counter(
    "elasticore_http_requests_total",
    "HTTP API requests by method, route and status",
  );
  const latency = opts.metrics.histogram(
    "elasticore_http_request_seconds",
    "HTTP API request latency by method and route",
  );
  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => notFound(c));
  app.use("*", async (c, next) => {
    const start = performance.now();
    await next();
    const route = c.req.routePath ?? "unmatched";
    requests.inc({ method: c.req.method, route, status: String(c.res.status) });
    latency.observe((performance.now() - start) / 1000, { method: c.req.method, route });
  });
  const tooLarge = () => {
    throw new ElasticoreError(
      "body_too_large",
      `request body exceeds ${opts.maxBodyBytes} bytes`,
      { status: 413 },
    );
  };
  const limit = bodyLimit({ maxSize: opts.maxBodyBytes, onError: tooLarge });
  app.use("*", (c, next) => {
    // A declared length is checked as bodyLimit checks it, but without touching
    // `body`: that keeps Deno's whole-body fast path for the handler's read.
    const headers = c.req.raw.headers;
    const length = headers.get("content-length");
    if (length === null || headers.has("transfer-encoding")) return limit(c, next);
    return parseInt(length || "0", 10) > opts.maxBodyBytes ? tooLarge() : next();
  });
  app.use("*", authenticate(opts.verify));
  app.get("/v1/health", (c) => c.json(opts.health()));
  app.get("/v1/health/leader", (c) => {
    const leader = opts.isLeader();
    return c.json({ ...opts.health(), leader }, leader ? 200 : 503);
  });
  app.get("/metrics", need("cluster:read"), (c) => {
    return c.text(opts.metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  for (const mod of opts.modules ?? []) mod(app);
  return app;
}
