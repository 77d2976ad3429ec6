/**
 * `GET /metrics` of real nodes: a one-master, one-worker cluster does KV, DFS
 * and stream work; scrapes with a reader token before and after must show a
 * series of every subsystem (raft, swim, dfs, stream, transport, http) that
 * moved. A unit test checks the transport exporter on its own.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MetricsRegistry } from "../../lib/metrics.ts";
import { createToken, readTokenKeyFile } from "../../lib/security/tokens.ts";
import { TransportMetrics } from "../../lib/transport/metrics.ts";
import { registerTransportMetrics } from "../../lib/transport/prometheus.ts";
import { DevCluster } from "../../lib/cli/dev_cluster.ts";

/** Parsed exposition: series (`name{labels}`) → value. */
type Scrape = Map<string, number>;

function parseExposition(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `malformed exposition line: ${line}`);
    const v = m[2] === "+Inf" ? Infinity : m[2] === "-Inf" ? -Infinity : Number(m[2]);
    assert.ok(!Number.isNaN(v) || m[2] === "NaN", `bad value in: ${line}`);
    out.set(m[1], v);
  }
  return out;
}

/** Sum of every series of metric `name` whose labels include `match` (e.g. `dir="out"`). */
function total(s: Scrape, name: string, match = ""): number | undefined {
  let sum: number | undefined;
  for (const [k, v] of s) {
    const base = k.includes("{") ? k.slice(0, k.indexOf("{")) : k;
    if (base === name && k.includes(match)) sum = (sum ?? 0) + v;
  }
  return sum;
}

