/**
 * Fuzzes the HTTP API in process: the node's own app (`createApiApp` with the
 * dashboard, cluster, KV and logs routes over a real single-node master: Raft
 * with its WAL in a temp dir, `KvService`, the log services; the DFS, job and
 * node routes over unavailable backends, so their parsing is fuzzed), called
 * through `app.fetch` with random and mutated methods, paths with odd
 * encodings, query strings and bodies (random bytes, JSON, mutated JSON,
 * over the body limit), with valid and broken tokens. Every answer must be a
 * well-formed response; every 4xx/5xx must carry the `{"error":{code,message}}`
 * body; no malformed input may produce a 500 `internal`; nothing may throw
 * out of the app; and no request without a valid token may reach a handler.
 */
import "../../lib/security/pki.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { MessageRegistry } from "../../proto/codec.ts";
import { raftMessages } from "../../proto/raft.ts";
import { createApiApp } from "../../lib/api/app.ts";
import { cachingVerifier } from "../../lib/api/auth.ts";
import { clusterRoutes } from "../../lib/api/cluster_routes.ts";
import { dashboardModule } from "../../lib/api/dashboard/mod.ts";
import { kvRoutes } from "../../lib/api/kv_routes.ts";
import { listRoutes, samplePath, unavailableSource } from "../../lib/api/routes_table.ts";
import { fsRoutes } from "../../lib/api/fs_routes.ts";
import { jobRoutes } from "../../lib/api/job_routes.ts";
import { nodeRoutes } from "../../lib/api/node_routes.ts";
import { getLogger } from "../../lib/log/mod.ts";
import { startLogServices } from "../../lib/logs/mod.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";
import { KvService, registerKvMessages } from "../../lib/raft/node/kv_service.ts";
import { RaftNode } from "../../lib/raft/node/raft_node.ts";
import { createToken, importHmacTokenKey, makeTokenVerifier } from "../../lib/security/tokens.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { createTransport, Rpc } from "../../lib/transport/mod.ts";
import { testPki } from "../../lib/transport/testing.ts";
import { fuzzBudget, fuzzSeed, mutate, randomBytes } from "./fuzz_util.ts";

const CLUSTER = "fuzz";
const MAX_BODY = 64 * 1024;

/** `KvService` with a short learner catch-up wait, so a fuzzed add-member does not stall. */
class FuzzKv extends KvService {
  override addMember(id: string, addr: string): Promise<void> {
    return super.addMember(id, addr, 200);
  }
}

async function startMaster(dir: string) {
  const pki = await testPki("fuzz-ca");
  const identity = await pki.identity("m1");
  const registry = new MessageRegistry().register(raftMessages);
  registerKvMessages(registry);
  const transport = createTransport("tcp", {
    identity,
    cluster: CLUSTER,
    registry,
    hostname: "127.0.0.1",
    port: 0,
    connectTimeoutMs: 200,
  });
  const rpc = new Rpc({ transport, registry, backoffBaseMs: 50, backoffMaxMs: 500 });
  const addr = await rpc.start();
  const metrics = new MetricsRegistry();
  const raft = await RaftNode.open({
    id: "m1",
    dir: join(dir, "raft"),
    rpc,
    members: new Map([["m1", addr]]),
    electionTimeoutMs: 150,
    heartbeatIntervalMs: 30,
    snapshotThreshold: 5_000,
    maxBatchEntries: 256,
    metrics,
    logger: getLogger("raft"),
  });
  const kv = new FuzzKv(raft, rpc);
  const logs = startLogServices({
    nodeId: "m1",
    dataDir: dir,
    rpc,
    registry,
    members: () => [{ id: "m1" }],
    metrics,
  });
  while (!raft.isLeader()) await new Promise((r) => setTimeout(r, 10));
  return { rpc, raft, kv, logs, metrics };
}

