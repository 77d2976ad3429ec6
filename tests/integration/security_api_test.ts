/**
 * Security matrix, API half, against a real 3-master cluster: which requests
 * the HTTPS API refuses. Routes come from the node's own app
 * (`lib/api/routes_table.ts`), so a route added there is covered here
 * without editing this file: no token → 401 everywhere but the public
 * routes; reader/operator/admin see 403 exactly where the role table says;
 * forged, expired and foreign tokens → 401; traversal-looking KV keys and
 * request targets never escape their key; DFS paths with `..` are refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TestCluster } from "./cluster_util.ts";
import {
  NODE_API_MODULES,
  nodeListingApp,
  requestMethod,
  type RouteRule,
  routeTable,
} from "../../lib/api/routes_table.ts";
import { isPublicPath } from "../../lib/api/auth.ts";
import { normalizePath } from "../../lib/dfs/paths.ts";
import { DEFAULT_LABEL } from "../../lib/security/init.ts";
import { fromBase64Url, toBase64Url } from "../../lib/security/encoding.ts";
import { authorize, type Role } from "../../lib/security/roles.ts";
import {
  createToken,
  generateEd25519TokenKey,
  generateTokenKeyBytes,
  importHmacTokenKey,
  readTokenKeyFile,
} from "../../lib/security/tokens.ts";

const HOUR = 3_600_000;

interface Reply {
  status: number;
  code: string | undefined;
  text: string;
}

/** One HTTPS request; `token` null sends no Authorization header. */
async function call(
  http: Deno.HttpClient,
  base: string,
  method: string,
  path: string,
  auth: string | null,
  body?: string,
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (auth !== null) headers.authorization = auth;
  const res = await fetch(base + path, {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : body ?? "{}",
    client: http,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: res.status, code, text };
}

/** A raw HTTP/1.1 request over TLS with an exact request target; returns the status line. */
async function rawTarget(base: string, caPem: string, target: string, token: string | null) {
  const url = new URL(base);
  const conn = await Deno.connectTls({
    hostname: url.hostname,
    port: Number(url.port),
    caCerts: [caPem],
  });
  try {
    const auth = token === null ? "" : `authorization: Bearer ${token}\r\n`;
    const req = `GET ${target} HTTP/1.1\r\nhost: ${url.host}\r\n${auth}connection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(req));
    const dec = new TextDecoder();
    const buf = new Uint8Array(16 * 1024);
    let text = "";
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n), { stream: true });
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? "0");
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    try {
      conn.close();
    } catch {
      // already closed by the server
    }
  }
}

/** Routes every node must protect this way, whatever else the table says. */
const PINNED: Record<string, string> = {
  "GET /metrics": "cluster:read",
  "GET /v1/cluster": "cluster:read",
  "GET /v1/kv": "kv:read",
  "GET /v1/kv/*": "kv:read",
  "PUT /v1/kv/*": "kv:write",
  "DELETE /v1/kv/*": "kv:write",
  "POST /v1/raft/members": "cluster:admin",
  "DELETE /v1/raft/members/:id": "cluster:admin",
  "POST /v1/raft/transfer": "cluster:admin",
  "GET /v1/logs/grep": "logs:read",
  "GET /v1/logs/tail": "logs:read",
  "GET /v1/fs": "fs:read",
  "GET /v1/fs/*": "fs:read",
  "PUT /v1/fs/*": "fs:write",
  "POST /v1/fs/*": "fs:write",
  "DELETE /v1/fs/*": "fs:write",
  "POST /v1/jobs": "job:write",
  "GET /v1/jobs": "job:read",
  "DELETE /v1/jobs/:id": "job:write",
  "POST /v1/streams/:name": "job:write",
  "POST /v1/node/leave": "cluster:admin",
};

/** Routes whose success is destructive: admin's success is checked once, at the end. */
const DESTRUCTIVE = new Set(["POST /v1/node/leave"]);

function tamperRole(token: string, role: string): string {
  const [tag, body, sig] = token.split(".");
  const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(body)!));
  claims.role = role;
  return `${tag}.${toBase64Url(new TextEncoder().encode(JSON.stringify(claims)))}.${sig}`;
}

function flipLastSignatureChar(token: string): string {
  const last = token.at(-2) === "A" ? "B" : "A";
  return token.slice(0, -2) + last + token.slice(-1);
}

Deno.test({
  name: "security matrix (API): real 3-master cluster",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const rules: RouteRule[] = await routeTable((verify) => nodeListingApp(verify));
    const nonPublic = rules.filter((r) => r.access.kind !== "public");

    await t.step(
      "route table: node.ts wires only listed modules; every route is guarded",
      async () => {
        const nodeTs = await Deno.readTextFile(new URL("../../lib/node.ts", import.meta.url));
        const wired = new Set(
          nodeTs.match(/\b(?:[a-z]\w*\.)?[a-z]\w*(?:Routes|Module)\b|\b[a-z]\w*\.routes\b/g) ?? [],
        );
        const missing = [...wired].filter((m) => !NODE_API_MODULES.includes(m));
        assert.deepEqual(
          missing,
          [],
          "lib/node.ts wires API modules routes_table.ts does not build",
        );
        assert.ok(rules.length >= 12, `only ${rules.length} routes found`);
        for (const r of rules) {
          const id = `${r.method} ${r.path}`;
          if (r.access.kind === "public") {
            assert.ok(r.method === "GET" && isPublicPath(r.sample), `${id} is public`);
            continue;
          }
          assert.equal(r.access.kind, "action", `${id} authenticates but checks no action`);
          if (r.access.kind !== "action") continue;
          if (requestMethod(r.method) !== "GET") {
            assert.ok(!r.access.action.endsWith(":read"), `${id} writes under a read action`);
          }
        }
        for (const [id, action] of Object.entries(PINNED)) {
          const r = rules.find((x) => `${x.method} ${x.path}` === id);
          assert.ok(r, `route ${id} is missing`);
          assert.deepEqual(r.access, { kind: "action", action }, id);
        }
      },
    );

    const c = await TestCluster.start();
    const caPem = await Deno.readTextFile(join(c.dir, "ca.pem"));
    const http = Deno.createHttpClient({ caCerts: [caPem] });
    try {
      const leader = await c.waitForLeader(10_000);
      const base = c.nodes.get(leader)!.api;
      const key = await readTokenKeyFile(join(c.dir, "token.key"));
      const token = (role: Role, extra: { cluster?: string; now?: number; ttlMs?: number } = {}) =>
        createToken(key, {
          subject: `sec-${role}`,
          role,
          cluster: extra.cluster ?? DEFAULT_LABEL,
          ttlMs: extra.ttlMs ?? HOUR,
          now: extra.now,
        });
      const tokens: Record<Role, string> = {
        reader: await token("reader"),
        operator: await token("operator"),
        admin: await token("admin"),
      };

      await t.step("no token → 401 on every route except /v1/health*, / and /ui/*", async () => {
        for (const n of c.nodes.values()) {
          for (const r of nonPublic) {
            const res = await call(http, n.api, requestMethod(r.method), r.sample, null);
            assert.equal(res.status, 401, `${n.id} ${r.method} ${r.sample}: ${res.text}`);
            assert.equal(res.code, "unauthorized");
          }
          for (const r of rules.filter((x) => x.access.kind === "public")) {
            const res = await call(http, n.api, "GET", r.sample, null);
            assert.ok([200, 503].includes(res.status), `${n.id} GET ${r.sample}: ${res.status}`);
          }
          const h = await call(http, n.api, "GET", "/v1/health", null);
          assert.equal(h.status, 200);
        }
      });

      await t.step(
        "roles: reader cannot write, operator cannot administer, admin can",
        async () => {
          for (const r of nonPublic) {
            if (r.access.kind !== "action") continue;
            const action = r.access.action;
            for (const role of ["reader", "operator", "admin"] as const) {
              if (role === "admin" && DESTRUCTIVE.has(`${r.method} ${r.path}`)) continue;
              const res = await call(
                http,
                base,
                requestMethod(r.method),
                r.sample,
                `Bearer ${tokens[role]}`,
              );
              const where =
                `${role} ${r.method} ${r.sample} (${action}): ${res.status} ${res.text}`;
              if (authorize(role, action)) {
                assert.ok(res.status !== 401 && res.status !== 403, where);
                assert.notEqual(res.status, 500, where);
              } else {
                assert.equal(res.status, 403, where);
                assert.equal(res.code, "forbidden", where);
              }
            }
          }
          // A refused write leaves no trace.
          const path = "/v1/kv/sec/reader-write";
          const w = await call(http, base, "PUT", path, `Bearer ${tokens.reader}`, "v");
          assert.equal(w.status, 403);
          assert.equal((await call(http, base, "GET", path, `Bearer ${tokens.admin}`)).status, 404);
          const ok = await call(http, base, "PUT", path, `Bearer ${tokens.operator}`, "v");
          assert.equal(ok.status, 200, ok.text);
          const d = await call(http, base, "DELETE", path, `Bearer ${tokens.reader}`);
          assert.equal(d.status, 403);
          assert.equal((await call(http, base, "GET", path, `Bearer ${tokens.admin}`)).status, 200);
          const cluster = await call(http, base, "GET", "/v1/cluster", `Bearer ${tokens.admin}`);
          assert.equal(cluster.status, 200, "membership unchanged and readable");
          const voters = (JSON.parse(cluster.text) as { raft: { voters: string[] } }).raft.voters;
          assert.deepEqual([...voters].sort(), ["m1", "m2", "m3"]);
        },
      );

      await t.step("forged, expired and other clusters' tokens → 401", async () => {
        const otherKey = await importHmacTokenKey(generateTokenKeyBytes());
        const ed = await generateEd25519TokenKey();
        const sign = (k: typeof key, cluster = DEFAULT_LABEL) =>
          createToken(k, { subject: "intruder", role: "admin", cluster, ttlMs: HOUR });
        const cases: [string, string, string][] = [
          [
            "tampered payload (reader → admin)",
            `Bearer ${tamperRole(tokens.reader, "admin")}`,
            "token_bad_signature",
          ],
          [
            "wrong signature",
            `Bearer ${flipLastSignatureChar(tokens.admin)}`,
            "token_bad_signature",
          ],
          [
            "signature of another token",
            `Bearer ${tokens.admin.split(".").slice(0, 2).join(".")}.${
              tokens.reader.split(".")[2]
            }`,
            "token_bad_signature",
          ],
          [
            "signed with another cluster's key",
            `Bearer ${await sign(otherKey)}`,
            "token_bad_signature",
          ],
          [
            "same key, other cluster label",
            `Bearer ${await sign(key, "other-cluster")}`,
            "token_wrong_cluster",
          ],
          ["Ed25519 token (algorithm switch)", `Bearer ${await sign(ed)}`, "token_bad_signature"],
          [
            "expired",
            `Bearer ${await token("admin", { now: Date.now() - 2 * HOUR })}`,
            "token_expired",
          ],
          [
            "unsigned",
            `Bearer ${tokens.admin.split(".").slice(0, 2).join(".")}.`,
            "token_malformed",
          ],
          ["truncated", `Bearer ${tokens.admin.slice(0, -1)}`, "token_malformed"],
          ["oversized", `Bearer ${"a".repeat(5000)}`, "token_malformed"],
          ["Basic scheme", `Basic ${tokens.admin}`, "unauthorized"],
          ["two tokens", `Bearer ${tokens.admin} ${tokens.admin}`, "unauthorized"],
          ["empty bearer", "Bearer ", "unauthorized"],
        ];
        for (const [what, auth, code] of cases) {
          for (const r of nonPublic) {
            const res = await call(http, base, requestMethod(r.method), r.sample, auth);
            assert.equal(res.status, 401, `${what}: ${r.method} ${r.sample}: ${res.text}`);
            assert.equal(res.code, code, `${what}: ${r.method} ${r.sample}`);
          }
        }
        // The real token still works after all that (no lock-out, no cache poisoning).
        assert.equal(
          (await call(http, base, "GET", "/v1/cluster", `Bearer ${tokens.admin}`)).status,
          200,
        );
      });

      await t.step("path traversal: KV keys are plain keys; DFS paths refuse '..'", async () => {
        const admin = `Bearer ${tokens.admin}`;
        const put = (k: string, v: string) => call(http, base, "PUT", `/v1/kv/${k}`, admin, v);
        const get = (k: string) => call(http, base, "GET", `/v1/kv/${k}`, admin);
        // "..%2F.." is the key "../.." and nothing else.
        assert.equal((await put("..%2F..", "dots")).status, 200);
        const dots = await get("..%2F..");
        assert.equal(dots.status, 200);
        assert.deepEqual(JSON.parse(dots.text).key, "../..");
        // No normalization: "a/../_sys/x" does not reach the reserved "_sys/x".
        assert.equal((await put("a%2F..%2F_sys%2Fx", "v")).status, 200);
        assert.equal((await get("_sys%2Fx")).status, 404);
        assert.equal((await get("a%2F..%2F_sys%2Fx")).status, 200);
        // Reserved keys stay reserved however they are spelled.
        for (const k of ["_sys%2F..%2Fx", "_sys/raft/addr/m9", "%5Fsys%2Fx"]) {
          const r = await put(k, "127.0.0.1:1");
          assert.equal(r.status, 403, `${k}: ${r.text}`);
          assert.equal(r.code, "kv_reserved_key");
        }
        // Dot segments in the request target never become keys.
        for (const target of ["/v1/kv/../x", "/v1/kv/%2e%2e/x", "/v1/kv/./..", "/v1/kv/%2E%2E"]) {
          const r = await rawTarget(base, caPem, target, tokens.admin);
          assert.ok([400, 404].includes(r.status), `${target}: ${r.status}`);
        }
        const listed = await call(http, base, "GET", "/v1/kv?prefix=&limit=100000", admin);
        const keys = (JSON.parse(listed.text) as { items: { key: string }[] }).items.map((i) =>
          i.key
        );
        assert.ok(!keys.includes("x") && !keys.includes(".."), `keys: ${keys.join(",")}`);
        // Public prefixes do not open other routes.
        for (const target of ["/v1/health/..%2F..%2Fv1%2Fkv%2F..%2F..", "/ui/..%2Fv1%2Fcluster"]) {
          const r = await rawTarget(base, caPem, target, null);
          assert.equal(r.status, 404, `${target}: ${r.status}`);
        }
        // DFS paths (lib/dfs/paths.ts, which the /v1/fs routes use).
        for (const p of ["..", "/a/../b", "a/./b", "/a/b/..", "a\\..\\b", "/a//b", "a\u0000b"]) {
          assert.throws(() => normalizePath(p), { code: "fs_invalid_path" }, p);
        }
        assert.equal(normalizePath("a/..b/c.."), "/a/..b/c..");
        // The /v1/fs routes: encoded dot segments, backslashes and NULs are refused.
        const fsTargets = [
          "..%2F..%2Fetc%2Fpasswd",
          "a%2F..%2F..%2Fx",
          "a/%2e%2e%2Fb",
          "%2E%2E",
          "a%5C..%5Cb",
          "a%00b",
          "a//b",
        ];
        for (const target of fsTargets) {
          for (const method of ["PUT", "GET", "DELETE"]) {
            const r = await call(http, base, method, `/v1/fs/${target}`, admin, "x");
            assert.ok(r.status === 400 || r.status === 404, `${method} ${target}: ${r.text}`);
            if (r.status === 400) assert.equal(r.code, "fs_invalid_path", `${method} ${target}`);
          }
        }
        const files = await call(http, base, "GET", "/v1/fs?prefix=/", admin);
        assert.equal(files.status, 200, files.text);
        const names = (JSON.parse(files.text) as { files: { path: string }[] }).files.map((f) =>
          f.path
        );
        assert.ok(names.every((n) => !n.includes("..") && !n.includes("\\")), names.join(","));
      });

      await t.step("admin can make a node leave (POST /v1/node/leave)", async () => {
        const follower = [...c.nodes.keys()].find((id) => id !== leader)!;
        const n = c.nodes.get(follower)!;
        for (const role of ["reader", "operator"] as const) {
          const r = await call(http, n.api, "POST", "/v1/node/leave", `Bearer ${tokens[role]}`);
          assert.equal(r.status, 403, `${role}: ${r.text}`);
        }
        const r = await call(http, n.api, "POST", "/v1/node/leave", `Bearer ${tokens.admin}`);
        assert.equal(r.status, 202, r.text);
        const exited = await Promise.race([
          n.proc!.status.then(() => true),
          new Promise<boolean>((res) => setTimeout(() => res(false), 15_000)),
        ]);
        assert.ok(exited, `${follower} still runs 15 s after leaving`);
      });
    } finally {
      http.close();
      await c.stop();
    }
  },
});
