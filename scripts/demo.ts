/**
 * `deno task demo`: what ElastiCore can show end to end today. It generates
 * traffic-sign rows (the real file's columns and value frequencies), runs the
 * reference apps app1 and app2 through the stream operators, starts a real
 * 3-master cluster of separate processes with TLS and tokens, stores app2's
 * counts in the Raft-replicated store through a follower, kills the leader
 * with SIGKILL, and reads every count back from a surviving node.
 *
 * @module
 */
import { DevCluster } from "../lib/cli/dev_cluster.ts";
import { app1Spec, app2Spec } from "../lib/stream/apps.ts";
import { builtinModel, TrafficSignGenerator } from "../lib/stream/gen.ts";
import { latestByKey, runJobLocally } from "../lib/stream/local.ts";

const ROWS = 10_000;
const log = (s = "") => console.log(s);

const gen = new TrafficSignGenerator(builtinModel(), 2026);
const csv = gen.header() + gen.rows(1, ROWS);
log(`ElastiCore demo: ${ROWS} generated traffic-sign rows (seed 2026)\n`);

const app1 = await runJobLocally(app1Spec("No Outlet"), csv);
log(
  `app1: rows whose Sign_Type contains "No Outlet" -> ${app1.records.length} rows (OBJECTID, Sign_Type), first 3:`,
);
for (const r of app1.records.slice(0, 3)) log(`  ${r.OBJECTID}, ${r.Sign_Type}`);
const app2 = await runJobLocally(app2Spec("Punched Telespar"), csv);
const counts = [...latestByKey(app2.records, "Category").values()]
  .map((r) => [String(r.Category), Number(r.count)] as const)
  .sort((a, b) => b[1] - a[1]);
log(`\napp2: count per Category where Sign_Post = "Punched Telespar":`);
for (const [cat, n] of counts) log(`  ${cat.padEnd(16)} ${n}`);

const dir = await Deno.makeTempDir({ prefix: "elasticore-demo-" });
const cluster = new DevCluster({
  masters: 3,
  workers: 0,
  dir,
  portBase: 30000 + Math.floor(Math.random() * 300) * 100,
  transport: "tcp",
  set: ["raft.election_timeout_ms=500", "raft.heartbeat_interval_ms=50"],
});
let exitCode = 0;
try {
  log(`\nstarting a 3-master cluster (separate processes, mutual TLS, tokens) in ${dir}`);
  await cluster.init();
  await cluster.start();
  const leader = await cluster.waitForLeader(30_000);
  const token = await cluster.token();
  const http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(cluster.caFile)] });
  const api = (id: string) => cluster.nodes.find((n) => n.id === id)!.api;
  const call = async (id: string, method: string, path: string, body?: string) => {
    const res = await fetch(api(id) + path, {
      method,
      body,
      client: http,
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5_000),
    });
    return { status: res.status, json: await res.json() };
  };
  const follower = cluster.nodes.find((n) => n.id !== leader)!.id;
  log(`leader: ${leader}; writing app2's counts through follower ${follower}`);
  for (const [cat, n] of counts) {
    const r = await call(follower, "PUT", `/v1/kv/demo/app2/${encodeURIComponent(cat)}`, String(n));
    if (r.status !== 200) throw new Error(`write failed: ${JSON.stringify(r.json)}`);
  }
  const killedAt = Date.now();
  const victim = cluster.nodes.find((n) => n.id === leader)!;
  victim.proc!.kill("SIGKILL");
  await victim.proc!.status;
  victim.proc = undefined;
  log(`kill -9 ${leader} (the leader)`);
  const next = await cluster.waitForLeader(10_000);
  log(`new leader ${next} after ${Date.now() - killedAt} ms`);
  const survivor = cluster.nodes.find((n) => n.id !== leader && n.proc)!.id;
  const r = await call(survivor, "GET", "/v1/kv?prefix=demo/app2/");
  const stored = new Map<string, string>(
    (r.json.items as { key: string; value: string }[]).map((
      it,
    ) => [decodeURIComponent(it.key.slice(10)), it.value]),
  );
  const same = counts.every(([cat, n]) => stored.get(cat) === String(n));
  log(
    `linearizable read from ${survivor}: ${stored.size} counts, ${
      same ? "all equal to what was written" : "MISMATCH"
    }`,
  );
  if (!same) exitCode = 1;
  http.close();
} catch (e) {
  console.error(
    `demo failed: ${e instanceof Error ? e.message : String(e)} (node output in ${dir}/*.out)`,
  );
  exitCode = 1;
} finally {
  await cluster.stop();
  if (exitCode === 0) await Deno.remove(dir, { recursive: true }).catch(() => {});
}
log(exitCode === 0 ? "\ndemo finished" : "\ndemo failed");
Deno.exit(exitCode);
