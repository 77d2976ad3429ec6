/**
 * Forwarding one client request: choose a backend (the leader for writes,
 * the read policy otherwise), stream the request to it, relay the response
 * as a stream, and retry on another backend when that is safe:
 *
 * - a connection that failed while connecting (nothing was sent) is retried
 *   for every request;
 * - a connection failure after sending, a timeout, or a 502/503/504 answer
 *   is retried only for idempotent requests ({@link classifyRequest});
 * - a body can be resent only while at most {@link MAX_REPLAY_BYTES} of it
 *   were read (bodies up to that size are buffered whole).
 *
 * A write retry first waits for the failed backend's next health check, so
 * a dead leader is ejected and its successor found before the next attempt.
 *
 * @module
 */
import type { ApiErrorBody } from "../api/errors.ts";
import { errorText, type HealthChecker, isConnectError } from "./health.ts";
import {
  classifyRequest,
  downstreamHeaders,
  isNullBodyStatus,
  MAX_REPLAY_BYTES,
  ReplayableBody,
  trackBody,
  upstreamHeaders,
} from "./http.ts";
import type { LbMetrics } from "./metrics.ts";
import type { Backend, BackendPool, Transition } from "./pool.ts";

/** What forwarding needs from the running load balancer. */
export interface ProxyContext {
  /** Backends and their health. */
  pool: BackendPool;
  /** The active checker (to wait for a leader or a re-check). */
  checker: HealthChecker;
  /** HTTP client trusting the cluster CA. */
  client: Deno.HttpClient;
  /** Metrics. */
  metrics: LbMetrics;
  /** Upstream response timeout and longest wait for a leader, ms. */
  timeoutMs: number;
  /** Extra attempts after the first. */
  retries: number;
  /** Clock, ms (same as the checker's). */
  now: () => number;
  /** Reports pool changes caused by passive failures. */
  onTransition?: (t: Transition) => void;
}

/** An answer of the load balancer itself in the API's error shape. */
export function lbError(status: number, code: string, message: string): Response {
  const body: ApiErrorBody = { error: { code, message } };
  return Response.json(body, { status });
}

type Failure =
  | { kind: "response"; res: Response }
  | { kind: "connect" | "io" | "timeout"; error: string };

const RETRY_STATUS = new Set([502, 503, 504]);

/** Responses up to this size (with a Content-Length) are relayed in one write. */
export const SMALL_RESPONSE_BYTES = 64 * 1024;

/** Forwards `req` (from `clientIp`) and returns the response to send. */
export async function forward(
  ctx: ProxyContext,
  req: Request,
  clientIp: string,
): Promise<Response> {
  const started = ctx.now();
  const url = new URL(req.url);
  const kind = classifyRequest(req.method, url);
  const kindName = kind.write ? "write" : "read";
  const deadline = started + ctx.timeoutMs;
  const headers = upstreamHeaders(req.headers, clientIp, url.host);

  let buffered: Uint8Array<ArrayBuffer> | null = null;
  let streamed: ReplayableBody | null = null;
  if (req.body) {
    const length = Number(req.headers.get("content-length") ?? NaN);
    if (Number.isFinite(length) && length <= MAX_REPLAY_BYTES) {
      buffered = new Uint8Array(await req.arrayBuffer());
    } else streamed = new ReplayableBody(req.body);
  }

  const answer = (backend: string, res: Response): Response => {
    ctx.metrics.request(backend, kindName, res.status, (ctx.now() - started) / 1000);
    return res;
  };
  const tried = new Set<Backend>();
  let last: Failure | undefined;
  let lastBackend: Backend | undefined;
  try {
    for (let attempt = 0; attempt <= ctx.retries; attempt++) {
      if (attempt > 0 && kind.write && lastBackend) {
        // Let the health check catch up with what this request just saw.
        await ctx.checker.waitForCheck(lastBackend, deadline);
      }
      const b = kind.write
        ? await waitForLeader(ctx, deadline)
        : ctx.pool.pickRead(tried) ?? ctx.pool.pickRead();
      if (!b && kind.write) {
        ctx.metrics.noLeader();
        const waited = Math.round(ctx.now() - started);
        return answer(
          "none",
          lbError(503, "no_leader", `no backend is the Raft leader (waited ${waited} ms)`),
        );
      }
      if (!b) {
        if (last) break;
        return answer("none", lbError(503, "no_backend", "no healthy backend"));
      }
      tried.add(b);
      lastBackend = b;
      const body = buffered ?? (streamed ? streamed.stream() : null);
      const result = await attemptOnce(ctx, b, req, url, headers, body);
      if (result instanceof Response) return answer(b.url, result);
      last = result;
      const replayable = streamed === null || streamed.replayable;
      const safe = result.kind === "connect" || kind.idempotent;
      if (attempt === ctx.retries || !replayable || !safe) break;
      if (result.kind === "response") await result.res.body?.cancel();
      ctx.metrics.retry(result.kind === "response" ? String(result.res.status) : result.kind);
    }
  } finally {
    await streamed?.close();
  }
  const backend = lastBackend?.url ?? "none";
  if (!last) return answer(backend, lbError(502, "bad_gateway", "no attempt was made"));
  switch (last.kind) {
    case "response":
      return answer(backend, await relay(ctx, lastBackend!, last.res, req.method, true));
    case "timeout":
      return answer(
        backend,
        lbError(504, "gateway_timeout", `${backend} did not answer within ${ctx.timeoutMs} ms`),
      );
    default:
      return answer(backend, lbError(502, "bad_gateway", `${backend}: ${last.error}`));
  }
}

