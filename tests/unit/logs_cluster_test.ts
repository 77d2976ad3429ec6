/**
 * Cluster grep and tail over real in-process RPC nodes (mutual TLS on
 * 127.0.0.1): merge order and counts, node filters, partial answers when a
 * member's handler hangs past the budget or its RPC layer is closed, and
 * tail merge ordering and follow cursors.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { logsMessages } from "../../proto/logs.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { clusterGrep, clusterTail, mergeByTs } from "../../lib/logs/cluster.ts";
import { type GeneratedNode, generateLogFiles } from "../../lib/logs/generate.ts";
import { scanLogs } from "../../lib/logs/scanner.ts";
import { LogService } from "../../lib/logs/service.ts";
import { startTestNode, type TestNode, testPki } from "../../lib/transport/testing.ts";

interface Member {
  gen: GeneratedNode;
  node: TestNode;
  service: LogService;
}

async function cluster(bytesPerNode = 200_000): Promise<{ members: Member[]; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ec-logs-cluster-" });
  const gens = await generateLogFiles(dir, {
    seed: 11,
    nodes: 3,
    bytesPerNode,
    rotateBytes: 80_000,
  });
  const pki = await testPki();
  const members: Member[] = [];
  for (const gen of gens) {
    const node = await startTestNode({
      kind: "tcp",
      identity: await pki.identity(gen.node),
      messages: logsMessages,
    });
    const service = new LogService({ nodeId: gen.node, dataDir: gen.dataDir });
    service.register(node.rpc);
    members.push({ gen, node, service });
  }
  for (const a of members) {
    for (const b of members) if (a !== b) a.node.rpc.addPeer(b.gen.node, b.node.addr);
  }
  return { members, dir };
}

async function close(c: { members: Member[]; dir: string }): Promise<void> {
  for (const m of c.members) await m.node.rpc.close().catch(() => {});
  await Deno.remove(c.dir, { recursive: true });
}

const ids = (ms: Member[]) => () => ms.map((m) => ({ id: m.gen.node }));

Deno.test("logs cluster: grep merges every node's matches by node, file, line; counts add up", async () => {
  const c = await cluster();
  try {
    const [m1] = c.members;
    const req = { pattern: "appended entries" };
    const r = await clusterGrep(ids(c.members), m1.node.rpc, req, { local: m1.service });
    assert.equal(r.partial, false);
    assert.deepEqual(r.missing, []);
    const expected = [];
    for (const m of [...c.members].sort((a, b) => a.gen.node.localeCompare(b.gen.node))) {
      const local = await scanLogs(m.gen.files, req, { maxMatches: 1e6 });
      for (const x of local.matches) {
        expected.push({ node: m.gen.node, file: basename(x.file), line: x.line, text: x.text });
      }
    }
    assert.ok(expected.length > 50, `${expected.length} matches`);
    assert.deepEqual(r.matches, expected);
    assert.equal(r.total, expected.length);
    assert.deepEqual(r.nodes.map((n) => n.node), ["m1", "w1", "w2"]);

    const counted = await clusterGrep(ids(c.members), m1.node.rpc, { ...req, count: true }, {
      local: m1.service,
    });
    assert.equal(counted.total, expected.length);
    assert.deepEqual(counted.matches, []);
    for (const n of counted.nodes) {
      assert.equal(n.total, expected.filter((e) => e.node === n.node).length);
    }
    assert.equal(counted.counts.reduce((a, x) => a + x.count, 0), expected.length);

    // Only some nodes; an unknown one is reported missing, not silently dropped.
    const some = await clusterGrep(ids(c.members), m1.node.rpc, req, {
      local: m1.service,
      nodes: ["w2", "nope"],
    });
    assert.deepEqual([...new Set(some.matches.map((m) => m.node))], ["w2"]);
    assert.equal(some.partial, true);
    assert.equal(some.missing[0].node, "nope");
    assert.match(some.missing[0].reason, /not_member/);

    // maxMatches per node truncates and says so.
    const few = await clusterGrep(ids(c.members), m1.node.rpc, { ...req, maxMatches: 3 }, {
      local: m1.service,
    });
    assert.equal(few.matches.length, 9);
    assert.equal(few.truncated, true);
    assert.ok(few.nodes.every((n) => n.truncatedBy === "maxMatches"));
  } finally {
    await close(c);
  }
});

Deno.test("logs cluster: a rejected pattern fails before any node is asked", async () => {
  const c = await cluster(20_000);
  try {
    const [m1] = c.members;
    await assert.rejects(
      clusterGrep(ids(c.members), m1.node.rpc, { pattern: "(a+)+$", regex: true }),
      (e: unknown) =>
        e instanceof ElasticoreError && e.code === "logs_pattern_rejected" && e.status === 400,
    );
    // A remote node rejects it too if asked directly (the pattern is data, checked everywhere).
    await assert.rejects(
      m1.node.rpc.call("w1", "logs.grep", { pattern: "(a|aa)*b", regex: true }),
      (e: unknown) => e instanceof ElasticoreError && /logs_pattern_rejected/.test(e.message),
    );
  } finally {
    await close(c);
  }
});

Deno.test("logs cluster: a member whose handler hangs past the budget is reported missing", async () => {
  const c = await cluster(40_000);
  try {
    const [m1, , w2] = c.members;
    // w2 answers nothing: its handler never resolves.
    w2.node.rpc.handle("logs.grep", () => new Promise(() => {}));
    const t0 = performance.now();
    const r = await clusterGrep(ids(c.members), m1.node.rpc, { pattern: "probe" }, {
      local: m1.service,
      timeoutMs: 600,
    });
    const took = performance.now() - t0;
    assert.ok(took >= 550 && took < 3000, `took ${took} ms`);
    assert.equal(r.partial, true);
    assert.deepEqual(r.missing.map((m) => m.node), ["w2"]);
    assert.match(r.missing[0].reason, /^timeout/);
    assert.deepEqual(r.nodes.map((n) => n.node), ["m1", "w1"]);
    assert.ok(r.matches.length > 0);
    assert.ok(r.matches.every((m) => m.node !== "w2"));
  } finally {
    await close(c);
  }
});

Deno.test("logs cluster: a member whose RPC layer is closed is reported unreachable", async () => {
  const c = await cluster(40_000);
  try {
    const [m1, w1] = c.members;
    await w1.node.rpc.close();
    const r = await clusterGrep(ids(c.members), m1.node.rpc, { pattern: "probe", count: true }, {
      local: m1.service,
      timeoutMs: 1500,
    });
    assert.equal(r.partial, true);
    assert.deepEqual(r.missing.map((m) => m.node), ["w1"]);
    assert.match(r.missing[0].reason, /^unreachable/);
    assert.deepEqual(r.nodes.map((n) => n.node), ["m1", "w2"]);
  } finally {
    await close(c);
  }
});

Deno.test("logs cluster: tail merges all nodes by ts; follow returns only new lines", async () => {
  const c = await cluster(30_000);
  try {
    const [m1, w1] = c.members;
    const all = [];
    for (const m of c.members) {
      for (const f of m.gen.files) {
        const text = await Deno.readTextFile(f);
        for (const l of text.split("\n")) if (l) all.push(JSON.parse(l));
      }
    }
    const byTs = [...all].sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts));
    const r = await clusterTail(ids(c.members), m1.node.rpc, { limit: 40 }, { local: m1.service });
    assert.equal(r.partial, false);
    assert.equal(r.lines.length, 40);
    const ts = r.lines.map((l) => Date.parse(l.ts));
    assert.deepEqual(ts, [...ts].sort((a, b) => a - b));
    // The newest 40 of the union (ties may come in any node order).
    assert.deepEqual(ts, byTs.slice(-40).map((l) => Date.parse(l.ts)));
    assert.deepEqual(Object.keys(r.cursors).sort(), ["m1", "w1", "w2"]);

    // Filters reach every node.
    const errs = await clusterTail(ids(c.members), m1.node.rpc, {
      limit: 1000,
      level: "error",
      subsystems: ["raft", "dfs"],
    }, { local: m1.service });
    assert.ok(errs.lines.length > 0);
    assert.ok(
      errs.lines.every((l) =>
        (l.level === "error" || l.level === "fatal") && ["raft", "dfs"].includes(l.subsystem)
      ),
    );

    // Follow: nothing new, then two lines written on w1 show up, once.
    const idle = await clusterTail(ids(c.members), m1.node.rpc, {
      limit: 10,
      cursors: r.cursors,
    }, { local: m1.service });
    assert.deepEqual(idle.lines, []);
    const later = new Date(Date.parse(byTs[byTs.length - 1].ts) + 1000).toISOString();
    const extra = [1, 2].map((i) =>
      JSON.stringify({ ts: later, level: "info", node: "w1", subsystem: "api", msg: `new ${i}` })
    ).join("\n") + "\n";
    await Deno.writeTextFile(join(w1.gen.dataDir, "logs", "node.jsonl"), extra, { append: true });
    const next = await clusterTail(ids(c.members), m1.node.rpc, {
      limit: 10,
      cursors: idle.cursors,
    }, { local: m1.service });
    assert.deepEqual(
      next.lines.map((l) =>
        l.msg
      ),
      ["new 1", "new 2"],
    );
    const again = await clusterTail(ids(c.members), m1.node.rpc, {
      limit: 10,
      cursors: next.cursors,
    }, { local: m1.service });
    assert.deepEqual(again.lines, []);
  } finally {
    await close(c);
  }
});

Deno.test("logs cluster: mergeByTs orders by time, stable across and within nodes", () => {
  const l = (ts: string, node: string, msg: string) => ({
    ts,
    level: "info",
    node,
    subsystem: "x",
    msg,
  });
  const a = [l("2026-01-01T00:00:01.000Z", "a", "a1"), l("2026-01-01T00:00:03.000Z", "a", "a2")];
  const b = [
    l("2026-01-01T00:00:01.000Z", "b", "b1"),
    l("2026-01-01T00:00:02.000Z", "b", "b2"),
    l("2026-01-01T00:00:02.000Z", "b", "b3"),
  ];
  assert.deepEqual(mergeByTs([a, b]).map((x) => x.msg), ["a1", "b1", "b2", "b3", "a2"]);
  assert.deepEqual(mergeByTs([b, a]).map((x) => x.msg), ["b1", "a1", "b2", "b3", "a2"]);
  assert.deepEqual(mergeByTs([]), []);
});
