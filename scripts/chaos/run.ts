/**
 * One chaos run: a real cluster, a mixed workload (KV with CAS, DFS appends,
 * stream jobs) for the given minutes under a seeded fault schedule, then the
 * heal, a settle period and the checks (linearizable KV history, appends
 * exactly once with agreeing metadata replicas, exactly-once job output).
 *
 * @module
 */
import { Prng } from "../../lib/sim/prng.ts";
import { ChaosCluster, type ProcSample, sleep } from "./cluster.ts";
import { KvWorkload } from "./kv.ts";
import { AppendWorkload } from "./dfs.ts";
import { StreamWorkload } from "./stream.ts";
import { describeFault, type FaultKind, FaultRunner, planFaults } from "./faults.ts";

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** The seed of the schedule and the workload's choices. */
  seed: number;
  /** Minutes of workload under faults. */
  minutes: number;
  /** Masters (default 3). */
  masters?: number;
  /** Workers (default 4). */
  workers?: number;
  /** Sample each process's RSS and descriptors every this many seconds (0 = never). */
  sampleSeconds?: number;
  /** Fault kinds (default all). */
  kinds?: FaultKind[];
  /** Node settings (`section.key=value`) after {@link CHAOS_SETTINGS}, e.g. small DFS tiers. */
  set?: string[];
  /** Keep the cluster directory afterwards (it is always kept on failure). */
  keep?: boolean;
  /** Progress lines go here (default nowhere). */
  progress?: (line: string) => void;
}

/** One resource sample. */
export interface ResourceSample extends ProcSample {
  /** Seconds since the workload started. */
  t: number;
  /** Node id. */
  node: string;
  /** Which start of that node's process (1 = first). */
  start: number;
}

/** What a run did and found. */
export interface ChaosReport {
  /** The options it ran with. */
  seed: number;
  /** Minutes of workload. */
  minutes: number;
  /** Masters and workers. */
  masters: number;
  /** Workers. */
  workers: number;
  /** Fault kinds, when not all. */
  kinds?: FaultKind[];
  /** Node settings given beyond {@link CHAOS_SETTINGS}. */
  set: string[];
  /** True when every check passed. */
  ok: boolean;
  /** Operation counters. */
  ops: {
    kvOk: number;
    kvUnknown: number;
    kvCasMismatch: number;
    kvFailedReads: number;
    appendsAcked: number;
    appendsUnknown: number;
    jobs: number;
    jobRestarts: number;
    unknownJobSubmits: number;
  };
  /** Why operations had no known outcome (`kind status code` → count). */
  errors: Record<string, number>;
  /** Faults planned and applied. */
  faults: {
    planned: number;
    applied: Record<FaultKind, number>;
    leaderHits: number;
    skipped: number;
  };
  /** Every check with its outcome. */
  checks: { name: string; ok: boolean; message: string }[];
  /** The schedule, one line per fault. */
  schedule: string[];
  /** The execution log of the faults. */
  faultLog: string[];
  /** Resource samples (when sampling). */
  samples: ResourceSample[];
  /** The cluster directory, when kept. */
  dir?: string;
  /** Wall time of the whole run, s. */
  wallSeconds: number;
}

/** The command that replays a run. */
export function replayCommand(
  r: {
    seed: number;
    minutes: number;
    masters: number;
    workers: number;
    kinds?: FaultKind[];
    set?: string[];
  },
): string {
  const kinds = r.kinds ? ` --kinds ${r.kinds.join(",") || "none"}` : "";
  const set = (r.set ?? []).map((s) => ` --set ${s}`).join("");
  return `deno task chaos --seed ${r.seed} --minutes ${r.minutes} --masters ${r.masters} ` +
    `--workers ${r.workers}${kinds}${set}`;
}

/** Fast failure detection; nothing here changes what is fsynced before an acknowledgement. */
export const CHAOS_SETTINGS = [
  "raft.election_timeout_ms=500",
  "raft.heartbeat_interval_ms=50",
  "raft.snapshot_threshold=2000",
  "swim.probe_interval_ms=500",
  "swim.probe_timeout_ms=250",
  "logs.level=info",
];