Deno.test("transport exporter: counters follow the plain fields at scrape time", () => {
  const registry = new MetricsRegistry();
  const t = new TransportMetrics();
  const dg = { sent: 0, received: 0, droppedByReason: new Map<string, number>(), sendErrors: 0 };
  registerTransportMetrics(registry, { transport: () => t, datagrams: () => dg });
  let s = parseExposition(registry.render());
  assert.equal(s.get('elasticore_transport_frames_total{dir="in"}'), 0);
  t.framesIn = 7;
  t.bytesOut = 1234;
  t.connectionsOpened = 3;
  t.connectionsClosed = 1;
  t.rejectedFrames.set("frame_too_large", 2);
  t.handshakeFailures.set("plaintext", 1);
  t.reconnects = 4;
  dg.droppedByReason.set("auth_failed", 5);
  dg.sent = 9;
  s = parseExposition(registry.render());
  assert.equal(s.get('elasticore_transport_frames_total{dir="in"}'), 7);
  assert.equal(s.get('elasticore_transport_bytes_total{dir="out"}'), 1234);
  assert.equal(s.get("elasticore_transport_connections_open"), 2);
  assert.equal(s.get('elasticore_transport_rejected_frames_total{code="frame_too_large"}'), 2);
  assert.equal(s.get('elasticore_transport_handshake_failures_total{reason="plaintext"}'), 1);
  assert.equal(s.get("elasticore_transport_reconnects_total"), 4);
  assert.equal(s.get('elasticore_transport_dropped_datagrams_total{reason="auth_failed"}'), 5);
  assert.equal(s.get('elasticore_transport_datagrams_total{dir="out"}'), 9);
  // A source that goes back (a fresh transport) never makes a counter decrease.
  t.framesIn = 2;
  s = parseExposition(registry.render());
  assert.equal(s.get('elasticore_transport_frames_total{dir="in"}'), 7);
  assert.match(registry.render(), /# TYPE elasticore_transport_frames_total counter/);
});

Deno.test({
  name: "metrics: every subsystem's series exist on a real node and move with KV, DFS and job work",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ec-metrics-" });
    const c = new DevCluster({
      masters: 1,
      workers: 1,
      dir,
      // Below the ephemeral range (32768+), where outgoing connections could hold a port.
      portBase: 15000 + Math.floor(Math.random() * 25) * 100,
      transport: "tcp",
      set: ["dfs.replication=2"],
    });
    await c.init();
    const http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(c.caFile)] });
    const apiOf = (id: string) => c.nodes.find((n) => n.id === id)!.api;
    try {
      await c.start();
      await c.waitForLeader(60_000);
      const admin = await c.token();
      const request = async (method: string, path: string, body?: string, token = admin) => {
        const res = await fetch(apiOf("m1") + path, {
          method,
          body,
          client: http,
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(60_000),
        });
        const text = await res.text();
        const json = /^application\/json/.test(res.headers.get("content-type") ?? "")
          ? JSON.parse(text)
          : undefined;
        return { status: res.status, text, json };
      };
      const reader = await createToken(await readTokenKeyFile(join(dir, "token.key")), {
        subject: "prometheus",
        role: "reader",
        cluster: "elasticore",
        ttlMs: 3_600_000,
      });
      const scrape = async (id: string): Promise<Scrape> => {
        const res = await fetch(`${apiOf(id)}/metrics`, {
          client: http,
          headers: { authorization: `Bearer ${reader}` },
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        assert.equal(res.status, 200, text);
        assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
        return parseExposition(text);
      };
      // The reader may scrape but not write.
      assert.equal((await request("PUT", "/v1/kv/x", "1", reader)).status, 403);

      // The worker must be in the cluster before a job can run.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await request("GET", "/v1/cluster");
        const members = (r.json?.members ?? []) as { id: string; state: string }[];
        if (members.some((m) => m.id === "w1" && m.state === "alive")) break;
        assert.ok(Date.now() < deadline, "w1 never joined");
        await new Promise((r) => setTimeout(r, 200));
      }
      const before = await scrape("m1");

      for (let i = 0; i < 5; i++) {
        const r = await request("PUT", `/v1/kv/metrics/k${i}`, `v${i}`);
        assert.equal(r.status, 200, r.text);
      }
      let input = "";
      for (let v = 1; v <= 2_000; v++) input += `{"key":"k${v % 8}","value":${v}}\n`;
      let r = await request("PUT", "/v1/fs/in/metrics.ndjson", input);
      assert.ok(r.status < 300, r.text);
      r = await request("GET", "/v1/fs/in/metrics.ndjson");
      assert.equal(r.text, input);
      const spec = {
        name: "metrics",
        source: { kind: "ndjson", path: "/in/metrics.ndjson" },
        stages: [{ op: "keyBy", column: "key" }, { op: "count", as: "n", parallelism: 2 }],
        sink: { kind: "dfs", path: "/out/metrics.ndjson" },
        checkpoint: { intervalMs: 200 },
      };
      r = await request("POST", "/v1/jobs?wait=1", JSON.stringify(spec));
      assert.ok(r.status < 300, r.text);
      assert.equal(r.json?.state, "finished", r.text);

      // Gossip runs on its own clock (1 s probes): on a starved machine the work
      // above can finish between two probes, so wait for the next datagram.
      let after = await scrape("m1");
      const gossipUntil = Date.now() + 15_000;
      while (
        (total(after, "elasticore_swim_datagrams_total", "") ?? 0) <=
          (total(before, "elasticore_swim_datagrams_total", "") ?? 0) && Date.now() < gossipUntil
      ) {
        await new Promise((r) => setTimeout(r, 250));
        after = await scrape("m1");
      }
      const worker = await scrape("w1");
      const moved = (name: string, match = "") => {
        const a = total(before, name, match) ?? 0;
        const b = total(after, name, match);
        assert.ok(b !== undefined, `no series ${name}${match ? ` {${match}}` : ""}`);
        assert.ok(b > a, `${name}${match ? ` {${match}}` : ""} did not move: ${a} -> ${b}`);
        return b - a;
      };
      const report = {
        raft_commit: moved("elasticore_raft_commit_index"),
        raft_proposals: moved("elasticore_raft_proposals_total"),
        swim_datagrams: moved("elasticore_swim_datagrams_total"),
        dfs_ops: moved("elasticore_dfs_ops_total"),
        dfs_client_bytes_in: moved("elasticore_dfs_client_bytes_in_total"),
        stream_records_in: moved("elasticore_stream_job_records_total", 'dir="in"'),
        transport_frames_out: moved("elasticore_transport_frames_total", 'dir="out"'),
        transport_bytes_in: moved("elasticore_transport_bytes_total", 'dir="in"'),
        http_requests: moved("elasticore_http_requests_total"),
      };
      console.log("moved:", JSON.stringify(report));
      assert.equal(total(after, "elasticore_raft_is_leader"), 1);
      assert.ok((total(after, "elasticore_stream_jobs", 'state="finished"') ?? 0) >= 1);
      assert.ok(total(after, "elasticore_dfs_cache_hits_total") !== undefined);
      assert.ok(total(after, "elasticore_stream_restarts_total") !== undefined);
      // The worker ran the tasks and stores DFS blocks.
      assert.ok((total(worker, "elasticore_dfs_stored_blocks") ?? 0) > 0, "w1 stores no block");
      assert.ok((total(worker, "elasticore_transport_frames_total") ?? 0) > 0);
      assert.ok(total(worker, "elasticore_stream_records_total", 'dir="in"') !== undefined);
    } finally {
      http.close();
      await c.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