const METHODS = ["GET", "GET", "PUT", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"];
const QUERY_KEYS = [
  "overwrite",
  "merge",
  "wait",
  "timeoutMs",
  "output",
  "prefix",
  "limit",
  "cas",
  "consistency",
  "pattern",
  "i",
  "c",
  "E",
  "node",
  "since",
  "max",
  "timeout",
  "level",
  "subsystem",
  "cursor",
  "v",
  "append",
  "stat",
];
const ODD = [
  "..",
  ".",
  "%2e%2e",
  "%2E",
  "%2F",
  "%2f..%2f",
  "%00",
  "%",
  "%zz",
  "%C0%AF",
  "%E0%80%AF",
  "%ED%A0%80",
  "%FF",
  "%u002e",
  "\u00e9",
  "%F0%9F%98%80",
  "_sys",
  "_sys%2F",
  "%5Fsys%2Fx",
  "//",
  "~",
  ";",
  "%3B",
  "?",
  "#",
  "%23",
  "+",
  "%20",
  " ",
  "\\",
  "%5C",
  "*",
  ":",
  "@",
];
const VALUES = [
  "",
  "0",
  "1",
  "-1",
  "01",
  "1e3",
  "0x10",
  "NaN",
  "Infinity",
  "9007199254740993",
  "99999999999999999999",
  "linearizable",
  "stale",
  "true",
  "false",
  "[",
  "(a|b)*c",
  "a{1,99999}",
  "((((((((((a))))))))))",
  "\\",
  "%",
  "%00",
  "\u0000",
  "x".repeat(5000),
  "m1,m2",
  "debug",
  "AAAA",
  "eyJ9",
  "2026-01-01T00:00:00Z",
  "1h",
];

function randomText(prng: Prng, max: number): string {
  const n = prng.int(max + 1);
  let s = "";
  for (let i = 0; i < n; i++) {
    const r = prng.int(10);
    s += r < 6
      ? String.fromCharCode(0x20 + prng.int(95))
      : r < 8
      ? String.fromCharCode(prng.int(0x20))
      : String.fromCharCode(0x80 + prng.int(0xff00));
  }
  return s;
}

/** Percent-encodes the UTF-8 of `s` (lone surrogates become U+FFFD) except unreserved characters. */
function pct(s: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(s)) {
    const ch = String.fromCharCode(b);
    out += /[A-Za-z0-9._~-]/.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function randomPath(prng: Prng, samples: string[]): string {
  const r = prng.int(10);
  if (r < 4) return prng.pick(samples);
  let p: string = r < 8 ? prng.pick(samples) : prng.pick(["", "/v1", "/v1/kv", "/ui", "/v1/raft"]);
  const extra = prng.int(4);
  for (let i = 0; i < extra; i++) {
    const k = prng.int(4);
    const seg = k === 0
      ? prng.pick(ODD)
      : k === 1
      ? pct(randomText(prng, 12))
      : k === 2
      ? randomText(prng, 8)
      : prng.pick(ODD) + pct(randomText(prng, 4));
    p += (prng.chance(0.8) ? "/" : "") + seg;
  }
  if (prng.chance(0.05)) p += "/" + "k".repeat(prng.int(3000));
  if (prng.chance(0.1)) p += "/";
  return p.startsWith("/") ? p : `/${p}`;
}

function randomQuery(prng: Prng): string {
  if (prng.chance(0.4)) return "";
  const parts: string[] = [];
  const n = 1 + prng.int(4);
  for (let i = 0; i < n; i++) {
    const key = prng.chance(0.9) ? prng.pick(QUERY_KEYS) : pct(randomText(prng, 5));
    const raw = prng.chance(0.7) ? prng.pick(VALUES) : randomText(prng, 20);
    const v = prng.chance(0.8) ? pct(raw) : raw.replace(/[#\s]/g, "");
    parts.push(prng.chance(0.1) ? key : `${key}=${v}`);
  }
  return `?${parts.join("&")}`;
}

function randomJson(prng: Prng, depth = 0): unknown {
  const r = prng.int(depth > 2 ? 5 : 8);
  if (r === 0) return null;
  if (r === 1) return prng.chance(0.5);
  if (r === 2) return prng.pick([0, -1, 1.5, 2 ** 53, 1e308, -0]);
  if (r === 3) return prng.pick(["m1", "m2", "127.0.0.1:1", "x:99999", "", randomText(prng, 10)]);
  if (r === 4) return prng.pick(["id", "addr", "to"]);
  if (r === 5) return Array.from({ length: prng.int(4) }, () => randomJson(prng, depth + 1));
  const o: Record<string, unknown> = {};
  for (const k of ["id", "addr", "to", "__proto__", "constructor"]) {
    if (prng.chance(0.5)) o[k] = randomJson(prng, depth + 1);
  }
  return o;
}

function randomBody(prng: Prng): Uint8Array | undefined {
  const r = prng.int(8);
  if (r === 0) return undefined;
  if (r === 1) return randomBytes(prng, prng.int(256));
  if (r === 2) return new TextEncoder().encode(JSON.stringify(randomJson(prng)));
  if (r === 3) return mutate(prng, new TextEncoder().encode(JSON.stringify(randomJson(prng))));
  if (r === 4) return new TextEncoder().encode(randomText(prng, 64));
  if (r === 5) return new Uint8Array(MAX_BODY + 1 + prng.int(1024));
  if (r === 6) return new TextEncoder().encode(`{"id":"l${prng.int(3)}","addr":"127.0.0.1:1"}`);
  return new Uint8Array(0);
}

/** Whether a response is the API's error shape with a non-empty code and message. */
function isErrorBody(text: string): boolean {
  try {
    const b = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    return typeof b.error?.code === "string" && b.error.code.length > 0 &&
      typeof b.error.message === "string";
  } catch {
    return false;
  }
}

Deno.test({
  name: "fuzz: 16,000+ random and mutated HTTP requests against a real single-node master",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ec-http-fuzz-" });
    const node = await startMaster(dir);
    try {
      const prng = new Prng(fuzzSeed() ^ 0x4877);
      const key = await importHmacTokenKey(randomBytes(prng, 32));
      const tokens: string[] = [];
      for (const role of ["reader", "operator", "admin"] as const) {
        tokens.push(
          await createToken(key, { subject: role, role, cluster: CLUSTER, ttlMs: 3.6e6 }),
        );
      }
      let handled = 0;
      const verify = cachingVerifier(makeTokenVerifier(key, CLUSTER));
      const counting = async (t: string) => {
        const p = await verify(t);
        handled++;
        return p;
      };
      const app = createApiApp({
        verify: counting,
        metrics: node.metrics,
        maxBodyBytes: MAX_BODY,
        health: () => ({ node: "m1", status: "ok", roles: ["master"], version: "fuzz" }),
        isLeader: () => node.raft.isLeader(),
        modules: [
          dashboardModule,
          clusterRoutes({ node: "m1", version: "fuzz", members: () => [], kv: () => node.kv }),
          kvRoutes(() => node.kv),
          node.logs.routes,
          // Without the DFS and stream engine: their request parsing and validation is fuzzed.
          fsRoutes(() => unavailableSource("the DFS")),
          jobRoutes({ api: unavailableSource("jobs"), fs: unavailableSource("stream files") }),
          nodeRoutes("m1", { handOff: () => Promise.resolve(null), stop: () => {} }),
        ],
      });
      const samples = listRoutes(app).map((r) => samplePath(r.path));
      const total = fuzzBudget(16_000);
      const statuses = new Map<number, number>();
      let sent = 0;
      let unsendable = 0;
      const started = performance.now();
      for (let i = 0; i < total; i++) {
        const method = prng.pick(METHODS);
        const path = randomPath(prng, samples) + randomQuery(prng);
        const headers = new Headers();
        const auth = prng.int(6);
        if (auth < 3) headers.set("authorization", `Bearer ${prng.pick(tokens)}`);
        else if (auth === 3) {
          const bad = new TextDecoder().decode(
            mutate(prng, new TextEncoder().encode(prng.pick(tokens))),
          );
          try {
            headers.set("authorization", `Bearer ${bad}`);
          } catch {
            headers.set("authorization", "Bearer x");
          }
        }
        if (prng.chance(0.3)) {
          headers.set(
            "content-type",
            prng.pick([
              "application/json",
              "text/plain",
              "application/octet-stream",
              "multipart/form-data; boundary=x",
            ]),
          );
        }
        const body = method === "GET" || method === "HEAD" ? undefined : randomBody(prng);
        let req: Request;
        try {
          req = new Request(`https://node.test${path}`, {
            method,
            headers,
            body: body as BodyInit | undefined,
          });
        } catch {
          unsendable++; // no HTTP client could send it either (invalid URL)
          continue;
        }
        const before = handled;
        const noToken = auth >= 4;
        let res: Response;
        try {
          res = await app.fetch(req);
        } catch (e) {
          assert.fail(`seed ${fuzzSeed()} request ${i}: ${method} ${path} threw ${e}`);
        }
        sent++;
        const text = await res.text();
        const where = `seed ${fuzzSeed()} request ${i}: ${method} ${path} → ${res.status} ${
          text.slice(0, 200)
        }`;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        assert.ok(res.status >= 200 && res.status <= 599, where);
        if (res.status >= 400 && method !== "HEAD") {
          assert.ok(isErrorBody(text), `not an error body: ${where}`);
        }
        assert.ok(res.status !== 500, `500 for malformed input: ${where}`);
        if (noToken) {
          assert.equal(handled, before, `a request without a valid token authenticated: ${where}`);
        }
      }
      const ms = performance.now() - started;
      console.log(
        `http fuzz: ${sent} requests (${unsendable} unsendable skipped) in ${ms.toFixed(0)} ms; ` +
          `statuses ${
            JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))
          }`,
      );
      assert.ok(sent >= total * 0.9, `only ${sent} of ${total} requests could be sent`);
      assert.ok((statuses.get(200) ?? 0) > total / 50, "too few requests got through");
    } finally {
      await node.raft.stop();
      await node.logs.stop();
      await node.rpc.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
