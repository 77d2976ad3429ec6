/**
 * `deno task bench raft [--duration 10s] [--connections 16,64] [--threads 2]
 * [--warmup 2s] [--value-bytes 64] [--only ours|etcd]`: durable replicated
 * write throughput and latency of a 3-master ElastiCore cluster against a
 * 3-member etcd 3.4 cluster, both on loopback on this machine, in the same
 * run.
 *
 * ElastiCore: `elasticore init` + three `elasticore serve` processes with
 * the default configuration (WAL fdatasync before anything is acknowledged,
 * mutual TLS between masters); `wrk` sends `PUT /v1/kv/{unique key}` with the
 * admin bearer token to the leader's HTTPS API. etcd: three `/usr/bin/etcd`
 * processes with their default durability (fsync on every commit), TLS on the
 * client port and mutual TLS on the peer port; the same `wrk` load sends
 * `POST /v3/kv/put` with `{"key": base64, "value": base64}` to the leader's
 * JSON gateway. Each write is acknowledged only once it is durable on a
 * majority, on both systems.
 *
 * Every run checks that all responses were 2xx with no socket errors, that
 * the leader's applied index (etcd: revision) grew by at least the number of
 * acknowledged writes, and that a written key reads back.
 *
 * @module
 */
import { EtcdCluster, type Member, OursCluster } from "./_raft_clusters.ts";
import { logsOf } from "./_raft_clusters.ts";
import {
  cpuSeconds,
  etcdPutScript,
  type Load,
  loadAverage,
  oursPutScript,
  runWrk,
  WRK,
  type WrkResult,
} from "./_raft_wrk.ts";
import { ETCD } from "./_raft_clusters.ts";
import { join } from "node:path";

interface Options {
  durationS: number;
  warmupS: number;
  connections: number[];
  threads: number;
  valueBytes: number;
  only?: "ours" | "etcd";
}

/** One measured run plus its checks. */
interface Row extends WrkResult {
  system: "elasticore" | "etcd";
  connections: number;
  /** CPU µs of all three members per acknowledged write. */
  cpuUsPerWrite: number;
  /** Leader CPU use during the run, in cores. */
  leaderCores: number;
  /** Machine 1-minute load average after the run. */
  load: number;
}

function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

function seconds(v: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new Error(`${name} must be a duration like 10s, got "${v}"`);
  const n = Number(m[1]);
  return m[2] === "ms" ? n / 1000 : m[2] === "m" ? n * 60 : n;
}

