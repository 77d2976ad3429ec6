/**
 * The web dashboard served by every node: one HTML page, one script, one
 * stylesheet and an icon, all embedded in the binary as string constants (no
 * build step, no external assets). The page and `/ui/*` are public; the
 * script then calls the authenticated API with the token the user enters.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import type { ApiModule } from "../app.ts";
import { DASHBOARD_JS } from "./client.ts";
import { DASHBOARD_ICON, dashboardHtml } from "./page.ts";
import { DASHBOARD_CSS } from "./style.ts";

/**
 * The Content-Security-Policy of every dashboard response: scripts, styles,
 * images and API calls only from the serving node itself; no inline code, no
 * plugins, no framing, no `<base>` rewriting.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** `Cache-Control` of the page and of assets requested without the current version. */
export const CACHE_REVALIDATE = "no-cache";
/** `Cache-Control` of assets requested with the current version (`?v=`). */
export const CACHE_IMMUTABLE = "public, max-age=31536000, immutable";

/** One embedded file the dashboard serves. */
export interface DashboardAsset {
  /** The URL path it is served at. */
  path: string;
  /** Its `Content-Type`. */
  type: string;
  /** Its content. */
  body: string;
  /** Its strong entity tag (quoted), derived from the content. */
  etag: string;
}

/** A 53-bit content hash (cyrb53) as hex: stable, fast, synchronous. */
function contentHash(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0");
}

function asset(path: string, type: string, body: string): DashboardAsset {
  return { path, type, body, etag: `"${contentHash(body)}"` };
}

/** The version token appended to asset URLs (`?v=`): changes whenever any asset changes. */
export const DASHBOARD_VERSION = contentHash(
  DASHBOARD_JS + "\n" + DASHBOARD_CSS + "\n" + DASHBOARD_ICON,
);

/** Every file the dashboard serves, keyed by path. */
export const DASHBOARD_ASSETS: ReadonlyMap<string, DashboardAsset> = new Map(
  [
    asset("/", "text/html; charset=utf-8", dashboardHtml(DASHBOARD_VERSION)),
    asset("/ui/app.js", "text/javascript; charset=utf-8", DASHBOARD_JS),
    asset("/ui/app.css", "text/css; charset=utf-8", DASHBOARD_CSS),
    asset("/ui/favicon.svg", "image/svg+xml", DASHBOARD_ICON),
  ].map((a) => [a.path, a]),
);

function securityHeaders(a: DashboardAsset, cache: string): Record<string, string> {
  return {
    "content-type": a.type,
    "content-security-policy": DASHBOARD_CSP,
    "cache-control": cache,
    "etag": a.etag,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
  };
}

/** True when an `If-None-Match` header names `etag` (or is `*`). */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === "*" || tag === etag;
  });
}

function serve(a: DashboardAsset, c: Context): Response {
  const versioned = a.path !== "/" && c.req.query("v") === DASHBOARD_VERSION;
  const headers = securityHeaders(a, versioned ? CACHE_IMMUTABLE : CACHE_REVALIDATE);
  if (matchesEtag(c.req.header("if-none-match"), a.etag)) {
    return c.body(null, 304, headers);
  }
  return c.body(a.body, 200, headers);
}

/**
 * Registers the dashboard: `GET /` (the page), `GET /ui/app.js`,
 * `GET /ui/app.css` and `GET /ui/favicon.svg`.
 */
export const dashboardModule: ApiModule = (app: Hono) => {
  for (const a of DASHBOARD_ASSETS.values()) {
    app.get(a.path, (c) => serve(a, c));
  }
};
