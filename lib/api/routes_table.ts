/**
 * The API's route table, found from the application itself: every route a
 * hono app registered (`app.routes`), and for each one whether it is public,
 * which role-table action it requires, or whether it authenticates without
 * checking any action. Security tests walk this table, so a route added to
 * the node's API is covered without editing the tests.
 *
 * The required action is found by asking: the app is built with a verifier
 * that accepts one probe token as a principal whose role is in no role table
 * entry, so every `need(action)` guard answers 403 naming its action.
 *
 * @module
 */
import type { Hono } from "hono";
import { ElasticoreError } from "../errors.ts";
import { MetricsRegistry } from "../metrics.ts";
import type { KvService } from "../raft/node/kv_service.ts";
import { type Action, isAction } from "../security/roles.ts";
import { type ApiModule, createApiApp } from "./app.ts";
import { isPublicPath, type Principal, type TokenVerifier } from "./auth.ts";
import { clusterRoutes } from "./cluster_routes.ts";
import { dashboardModule } from "./dashboard/mod.ts";
import { kvRoutes } from "./kv_routes.ts";
import { logsRoutes } from "./logs_routes.ts";
import { fsRoutes } from "./fs_routes.ts";
import { jobRoutes } from "./job_routes.ts";
import { nodeRoutes } from "./node_routes.ts";
import type { DfsNode } from "../dfs/node.ts";
import type { JobApi } from "../stream/runtime/job_api.ts";
import type { StreamFs } from "../stream/runtime/fs.ts";

/** One registered route: an HTTP method (or `ALL`) and a hono path pattern. */
export interface RouteEntry {
  /** `GET`, `PUT`, ..., or `ALL` for `app.all` routes. */
  method: string;
  /** The pattern as registered, e.g. `/v1/kv/*` or `/v1/raft/members/:id`. */
  path: string;
}

/** How a route is protected. */
export type RouteAccess =
  | { kind: "public" }
  | { kind: "action"; action: Action }
  | { kind: "authenticated_only"; status: number };

/** A route with its protection and the concrete path used to reach it. */
export interface RouteRule extends RouteEntry {
  /** A request path that the pattern matches (parameters filled in). */
  sample: string;
  /** What protects it. */
  access: RouteAccess;
}

/** The token the probing verifier accepts. */
export const PROBE_TOKEN = "route-table-probe";

/**
 * Every route `app` registered, once per method and pattern, in registration
 * order. Middleware added with `app.use` on a wildcard pattern is left out
 * (hono records it like an `ALL` route).
 */
export function listRoutes(app: Hono): RouteEntry[] {
  const seen = new Set<string>();
  const out: RouteEntry[] = [];
  for (const r of app.routes) {
    const method = r.method.toUpperCase();
    if (method === "ALL" && r.path.endsWith("*")) continue;
    const id = `${method} ${r.path}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ method, path: r.path });
  }
  return out;
}

/**
 * A request path matched by the hono pattern `path`: `:name` parameters
 * (with or without a `{regex}`) and `*` become `probe`.
 */
export function samplePath(path: string): string {
  return path
    .replace(/:[A-Za-z0-9_]+(\{[^}]*\})?\??/g, "probe")
    .replace(/\*/g, "probe");
}

/** The method a probe request uses for `method` (`ALL` routes answer `GET`). */
export function requestMethod(method: string): string {
  return method === "ALL" ? "GET" : method;
}

const FORBIDDEN_ACTION = /may not perform "([^"]+)"/;

/** The action a 403 `forbidden` error body names, if any. */
function forbiddenAction(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (error?.code !== "forbidden" || typeof error.message !== "string") return undefined;
  return FORBIDDEN_ACTION.exec(error.message)?.[1];
}

/** A principal whose role grants nothing, so each `need` guard names its action. */
function probeVerifier(): TokenVerifier {
  // Deliberately outside the `Role` union: `authorize` refuses unknown roles.
  const nobody = { subject: "route-probe", role: "route-probe" } as unknown as Principal;
  return (token) => {
    if (token === PROBE_TOKEN) return Promise.resolve(nobody);
    return Promise.reject(
      new ElasticoreError("unauthorized", "only the probe token is accepted", { status: 401 }),
    );
  };
}

/**
 * The route table of the app `build` returns (given the probing verifier):
 * every route with the action it requires. Each non-public route is asked
 * once with {@link PROBE_TOKEN}; a 403 names the action, anything else means
 * the route authenticates but checks no action (`authenticated_only`).
 */
export async function routeTable(build: (verify: TokenVerifier) => Hono): Promise<RouteRule[]> {
  const app = build(probeVerifier());
  const rules: RouteRule[] = [];
  for (const r of listRoutes(app)) {
    const sample = samplePath(r.path);
    if (isPublicPath(sample)) {
      rules.push({ ...r, sample, access: { kind: "public" } });
      continue;
    }
    const res = await app.request(sample, {
      method: requestMethod(r.method),
      headers: { authorization: `Bearer ${PROBE_TOKEN}` },
    });
    const action = res.status === 403 ? forbiddenAction(await res.text()) : undefined;
    const access: RouteAccess = action !== undefined && isAction(action)
      ? { kind: "action", action }
      : { kind: "authenticated_only", status: res.status };
    rules.push({ ...r, sample, access });
  }
  return rules;
}

/**
 * Names of the API modules `lib/node.ts` wires into a node's app, as they
 * appear in that file; {@link nodeListingApp} builds exactly these. A test
 * compares this list with `lib/node.ts`, so a module wired there but not
 * here is noticed.
 */
export const NODE_API_MODULES: readonly string[] = [
  "dashboardModule",
  "clusterRoutes",
  "kvRoutes",
  "fsRoutes",
  "stream.apiModule",
  "logs.routes",
  "nodeRoutes",
];

/**
 * A stand-in for a subsystem (`what`) whose every property read throws a 503
 * `unavailable`: for apps that list or fuzz routes without that subsystem.
 */
export function unavailableSource<T>(what: string): T {
  return new Proxy({}, {
    get() {
      throw unavailable(what);
    },
  }) as T;
}

function unavailable(what: string): ElasticoreError {
  return new ElasticoreError("unavailable", `${what} is not available in the route listing app`, {
    status: 503,
  });
}

/**
 * The API app a master node builds (same `createApiApp` and the modules of
 * {@link NODE_API_MODULES}), with `verify` and inert sources: for listing
 * and probing routes, not for serving.
 */
export function nodeListingApp(verify: TokenVerifier, maxBodyBytes = 1 << 20): Hono {
  const kv = (): KvService => {
    throw unavailable("the metadata store");
  };
  const modules: ApiModule[] = [
    dashboardModule,
    clusterRoutes({ node: "listing", version: "listing", members: () => [] }),
    kvRoutes(kv),
    fsRoutes(() => unavailableSource<DfsNode>("the DFS")),
    jobRoutes({
      api: unavailableSource<JobApi>("the job manager"),
      fs: unavailableSource<StreamFs>("the stream files"),
    }),
    logsRoutes({
      grep: () => Promise.reject(unavailable("cluster grep")),
      tail: () => Promise.reject(unavailable("cluster tail")),
    }),
    nodeRoutes("listing", { handOff: () => Promise.resolve(null), stop: () => {} }),
  ];
  return createApiApp({
    verify,
    metrics: new MetricsRegistry(),
    maxBodyBytes,
    health: () => ({ node: "listing", status: "ok", roles: ["master"], version: "listing" }),
    isLeader: () => false,
    modules,
  });
}
