import assert from "node:assert/strict";
import { createApiApp } from "../../lib/api/app.ts";
import {
  CACHE_IMMUTABLE,
  CACHE_REVALIDATE,
  DASHBOARD_CSP,
  DASHBOARD_VERSION,
  dashboardModule,
} from "../../lib/api/dashboard/mod.ts";
import { DASHBOARD_JS } from "../../lib/api/dashboard/client.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";

function app() {
  return createApiApp({
    verify: (t) =>
      t === "good"
        ? Promise.resolve({ subject: "alice", role: "admin" })
        : Promise.reject(new ElasticoreError("token_invalid", "bad token", { status: 401 })),
    metrics: new MetricsRegistry(),
    health: () => ({ node: "m1", status: "ok", roles: ["master"], version: "test" }),
    isLeader: () => true,
    maxBodyBytes: 1024,
    modules: [dashboardModule],
  });
}

const ASSETS = [
  { path: "/", type: "text/html; charset=utf-8" },
  { path: "/ui/app.js", type: "text/javascript; charset=utf-8" },
  { path: "/ui/app.css", type: "text/css; charset=utf-8" },
  { path: "/ui/favicon.svg", type: "image/svg+xml" },
];

Deno.test("dashboard: page and assets are served without a token, typed, with a strict CSP", async () => {
  const a = app();
  for (const { path, type } of ASSETS) {
    const res = await a.request(path);
    const body = await res.text();
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), type, path);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.equal(csp, DASHBOARD_CSP, path);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-|\*|https?:|data:/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.match(res.headers.get("etag") ?? "", /^"[0-9a-f]{14}"$/);
    assert.equal(res.headers.get("cache-control"), CACHE_REVALIDATE, path);
    assert.ok(body.length > 100, `${path} has content`);
  }
});

Deno.test("dashboard: versioned assets are immutable; a matching If-None-Match gets 304", async () => {
  const a = app();
  const html = await (await a.request("/")).text();
  for (const asset of ["/ui/app.js", "/ui/app.css", "/ui/favicon.svg"]) {
    const versioned = `${asset}?v=${DASHBOARD_VERSION}`;
    assert.ok(html.includes(versioned), `page links ${versioned}`);
    const res = await a.request(versioned);
    await res.body?.cancel();
    assert.equal(res.headers.get("cache-control"), CACHE_IMMUTABLE);
    const stale = await a.request(`${asset}?v=0000`);
    await stale.body?.cancel();
    assert.equal(stale.headers.get("cache-control"), CACHE_REVALIDATE);
    const etag = res.headers.get("etag") ?? "";
    const again = await a.request(asset, { headers: { "if-none-match": `"nope", W/${etag}` } });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), "");
    const other = await a.request(asset, { headers: { "if-none-match": '"nope"' } });
    assert.equal(other.status, 200);
    await other.body?.cancel();
  }
});

Deno.test("dashboard: the API stays authenticated; unknown /ui paths are 404", async () => {
  const a = app();
  const metrics = await a.request("/metrics");
  assert.equal(metrics.status, 401);
  await metrics.body?.cancel();
  const missing = await a.request("/ui/other.js");
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, "not_found");
  const head = await a.request("/", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(await head.text(), "");
});

Deno.test("dashboard: the page has no inline code and carries the stable hooks", async () => {
  const html = await (await app().request("/")).text();
  assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, "no inline <script>");
  assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, "no inline style or handlers");
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "no external assets");
  for (
    const hook of [
      'id="login"',
      'id="token"',
      'id="login-error"',
      'id="app"',
      'id="members"',
      'id="raft"',
      'data-field="leader"',
      'id="raft-progress"',
      'id="ring"',
      'id="jobs"',
      'id="logs"',
      'id="status"',
      'id="logout"',
    ]
  ) assert.ok(html.includes(hook), `page has ${hook}`);
});

Deno.test("dashboard: the script parses, never parses HTML from data and loads nothing external", () => {
  // Compiles the script without running it: a syntax error throws here.
  assert.doesNotThrow(() => new Function(DASHBOARD_JS));
  assert.throws(() => new Function(DASHBOARD_JS + "\n}"), SyntaxError);
  assert.doesNotMatch(
    DASHBOARD_JS,
    /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/,
  );
  const urls = DASHBOARD_JS.match(/[a-z]+:\/\/[^\s"')]+/gi) ?? [];
  assert.deepEqual(urls, ["http://www.w3.org/2000/svg"], "only the SVG namespace URI");
  for (
    const marker of [
      "/v1/cluster",
      "/v1/logs/tail?limit=50",
      "/v1/jobs",
      "sessionStorage",
      '"Bearer "',
      "interval",
    ]
  ) assert.ok(DASHBOARD_JS.includes(marker), `script has ${marker}`);
  assert.ok(DASHBOARD_JS.includes('class: "chart"'), "charts carry class chart");
  assert.ok(DASHBOARD_JS.includes("dataset.job"), "charts carry data-job");
});

Deno.test("dashboard: the stylesheet imports nothing and supports both color schemes", async () => {
  const css = await (await app().request("/ui/app.css")).text();
  assert.doesNotMatch(css, /@import|url\(/);
  assert.match(css, /prefers-color-scheme: dark/);
  assert.match(css, /\[hidden\] \{ display: none !important; \}/);
});
