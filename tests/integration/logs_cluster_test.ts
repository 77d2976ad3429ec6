/**
 * Distributed grep across 4 real processes (`fixtures/logs_node.ts`), each
 * serving its own generated logs over mutual-TLS RPC; one also serves the
 * HTTPS API. For frequent, infrequent, no-match, case-insensitive and regex
 * patterns the cluster answer (node, file, line, text, and `-c` counts)
 * equals GNU grep run locally over the same files (`LC_ALL=C.UTF-8`); the
 * CLI prints the same lines. A SIGSTOPped node times out and a node killed
 * with SIGKILL mid-query is reported missing at once: both give partial
 * answers naming the node, with the other nodes' results complete.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { type GeneratedNode, generateLogFiles, RARE_STRINGS } from "../../lib/logs/generate.ts";
import type { ClusterGrepResult } from "../../lib/logs/cluster.ts";
import { LogsProc, REPO_ROOT, writeIdentities } from "./fixtures/logs_node.ts";

const TOKEN = "logs-test-token";

interface Case {
  pattern: string;
  i?: boolean;
  E?: boolean;
  min: number;
  max?: number;
}

const CASES: Case[] = [
  { pattern: "appended entries", min: 500 },
  { pattern: RARE_STRINGS[0], min: 1, max: 60 },
  { pattern: "no such string anywhere", min: 0, max: 0 },
  { pattern: "échec D'AUTHENTIFICATION", i: true, min: 10 },
  { pattern: "blk_[0-9a-f]{3}ff", E: true, min: 1 },
  { pattern: "(get|put) /v1/fs/.*[ée]", E: true, i: true, min: 1 },
];

/** GNU grep over one node's files (run in its log dir, so names are base names). */
async function gnuGrep(node: GeneratedNode, c: Case, count: boolean): Promise<string[]> {
  const args = [
    "-H",
    c.E ? "-E" : "-F",
    ...(c.i ? ["-i"] : []),
    count ? "-c" : "-n",
    "-e",
    c.pattern,
    "--",
    ...node.files.map((f) => basename(f)),
  ];
  const out = await new Deno.Command("grep", {
    args,
    cwd: join(node.dataDir, "logs"),
    env: { LC_ALL: "C.UTF-8" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code > 1) throw new Error(`grep failed: ${new TextDecoder().decode(out.stderr)}`);
  const text = new TextDecoder().decode(out.stdout);
  return text === "" ? [] : text.replace(/\n$/, "").split("\n").map((l) => `${node.node}:${l}`);
}

async function expected(nodes: GeneratedNode[], c: Case, count: boolean): Promise<string[]> {
  const sorted = [...nodes].sort((a, b) => (a.node < b.node ? -1 : 1));
  return (await Promise.all(sorted.map((n) => gnuGrep(n, c, count)))).flat();
}

function query(c: Case, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams({ pattern: c.pattern, ...extra });
  if (c.i) q.set("i", "1");
  if (c.E) q.set("E", "1");
  return `/v1/logs/grep?${q}`;
}

Deno.test("logs: cluster grep over 4 processes equals GNU grep; partial answers name missing nodes", async () => {
  const root = await Deno.makeTempDir({ prefix: "ec-logs-it-" });
  const procs: LogsProc[] = [];
  let client: Deno.HttpClient | undefined;
  try {
    const nodes = await generateLogFiles(join(root, "data"), {
      seed: 2026,
      nodes: 4,
      bytesPerNode: 1_500_000,
      rotateBytes: 600_000,
    });
    const ids = nodes.map((n) => n.node);
    assert.deepEqual(ids, ["m1", "w1", "w2", "w3"]);
    await writeIdentities(join(root, "ids"), ids);
    const caPem = await Deno.readTextFile(join(root, "ids", "ca.pem"));
    client = Deno.createHttpClient({ caCerts: [caPem] });
    const started = await Promise.allSettled(nodes.map((n) =>
      LogsProc.spawn({
        id: n.node,
        ids: join(root, "ids"),
        data: n.dataDir,
        token: n.node === "m1" ? TOKEN : undefined,
      })
    ));
    for (const s of started) if (s.status === "fulfilled") procs.push(s.value);
    for (const s of started) if (s.status === "rejected") throw s.reason;
    const peers = Object.fromEntries(procs.map((p) => [p.id, p.rpc]));
    await Promise.all(procs.map((p) => p.setPeers(peers)));
    const api = procs.find((p) => p.id === "m1")!.api;
    const proc = (id: string) => procs.find((p) => p.id === id)!;
    const get = async (path: string): Promise<ClusterGrepResult> => {
      const res = await fetch(api + path, {
        headers: { authorization: `Bearer ${TOKEN}` },
        client,
      });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      return body;
    };

    // 1. Every pattern: lines and counts equal GNU grep's, node by node.
    for (const c of CASES) {
      const r = await get(query(c));
      assert.equal(r.partial, false, JSON.stringify(r.missing));
      assert.equal(r.truncated, false);
      const ours = r.matches.map((m) => `${m.node}:${m.file}:${m.line}:${m.text}`);
      const theirs = await expected(nodes, c, false);
      assert.equal(ours.length, theirs.length, `${c.pattern}: ${ours.length} vs ${theirs.length}`);
      assert.deepEqual(ours, theirs, c.pattern);
      assert.ok(
        ours.length >= c.min && ours.length <= (c.max ?? Infinity),
        `${c.pattern}: ${ours.length}`,
      );
      const counted = await get(query(c, { c: "1" }));
      assert.deepEqual(
        counted.counts.map((x) => `${x.node}:${x.file}:${x.count}`),
        await expected(nodes, c, true),
      );
      assert.equal(counted.total, theirs.length);
      for (const n of counted.nodes) {
        assert.equal(n.total, theirs.filter((l) => l.startsWith(`${n.node}:`)).length);
      }
    }

    // 2. The CLI prints the same lines (node:file:line:text) and -c totals.
    const cli = async (args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-P",
          "main.ts",
          "logs",
          ...args,
          "--api",
          api,
          "--token",
          TOKEN,
          "--ca",
          join(root, "ids", "ca.pem"),
        ],
        cwd: REPO_ROOT,
        env: { ELASTICORE_API: "", ELASTICORE_TOKEN: "", ELASTICORE_CA: "" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return {
        code: out.code,
        out: new TextDecoder().decode(out.stdout).replace(/\n$/, "").split("\n"),
        err: new TextDecoder().decode(out.stderr),
      };
    };
    const viaCli = await cli(["grep", "-i", CASES[3].pattern]);
    assert.equal(viaCli.code, 0, viaCli.err);
    assert.deepEqual(viaCli.out, await expected(nodes, CASES[3], false));
    const cliCount = await cli(["grep", "-c", "-E", CASES[4].pattern]);
    const total = (await expected(nodes, CASES[4], false)).length;
    assert.equal(cliCount.out[cliCount.out.length - 1], `total:${total}`);
    const tail = await cli(["tail", "-n", "7"]);
    assert.equal(tail.code, 0, tail.err);
    assert.equal(tail.out.length, 7);

    // 3. A stopped node: the answer comes at the timeout, partial, naming it.
    const frequent = CASES[0];
    const full = await expected(nodes, frequent, false);
    proc("w2").signal("SIGSTOP");
    const t0 = performance.now();
    const stopped = await get(query(frequent, { timeout: "1500" }));
    const took = performance.now() - t0;
    proc("w2").signal("SIGCONT");
    assert.ok(took >= 1400 && took < 6000, `took ${took} ms`);
    assert.equal(stopped.partial, true);
    assert.deepEqual(stopped.missing.map((m) => m.node), ["w2"]);
    assert.match(stopped.missing[0].reason, /^timeout/);
    assert.deepEqual(
      stopped.matches.map((m) => `${m.node}:${m.file}:${m.line}:${m.text}`),
      full.filter((l) => !l.startsWith("w2:")),
    );

    // 4. kill -9 mid-query: w3 holds the request (stopped), then dies; the answer
    //    does not wait for the 20 s timeout and names w3.
    const w3 = proc("w3");
    w3.signal("SIGSTOP");
    const t1 = performance.now();
    const pending = get(query(frequent, { timeout: "20000" }));
    await new Promise((r) => setTimeout(r, 400));
    w3.signal("SIGKILL");
    const killed = await pending;
    const tookKilled = performance.now() - t1;
    assert.ok(tookKilled < 10_000, `took ${tookKilled} ms`);
    assert.equal(killed.partial, true);
    assert.deepEqual(killed.missing.map((m) => m.node), ["w3"]);
    assert.match(killed.missing[0].reason, /^unreachable/);
    assert.deepEqual(
      killed.matches.map((m) => `${m.node}:${m.file}:${m.line}:${m.text}`),
      full.filter((l) => !l.startsWith("w3:")),
    );
    // w3 stays dead: calls to it now fail to connect until the timeout.
    const partialCli = await cli(["grep", "-c", "--timeout", "1500", frequent.pattern]);
    assert.equal(partialCli.code, 0);
    assert.match(partialCli.err, /warning: partial answer, missing: w3 \(unreachable/);
    const strict = await cli(["grep", "--strict", "-c", "--timeout", "1500", frequent.pattern]);
    assert.equal(strict.code, 1);
    assert.match(strict.err, /error\[logs_partial\]/);
  } finally {
    await Promise.all(procs.map((p) => p.close()));
    client?.close();
    await Deno.remove(root, { recursive: true });
  }
});
