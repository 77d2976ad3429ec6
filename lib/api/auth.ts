/**
 * Bearer-token authentication and role authorization for the HTTP API.
 * Every route except `/v1/health*` needs `Authorization: Bearer <token>`;
 * routes then require an action from the role table (`lib/security/roles.ts`).
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { ElasticoreError } from "../errors.ts";
import { type Action, requirePermission, type Role } from "../security/roles.ts";

/** Who made a request. */
export interface Principal {
  /** Token subject, e.g. `admin` or a user name. */
  subject: string;
  /** The role the token grants. */
  role: Role;
}

/** Checks a bearer token; throws a 401 `ElasticoreError` when it is not valid. */
export type TokenVerifier = (token: string) => Promise<Principal>;

/** Paths reachable without a token. */
export function isPublicPath(path: string): boolean {
  return path === "/v1/health" || path.startsWith("/v1/health/") || path === "/" ||
    path.startsWith("/ui/");
}

function unauthorized(message: string): ElasticoreError {
  return new ElasticoreError("unauthorized", message, {
    status: 401,
    hint: "send Authorization: Bearer <token>",
  });
}

/** Middleware: authenticates every non-public request and stores the principal. */
export function authenticate(verify: TokenVerifier): MiddlewareHandler {
  return async (c, next) => {
    if (isPublicPath(c.req.path)) return await next();
    const header = c.req.header("authorization");
    if (!header) throw unauthorized("missing bearer token");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw unauthorized("the Authorization header is not of the form 'Bearer <token>'");
    c.set("principal", await verify(m[1]));
    await next();
  };
}

/** The principal of an authenticated request. */
export function principalOf(c: Context): Principal {
  const p = c.get("principal") as Principal | undefined;
  if (!p) throw unauthorized("request is not authenticated");
  return p;
}

/** Middleware: requires the caller's role to allow `action` (403 otherwise). */
export function need(action: Action): MiddlewareHandler {
  return async (c, next) => {
    requirePermission(principalOf(c).role, action);
    await next();
  };
}

/** Options of {@link cachingVerifier}. */
export interface VerifierCacheOptions {
  /** Most tokens remembered (least recently used evicted). Default 4096. */
  maxEntries?: number;
  /** Longest a verification is reused, in ms. Default 30 s. */
  ttlMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * Wraps a verifier so a token verified once is not re-verified on every
 * request (signature checks dominate small requests). A cached principal is
 * reused until the cache TTL or the token's own expiry, whichever is first;
 * failures are never cached.
 */
export function cachingVerifier(
  verify: (token: string) => Promise<Principal & { claims?: { exp?: number } }>,
  opts: VerifierCacheOptions = {},
): TokenVerifier {
  const max = opts.maxEntries ?? 4096;
  const ttl = opts.ttlMs ?? 30_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { p: Principal; until: number }>();
  return async (token) => {
    const t = now();
    const hit = cache.get(token);
    if (hit) {
      cache.delete(token);
      if (hit.until > t) {
        cache.set(token, hit);
        return hit.p;
      }
    }
    const p = await verify(token);
    const exp = p.claims?.exp;
    const until = Math.min(t + ttl, exp === undefined ? Infinity : exp * 1000);
    cache.set(token, { p: { subject: p.subject, role: p.role }, until });
    if (cache.size > max) cache.delete(cache.keys().next().value!);
    return { subject: p.subject, role: p.role };
  };
}
