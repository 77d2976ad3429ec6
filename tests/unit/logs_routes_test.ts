/**
 * The HTTP routes over `startLogServices` on one real RPC node: the grep
 * and tail JSON shapes (the dashboard's `/v1/logs/tail?limit=50`), auth,
 * 400s for rejected patterns and bad parameters, and the tail cursor.
 */
import assert from "node:assert/strict";
import { MessageRegistry } from "../../proto/codec.ts";
import { createApiApp } from "../../lib/api/app.ts";
import type { Principal } from "../../lib/api/auth.ts";
import { decodeCursor, encodeCursor } from "../../lib/api/logs_routes.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { generateLogFiles } from "../../lib/logs/generate.ts";
import { startLogServices } from "../../lib/logs/mod.ts";
import { scanLogs } from "../../lib/logs/scanner.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";
import { createTransport } from "../../lib/transport/mod.ts";
import { Rpc } from "../../lib/transport/rpc.ts";
import { testPki } from "../../lib/transport/testing.ts";

const TOKENS: Record<string, Principal> = { "tok-reader": { subject: "r", role: "reader" } };

Deno.test("logs routes: grep and tail over HTTP", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ec-logs-routes-" });
  const [gen] = await generateLogFiles(dir, { seed: 3, nodes: 1, bytesPerNode: 100_000 });
  const pki = await testPki();
  const registry = new MessageRegistry();
  const transport = createTransport("tcp", {
    identity: await pki.identity(gen.node),
    cluster: "test",
    registry,
  });
  const rpc = new Rpc({ transport, registry });
  const metrics = new MetricsRegistry();
  const logs = startLogServices({
    nodeId: gen.node,
    dataDir: gen.dataDir,
    rpc,
    registry,
    members: () => [{ id: gen.node }],
    metrics,
  });
  await rpc.start();
  const app = createApiApp({
    verify: (t) =>
      TOKENS[t]
        ? Promise.resolve(TOKENS[t])
        : Promise.reject(new ElasticoreError("token_invalid", "bad token", { status: 401 })),
    metrics,
    health: () => ({ node: gen.node, status: "ok", roles: ["master"], version: "test" }),
    isLeader: () => false,
    maxBodyBytes: 1024,
    modules: [logs.routes],
  });
  const get = async (path: string, token = "tok-reader") => {
    const res = await app.request(path, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.json() };
  };
  try {
    const q = new URLSearchParams({ pattern: "COMMIT INDEX", i: "1" });
    const g = await get(`/v1/logs/grep?${q}`);
    assert.equal(g.status, 200);
    const local = await scanLogs(gen.files, { pattern: "commit index", ignoreCase: true }, {
      maxMatches: 1e6,
    });
    assert.ok(local.matches.length > 5);
    assert.deepEqual(
      g.body.matches.map((m: { node: string; line: number; text: string }) => [
        m.node,
        m.line,
        m.text,
      ]),
      local.matches.map((m) => [gen.node, m.line, m.text]),
    );
    assert.equal(g.body.partial, false);
    const c = await get(`/v1/logs/grep?${q}&c=1`);
    assert.equal(c.body.total, local.matches.length);
    assert.deepEqual(c.body.nodes.map((n: { node: string }) => n.node), [gen.node]);

    const bad = await get(`/v1/logs/grep?pattern=${encodeURIComponent("(a+)+")}&E=1`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, "logs_pattern_rejected");
    assert.equal((await get("/v1/logs/grep")).body.error.code, "logs_bad_request");
    assert.equal((await get("/v1/logs/grep?pattern=x&i=maybe")).status, 400);
    assert.equal(
      (await get("/v1/logs/grep?pattern=x&since=soon")).body.error.code,
      "logs_bad_since",
    );
    assert.equal((await get("/v1/logs/grep?pattern=x", "nope")).status, 401);
    const missing = await get("/v1/logs/grep?pattern=x&node=ghost");
    assert.equal(missing.body.partial, true);
    assert.equal(missing.body.missing[0].node, "ghost");

    const t = await get("/v1/logs/tail?limit=50");
    assert.equal(t.status, 200);
    assert.equal(t.body.lines.length, 50);
    for (const l of t.body.lines) {
      for (const k of ["ts", "level", "node", "subsystem", "msg"]) {
        assert.equal(typeof l[k], "string");
      }
    }
    const all = (await Deno.readTextFile(gen.files[0])).trim().split("\n").map((x) =>
      JSON.parse(x)
    );
    assert.deepEqual(
      t.body.lines.map((l: { msg: string }) => l.msg),
      all.slice(-50).map((l) => l.msg),
    );
    const follow = await get(`/v1/logs/tail?limit=50&cursor=${t.body.cursor}`);
    assert.deepEqual(follow.body.lines, []);
    assert.equal((await get("/v1/logs/tail?cursor=%7B")).body.error.code, "logs_bad_cursor");
    assert.equal((await get("/v1/logs/tail?level=loud")).body.error.code, "logs_bad_level");
    assert.equal((await get("/v1/logs/tail?limit=0")).status, 400);
    assert.match(metrics.render(), /elasticore_logs_grep_total\{result="ok"\}/);
  } finally {
    await logs.stop();
    await rpc.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logs routes: cursors round-trip; forged ones are rejected", () => {
  const c = { m1: "123:456", "w-2": "0:0" };
  assert.deepEqual(decodeCursor(encodeCursor(c)), c);
  for (const bad of ["!!", encodeCursor({ m1: "x" } as Record<string, string>), btoa("[1]")]) {
    assert.throws(
      () => decodeCursor(bad),
      (e: unknown) => e instanceof ElasticoreError && e.code === "logs_bad_cursor",
    );
  }
});
