import assert from "node:assert/strict";
import { createApiApp } from "../../lib/api/app.ts";
import type { Principal } from "../../lib/api/auth.ts";
import { need } from "../../lib/api/auth.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";

const TOKENS: Record<string, Principal> = {
  "tok-admin": { subject: "alice", role: "admin" },
  "tok-reader": { subject: "bob", role: "reader" },
};

function app(leader = false) {
  return createApiApp({
    verify: (t) => {
      const p = TOKENS[t];
      if (!p) {
        return Promise.reject(new ElasticoreError("token_invalid", "bad token", { status: 401 }));
      }
      return Promise.resolve(p);
    },
    metrics: new MetricsRegistry(),
    health: () => ({ node: "m1", status: "ok", roles: ["master"], version: "test" }),
    isLeader: () => leader,
    maxBodyBytes: 16,
    modules: [(a) => {
      a.put("/v1/kv/:key", need("kv:write"), async (c) => c.json({ got: await c.req.text() }));
      a.get("/v1/boom", () => {
        throw new Error("kaput");
      });
    }],
  });
}

async function call(
  a: ReturnType<typeof app>,
  method: string,
  path: string,
  token?: string,
  body?: string,
) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await a.request(path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, text, json: text.startsWith("{") ? JSON.parse(text) : undefined };
}

Deno.test("api: health is public; leader health is 200 only on the leader", async () => {
  assert.equal((await call(app(), "GET", "/v1/health")).status, 200);
  assert.equal((await call(app(false), "GET", "/v1/health/leader")).status, 503);
  assert.equal((await call(app(true), "GET", "/v1/health/leader")).status, 200);
});

Deno.test("api: no token 401, forged 401, wrong role 403, right role 200", async () => {
  const a = app();
  const none = await call(a, "PUT", "/v1/kv/x", undefined, "v");
  assert.equal(none.status, 401);
  assert.equal(none.json.error.code, "unauthorized");
  assert.equal((await call(a, "PUT", "/v1/kv/x", "forged", "v")).status, 401);
  const reader = await call(a, "PUT", "/v1/kv/x", "tok-reader", "v");
  assert.equal(reader.status, 403);
  assert.equal(reader.json.error.code, "forbidden");
  const ok = await call(a, "PUT", "/v1/kv/x", "tok-admin", "v");
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { got: "v" });
  assert.equal((await call(a, "GET", "/metrics")).status, 401);
});

Deno.test("api: errors are JSON with stable codes; oversized bodies 413; unknown routes 404", async () => {
  const a = app();
  const boom = await call(a, "GET", "/v1/boom", "tok-admin");
  assert.equal(boom.status, 500);
  assert.equal(boom.json.error.code, "internal");
  const big = await call(a, "PUT", "/v1/kv/x", "tok-admin", "x".repeat(100));
  assert.equal(big.status, 413);
  assert.equal(big.json.error.code, "body_too_large");
  const missing = await call(a, "GET", "/v1/nope", "tok-admin");
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, "not_found");
});

Deno.test("api: /metrics counts requests in Prometheus format", async () => {
  const a = app();
  await call(a, "GET", "/v1/health");
  const m = await call(a, "GET", "/metrics", "tok-reader");
  assert.equal(m.status, 200);
  assert.match(
    m.text,
    /elasticore_http_requests_total\{method="GET",route="\/v1\/health",status="200"\} 1/,
  );
});

Deno.test("api: the token cache reuses verifications until the TTL or the token's expiry", async () => {
  const { cachingVerifier } = await import("../../lib/api/auth.ts");
  let calls = 0;
  let clock = 1_000_000;
  const v = cachingVerifier((t) => {
    calls++;
    if (t === "bad") {
      return Promise.reject(new ElasticoreError("token_invalid", "bad", { status: 401 }));
    }
    return Promise.resolve({ subject: t, role: "reader", claims: { exp: (clock + 5_000) / 1000 } });
  }, { ttlMs: 10_000, maxEntries: 2, now: () => clock });
  await v("a");
  await v("a");
  assert.equal(calls, 1);
  clock += 6_000; // past the token's expiry (5 s), before the TTL (10 s)
  await v("a");
  assert.equal(calls, 2);
  await assert.rejects(v("bad"));
  await assert.rejects(v("bad"));
  assert.equal(calls, 4, "failures are not cached");
  await v("b");
  await v("c"); // evicts the least recently used ("a")
  await v("a");
  assert.equal(calls, 7);
});