/** Runs one seed; never throws for a failed check (see `ok`), only for a cluster that cannot start. */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const masters = o.masters ?? 3;
  const workers = o.workers ?? 4;
  const say = o.progress ?? (() => {});
  const prng = new Prng(o.seed);
  const periodMs = Math.round(o.minutes * 60_000);
  const cluster = await ChaosCluster.start({
    masters,
    workers,
    set: [...CHAOS_SETTINGS, ...(o.set ?? [])],
    keep: true,
  });
  say(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${cluster.dir}`);
  const checks: ChaosReport["checks"] = [];
  const samples: ResourceSample[] = [];
  const ids = [...cluster.nodes.keys()];
  const plan = planFaults(o.seed, {
    masters: ids.filter((id) => id.startsWith("m")),
    workers: ids.filter((id) => id.startsWith("w")),
    periodMs,
    maxNodes: 2,
    maxMasters: Math.floor((masters - 1) / 2),
    kinds: o.kinds,
  });
  const kv = new KvWorkload(cluster, 6);
  const dfs = new AppendWorkload(cluster, 3, 3);
  const stream = new StreamWorkload(cluster, 8, 2_000, `chaos${o.seed}`);
  const faults = new FaultRunner(cluster);
  let ok = false;
  try {
    if (!await cluster.waitAllAlive(60_000)) throw new Error("not every node joined in 60 s");
    await stream.prepare();
    say(`workload for ${o.minutes} min with ${plan.length} planned faults`);
    const t0 = Date.now();
    const stop = { done: false };
    const faultStop = { done: false };
    const sampler = (async () => {
      if (!o.sampleSeconds) return;
      while (!stop.done) {
        for (const [node, s] of await cluster.sample()) {
          const start = cluster.nodes.get(node)!.starts;
          samples.push({ t: Math.round((Date.now() - t0) / 1000), node, start, ...s });
        }
        for (let i = 0; i < o.sampleSeconds * 10 && !stop.done; i++) await sleep(100);
      }
    })();
    const load = [
      ...kv.run(4, prng.fork(), stop),
      ...dfs.run(3, prng.fork(), stop),
      stream.run(prng.fork(), stop),
    ];
    const faultRun = faults.run(plan, faultStop);
    await sleep(periodMs);
    faultStop.done = true;
    await faultRun;
    await faults.healAll();
    say("faults healed; load continues while the cluster settles");
    // The load keeps going briefly on the healed cluster, then stops.
    await sleep(3_000);
    stop.done = true;
    await Promise.all(load);
    await sampler;
    await cluster.waitForLeader(60_000);
    const alive = await cluster.waitAllAlive(60_000);
    checks.push({
      name: "membership",
      ok: alive,
      message: alive ? "every node alive after the heal" : "not every node alive 60 s after heal",
    });
    await sleep(2_000);

    say("checking the stream jobs");
    const st = await stream.check(180_000);
    for (const c of st.out) checks.push({ name: "stream exactly-once", ...c });
    say("checking the appends");
    for (const c of await dfs.check()) checks.push({ name: "dfs appends", ...c });
    say("checking the KV history");
    await kv.finalReads();
    const lin = kv.check();
    checks.push({ name: "kv linearizable", ok: lin.ok, message: lin.message });
    if (st.out.length === 0) {
      checks.push({ name: "stream exactly-once", ok: false, message: "no job was submitted" });
    }
    ok = checks.every((c) => c.ok);
    return {
      seed: o.seed,
      minutes: o.minutes,
      masters,
      workers,
      kinds: o.kinds,
      set: o.set ?? [],
      ok,
      ops: {
        kvOk: kv.stats.ok,
        kvUnknown: kv.stats.unknown,
        kvCasMismatch: kv.stats.casMismatch,
        kvFailedReads: kv.stats.failedReads,
        appendsAcked: dfs.acked,
        appendsUnknown: dfs.unknown,
        jobs: st.jobs,
        jobRestarts: st.restarts,
        unknownJobSubmits: stream.unknownSubmits,
      },
      faults: {
        planned: plan.length,
        applied: faults.stats.applied,
        leaderHits: faults.stats.leaderHits,
        skipped: faults.stats.skipped,
      },
      checks,
      errors: Object.fromEntries([
        ...[...kv.errors].map(([k, n]) => [`kv ${k}`, n] as const),
        ...[...dfs.errors].map(([k, n]) => [`append ${k}`, n] as const),
      ]),
      schedule: plan.map(describeFault),
      faultLog: faults.log,
      samples,
      dir: ok && !o.keep ? undefined : cluster.dir,
      wallSeconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await cluster.stop();
    if (ok && !o.keep) await Deno.remove(cluster.dir, { recursive: true }).catch(() => {});
  }
}
