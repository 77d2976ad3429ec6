/**
 * The node's HTTP API application (hono): error shape, authentication, HTTP
 * metrics, health routes and `GET /metrics`. Subsystems add their routes as
 * {@link ApiModule}s.
 *
 * @module
 */
import { Hono } from "hono";
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
  const tooLargeError = () =>
    new ElasticoreError("body_too_large", `request body exceeds ${opts.maxBodyBytes} bytes`, {
      status: 413,
    });
  // Authentication first: nobody without a valid token gets us to read a body.
  app.use("*", authenticate(opts.verify));
  app.use("*", async (c, next) => {
    const raw = c.req.raw;
    const length = raw.headers.get("content-length");
    if (length !== null && !raw.headers.has("transfer-encoding")) {
      // A declared length is checked without touching `body`, which keeps Deno's
      // whole-body fast path for the handler's read.
      if (parseInt(length || "0", 10) > opts.maxBodyBytes) throw tooLargeError();
      return await next();
    }
    if (!raw.body) return await next();
    // A chunked body is counted as the handler pulls it; past the limit the
    // source is cancelled at once (nothing more is read) and the stream errors.
    let seen = 0;
    let over = false;
    const source = raw.body.getReader();
    const counted = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        const { value, done } = await source.read();
        if (done) return ctl.close();
        seen += value.byteLength;
        if (seen > opts.maxBodyBytes) {
          over = true;
          // Stop reading; the source is not cancelled, because cancelling a
          // request body makes Deno drain it before the answer goes out.
          ctl.error(tooLargeError());
        } else ctl.enqueue(value);
      },
      cancel: () => {},
    });
    c.req.raw = new Request(raw, { body: counted, duplex: "half" } as RequestInit);
    await next();
    // Whatever the handler made of the failed read, the answer is 413.
    if (over) c.res = errorResponse(c, tooLargeError());
  });
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