/** The leader, waiting for health checks up to `deadline` while there is none. */
async function waitForLeader(ctx: ProxyContext, deadline: number): Promise<Backend | undefined> {
  for (;;) {
    const leader = ctx.pool.leader();
    if (leader) return leader;
    if (!await ctx.checker.waitForCheck(undefined, deadline)) return ctx.pool.leader();
  }
}

/**
 * One attempt on `b`. Returns the response to relay, or a failure (a
 * retryable 5xx response, unconsumed, is returned as a failure too).
 */
async function attemptOnce(
  ctx: ProxyContext,
  b: Backend,
  req: Request,
  url: URL,
  headers: Headers,
  body: BodyInit | null,
): Promise<Response | Failure> {
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new DOMException("upstream timeout", "TimeoutError")),
    ctx.timeoutMs,
  );
  b.inFlight++;
  let res: Response;
  try {
    res = await fetch(b.url + url.pathname + url.search, {
      method: req.method,
      headers,
      body,
      client: ctx.client,
      redirect: "manual",
      signal: ac.signal,
    });
  } catch (e) {
    b.inFlight--;
    if (ac.signal.aborted) {
      passive(ctx, b, "timeout");
      return { kind: "timeout", error: "timeout" };
    }
    const error = errorText(e);
    passive(ctx, b, error);
    return { kind: isConnectError(e) ? "connect" : "io", error };
  } finally {
    clearTimeout(timer);
  }
  if (res.status >= 500) passive(ctx, b, `answered ${res.status}`);
  if (RETRY_STATUS.has(res.status)) {
    b.inFlight--;
    return { kind: "response", res };
  }
  return relay(ctx, b, res, req.method, false);
}

/**
 * Builds the client's response from a backend's, releasing in-flight at its
 * end. A small body of known length ({@link SMALL_RESPONSE_BYTES}) is read
 * whole and sent in one write: relaying it chunk by chunk would put headers
 * and body in separate small TCP segments, which Nagle's algorithm and
 * delayed ACKs turn into a ~40 ms stall per HTTP/1.1 response. Anything
 * larger, of unknown length, or decoded by `fetch` streams through.
 */
async function relay(
  ctx: ProxyContext,
  b: Backend,
  res: Response,
  method: string,
  reacquire: boolean,
): Promise<Response> {
  if (reacquire) b.inFlight++;
  b.served++;
  const init = {
    status: res.status,
    statusText: res.statusText,
    headers: downstreamHeaders(res.headers, b.url),
  };
  if (method === "HEAD" || isNullBodyStatus(res.status) || !res.body) {
    res.body?.cancel().catch(() => {});
    b.inFlight--;
    return new Response(null, init);
  }
  const length = Number(res.headers.get("content-length") ?? NaN);
  if (length <= SMALL_RESPONSE_BYTES && !res.headers.has("content-encoding")) {
    try {
      return new Response(await res.arrayBuffer(), init);
    } catch (e) {
      const error = errorText(e);
      passive(ctx, b, error);
      return lbError(502, "bad_gateway", `${b.url}: response body failed: ${error}`);
    } finally {
      b.inFlight--;
    }
  }
  return new Response(trackBody(res.body, () => b.inFlight--), init);
}

function passive(ctx: ProxyContext, b: Backend, error: string): void {
  ctx.metrics.passiveFailure(b.url);
  for (const t of ctx.pool.recordPassiveFailure(b, ctx.now(), error)) ctx.onTransition?.(t);
}