function parseOptions(args: string[]): Options {
  const only = flag(args, "--only", "");
  if (only !== "" && only !== "ours" && only !== "etcd") {
    throw new Error(`--only must be ours or etcd, got "${only}"`);
  }
  const connections = flag(args, "--connections", "16,64").split(",").map(Number);
  if (connections.some((c) => !Number.isInteger(c) || c < 1 || c > 1000)) {
    throw new Error("--connections must be a list of integers in 1..1000");
  }
  const durationS = seconds(flag(args, "--duration", "10s"), "--duration");
  if (durationS < 1 || durationS > 60) throw new Error("--duration must be 1s..60s");
  const valueBytes = Number(flag(args, "--value-bytes", "64"));
  if (!Number.isInteger(valueBytes) || valueBytes < 1 || valueBytes > 4096) {
    throw new Error("--value-bytes must be 1..4096");
  }
  return {
    durationS,
    warmupS: seconds(flag(args, "--warmup", "2s"), "--warmup"),
    connections,
    threads: Number(flag(args, "--threads", "2")),
    valueBytes,
    only: only === "" ? undefined : only,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs wrk once against `leader`, measuring the members' CPU time around it. */
async function measure(
  members: Member[],
  leader: Member,
  url: string,
  script: string,
  load: Load,
): Promise<{ r: WrkResult; cpuUsPerWrite: number; leaderCores: number }> {
  const before = await Promise.all(members.map((m) => cpuSeconds(m.proc.pid)));
  const t0 = performance.now();
  const r = await runWrk(url, script, load);
  const wall = (performance.now() - t0) / 1000;
  const after = await Promise.all(members.map((m) => cpuSeconds(m.proc.pid)));
  const used = after.map((a, i) => a - before[i]);
  const total = used.reduce((a, b) => a + b, 0);
  const li = members.indexOf(leader);
  return {
    r,
    cpuUsPerWrite: r.requests > 0 ? (total / r.requests) * 1e6 : NaN,
    leaderCores: used[li] / wall,
  };
}

function check(cond: boolean, what: string, problems: string[]): void {
  if (!cond) problems.push(what);
}

async function benchOurs(dir: string, o: Options, value: string): Promise<Row[]> {
  const cluster = new OursCluster(join(dir, "elasticore"));
  await Deno.mkdir(join(dir, "elasticore"));
  const rows: Row[] = [];
  try {
    const leader = await cluster.start();
    console.log(`elasticore: 3 masters up, leader ${leader.name} (${leader.url})`);
    const scriptFor = async (name: string) => {
      const path = join(dir, `ours-${name}.lua`);
      await Deno.writeTextFile(path, oursPutScript(`bench/${name}/`, cluster.token, value));
      return path;
    };
    if (o.warmupS > 0) {
      await runWrk(leader.url, await scriptFor("warmup"), {
        durationS: o.warmupS,
        connections: 16,
        threads: o.threads,
      });
    }
    for (const c of o.connections) {
      const name = `c${c}`;
      const before = await cluster.applied(leader);
      const load = { durationS: o.durationS, connections: c, threads: o.threads };
      const m = await measure(cluster.members, leader, leader.url, await scriptFor(name), load);
      const after = await cluster.applied(leader);
      const problems: string[] = [];
      check(m.r.non2xx === 0, `${m.r.non2xx} non-2xx responses`, problems);
      check(m.r.socketErrors === 0, `${m.r.socketErrors} socket errors`, problems);
      check(
        after - before >= m.r.requests,
        `applied index grew by ${after - before} < ${m.r.requests} acknowledged writes`,
        problems,
      );
      const back = await cluster.get(leader, `bench/${name}/1-10`);
      check(back === value, `key bench/${name}/1-10 reads back ${JSON.stringify(back)}`, problems);
      if ((await cluster.leader())?.name !== leader.name) problems.push("leadership changed");
      if (problems.length) {
        throw new Error(`elasticore run at ${c} connections: ${problems.join("; ")}`);
      }
      rows.push({ system: "elasticore", connections: c, ...m.r, ...m, load: loadAverage() });
      console.log(line(rows.at(-1)!));
    }
    return rows;
  } catch (e) {
    console.error(await logsOf(cluster.members));
    throw e;
  } finally {
    await cluster.stop();
  }
}

async function benchEtcd(dir: string, o: Options, value: string): Promise<Row[]> {
  const cluster = new EtcdCluster(join(dir, "etcd"));
  await Deno.mkdir(join(dir, "etcd"));
  const rows: Row[] = [];
  try {
    const leader = await cluster.start();
    console.log(`etcd: 3 members up, leader ${leader.name} (${leader.url})`);
    const scriptFor = async (name: string) => {
      const path = join(dir, `etcd-${name}.lua`);
      await Deno.writeTextFile(path, etcdPutScript(`bench/${name}/`, value));
      return path;
    };
    if (o.warmupS > 0) {
      await runWrk(leader.url, await scriptFor("warmup"), {
        durationS: o.warmupS,
        connections: 16,
        threads: o.threads,
      });
    }
    for (const c of o.connections) {
      const name = `c${c}`;
      const before = await cluster.revision(leader);
      const load = { durationS: o.durationS, connections: c, threads: o.threads };
      const m = await measure(cluster.members, leader, leader.url, await scriptFor(name), load);
      const after = await cluster.revision(leader);
      const problems: string[] = [];
      check(m.r.non2xx === 0, `${m.r.non2xx} non-2xx responses`, problems);
      check(m.r.socketErrors === 0, `${m.r.socketErrors} socket errors`, problems);
      check(
        after - before >= m.r.requests,
        `revision grew by ${after - before} < ${m.r.requests} acknowledged writes`,
        problems,
      );
      const back = await cluster.get(leader, `bench/${name}/1-10`);
      check(back === value, `key bench/${name}/1-10 reads back ${JSON.stringify(back)}`, problems);
      if ((await cluster.leader())?.name !== leader.name) problems.push("leadership changed");
      if (problems.length) throw new Error(`etcd run at ${c} connections: ${problems.join("; ")}`);
      rows.push({ system: "etcd", connections: c, ...m.r, ...m, load: loadAverage() });
      console.log(line(rows.at(-1)!));
    }
    return rows;
  } catch (e) {
    console.error(await logsOf(cluster.members));
    throw e;
  } finally {
    await cluster.stop();
  }
}

function line(r: Row): string {
  return `${r.system.padEnd(10)} c=${String(r.connections).padStart(3)}  ` +
    `${r.rps.toFixed(0).padStart(7)} writes/s  p50 ${r.p50Ms.toFixed(2).padStart(6)} ms  ` +
    `p99 ${r.p99Ms.toFixed(2).padStart(7)} ms  non-2xx ${r.non2xx}  ` +
    `cpu ${r.cpuUsPerWrite.toFixed(0).padStart(4)} µs/write (leader ${
      r.leaderCores.toFixed(2)
    } cores)  load ${r.load.toFixed(2)}`;
}

/** Runs the Raft write benchmark. */
export default async function bench(args: string[]): Promise<void> {
  const o = parseOptions(args);
  for (const [path, pkg] of [[WRK, "wrk"], [ETCD, "etcd-server"]]) {
    if (!(await exists(path))) {
      throw new Error(`${path} not found (install with: sudo apt-get install ${pkg})`);
    }
  }
  const value = "v".repeat(o.valueBytes);
  console.log(
    `raft bench: ${o.durationS}s per run, connections ${o.connections.join(",")}, ` +
      `${o.threads} wrk threads, ${o.valueBytes}-byte values, unique keys; ` +
      `load average ${(loadAverage()).toFixed(2)} on ${navigator.hardwareConcurrency} cores`,
  );
  const dir = await Deno.makeTempDir({ prefix: "elasticore-bench-raft-" });
  const rows: Row[] = [];
  try {
    if (o.only !== "etcd") rows.push(...await benchOurs(dir, o, value));
    if (o.only !== "ours") rows.push(...await benchEtcd(dir, o, value));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  if (o.only) return;
  console.log(
    "\nconnections | elasticore w/s | etcd w/s | ratio | p50 ours/etcd ms | p99 ours/etcd ms",
  );
  for (const c of o.connections) {
    const a = rows.find((r) => r.system === "elasticore" && r.connections === c)!;
    const b = rows.find((r) => r.system === "etcd" && r.connections === c)!;
    console.log(
      `${String(c).padStart(11)} | ${a.rps.toFixed(0).padStart(14)} | ${
        b.rps.toFixed(0).padStart(8)
      } | ${(a.rps / b.rps).toFixed(2).padStart(5)}x | ${a.p50Ms.toFixed(2)}/${
        b.p50Ms.toFixed(2)
      } (${(a.p50Ms / b.p50Ms).toFixed(2)}x) | ${a.p99Ms.toFixed(2)}/${b.p99Ms.toFixed(2)} (${
        (a.p99Ms / b.p99Ms).toFixed(2)
      }x)`,
    );
  }
  console.log(
    "ratio = ElastiCore / etcd throughput (higher is better); latency ratios: lower is better",
  );
}
