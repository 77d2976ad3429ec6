/**
 * Stream runtime benchmark: app2 (filter `Sign_Post`, running count per
 * `Category`) over generated traffic-sign rows on a real cluster of separate
 * processes (one master with Raft + job manager, `--workers` workers, one
 * shared directory as the file system), exactly-once on, against a plain
 * single-process Deno loop doing the same computation (same CSV parser, same
 * running-count output written to a file) in the same run. Also measures
 * checkpoints off (interval one hour: output committed once at the end) and
 * the time to recover from `kill -9` of a worker. The machine may be shared,
 * so every timed run is repeated (best kept), the load average is printed,
 * and so is the CPU time each side spent (user + system, all cluster
 * processes together for ours), which load disturbs much less than
 * wall-clock rates do.
 *
 *     deno task bench stream [--rows 2000000] [--workers 3] [--parallelism 3]
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { CsvParser } from "../../lib/stream/csv.ts";
import { builtinModel, generateToFile, learnModel } from "../../lib/stream/gen.ts";
import { StreamProc, writeStreamIdentities } from "../../tests/integration/fixtures/stream_node.ts";

interface JobJson {
  id: string;
  state: string;
  attempt: number;
  restarts: number;
  error?: string;
  lastCheckpoint: { id: number } | null;
  stages: { recordsIn: number }[];
  tasks: Record<string, string>;
}

/** The plain loop: stream the file through the CSV parser, filter, count, write NDJSON. */
async function plainApp2(path: string, out: string): Promise<Map<string, number>> {
  const parser = new CsvParser();
  const counts = new Map<string, number>();
  let post = -1, cat = -1, header = true;
  using f = await Deno.open(out, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  for await (const chunk of (await Deno.open(path)).readable) {
    let text = "";
    for (const row of parser.push(chunk)) {
      if (header) {
        post = row.indexOf("Sign_Post");
        cat = row.indexOf("Category");
        header = false;
        continue;
      }
      if (row[post] !== "Punched Telespar") continue;
      const n = (counts.get(row[cat]) ?? 0) + 1;
      counts.set(row[cat], n);
      text += JSON.stringify({ Category: row[cat], count: n }) + "\n";
    }
    if (text) await f.write(enc.encode(text));
  }
  return counts;
}

function spec(out: string, intervalMs: number, p: number) {
  return {
    name: "app2-bench",
    source: { kind: "csv", path: "/data/signs.csv" },
    stages: [
      { op: "filter", column: "Sign_Post", equals: "Punched Telespar", parallelism: p },
      { op: "keyBy", column: "Category" },
      { op: "count", parallelism: p },
    ],
    sink: { kind: "dfs", path: out },
    checkpoint: { intervalMs, timeoutMs: 60_000 },
  };
}

async function finalCounts(path: string): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const l of (await Deno.readTextFile(path)).split("\n")) {
    if (!l) continue;
    const r = JSON.parse(l);
    m.set(r.Category, Math.max(m.get(r.Category) ?? 0, r.count));
  }
  return m;
}

/**
 * CPU seconds (user + system) a process used so far, from `/proc/<pid>/stat`
 * (read by `cat`: Deno only lets a fully privileged process read `/proc/<pid>`).
 */
async function cpuSeconds(pid: number): Promise<number> {
  try {
    const r = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`] }).output();
    const stat = new TextDecoder().decode(r.stdout);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** This process's CPU seconds so far. */
function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function load(): string {
  return Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
}

function same(a: Map<string, number>, b: Map<string, number>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** Runs the benchmark (see the module doc for the flags). */
export default async function bench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      rows: { type: "string", default: "2000000" },
      workers: { type: "string", default: "3" },
      parallelism: { type: "string", default: "3" },
    },
  });
  const rows = Number(values.rows);
  const nWorkers = Number(values.workers);
  const p = Number(values.parallelism);
  const root = await Deno.makeTempDir({ prefix: "ec-bench-stream-" });
  const fsDir = `${root}/fs`;
  await Deno.mkdir(`${fsDir}/data`, { recursive: true });
  const input = `${fsDir}/data/signs.csv`;
  let model = builtinModel();
  try {
    model = learnModel(
      await Deno.readFile(new URL("../../../shared/data/TrafficSigns_1000.csv", import.meta.url)),
    );
  } catch {
    // the built-in tables
  }
  const t = performance.now();
  await generateToFile(input, rows, 7, model);
  const mb = (await Deno.stat(input)).size / 1e6;
  console.log(
    `generated ${rows} rows (${mb.toFixed(0)} MB) in ${
      ((performance.now() - t) / 1000).toFixed(1)
    } s`,
  );

  console.log(`load average at start: ${load()}`);
  let plainS = Infinity;
  let plainCpu = Infinity;
  const runPlain = async () => {
    const c0 = ownCpuSeconds();
    const t0 = performance.now();
    const counts = await plainApp2(input, `${root}/plain.ndjson`);
    plainS = Math.min(plainS, (performance.now() - t0) / 1000);
    plainCpu = Math.min(plainCpu, ownCpuSeconds() - c0);
    return counts;
  };
  const reference = await runPlain();

  const ids = ["m1", ...Array.from({ length: nWorkers }, (_, i) => `w${i + 1}`)];
  const base = 40000 + Math.floor(Math.random() * 200) * 50;
  const masters = `m1=127.0.0.1:${base}`;
  const workers = ids.slice(1).map((w, i) => `${w}=127.0.0.1:${base + i + 1}`).join(",");
  await writeStreamIdentities(`${root}/ids`, ids);
  const procs = new Map<string, StreamProc>();
  try {
    await Promise.all(ids.map(async (id, i) => {
      procs.set(
        id,
        await StreamProc.spawn({
          id,
          role: i === 0 ? "master" : "worker",
          dir: `${root}/ids`,
          fs: fsDir,
          port: base + i,
          masters,
          workers,
          "credit-window": 8192,
          "batch-size": 1024,
        }),
      );
    }));
    const m1 = procs.get("m1")!;
    const get = async (id: string) => (await m1.command(`get ${id}`)).job as JobJson;
    const clusterCpu = async () => {
      const by = new Map<string, number>();
      for (const [id, pr] of procs) by.set(id, await cpuSeconds(pr.child.pid));
      return by;
    };
    let lastSplit = "";
    const runJob = async (out: string, intervalMs: number) => {
      const c0 = await clusterCpu();
      const t0 = performance.now();
      const id = String(
        (await m1.command(`submit ${JSON.stringify(spec(out, intervalMs, p))}`)).id,
      );
      const job = (await m1.command(`wait ${id} 1800000`, 1_900_000)).job as JobJson;
      const s = (performance.now() - t0) / 1000;
      const c1 = await clusterCpu();
      let cpu = 0;
      const parts: string[] = [];
      for (const [id, c] of c1) {
        cpu += c - c0.get(id)!;
        parts.push(`${id} ${(c - c0.get(id)!).toFixed(2)}`);
      }
      lastSplit = parts.join(", ");
      if (job.state !== "finished") throw new Error(`job ${id} ${job.state}: ${job.error}`);
      const ok = same(await finalCounts(`${fsDir}${out}`), reference);
      return { s, cpu, ok, ckpts: job.lastCheckpoint?.id ?? 0 };
    };

    // Alternate plain/off/on twice and keep the best of each (the machine is shared and noisy).
    let on = { s: Infinity, cpu: Infinity, ok: true, ckpts: 0 };
    let off = { s: Infinity, cpu: Infinity, ok: true, ckpts: 0 };
    for (let round = 0; round < 2; round++) {
      if (round > 0) await runPlain();
      const a = await runJob(`/out/off-${round}.ndjson`, 3_600_000);
      const b = await runJob(`/out/on-${round}.ndjson`, 1000);
      off = {
        s: Math.min(off.s, a.s),
        cpu: Math.min(off.cpu, a.cpu),
        ok: off.ok && a.ok,
        ckpts: a.ckpts,
      };
      on = {
        s: Math.min(on.s, b.s),
        cpu: Math.min(on.cpu, b.cpu),
        ok: on.ok && b.ok,
        ckpts: Math.max(on.ckpts, b.ckpts),
      };
    }
    const us = (cpu: number) => `${(cpu / rows * 1e6).toFixed(2)} CPU-µs/row`;
    console.log(
      `plain single-process Deno: ${(rows / plainS).toFixed(0)} rows/s (${plainS.toFixed(2)} s, ` +
        `${us(plainCpu)})`,
    );
    console.log(
      `elasticore, exactly-once, checkpoints every 1 s (${on.ckpts} taken), ${nWorkers} workers ` +
        `x${p}: ${(rows / on.s).toFixed(0)} rows/s (${on.s.toFixed(2)} s, ${us(on.cpu)}), ` +
        `result ${on.ok ? "ok" : "WRONG"}`,
    );
    console.log(
      `elasticore, checkpoints off: ${(rows / off.s).toFixed(0)} rows/s (${off.s.toFixed(2)} s, ` +
        `${us(off.cpu)}), result ${off.ok ? "ok" : "WRONG"}`,
    );
    console.log(`checkpoint overhead: ${((on.s / off.s - 1) * 100).toFixed(1)} %`);
    console.log(`ratio ours / baseline (exactly-once): ${(plainS / on.s).toFixed(3)}`);
    console.log(`CPU seconds by process in the last exactly-once run: ${lastSplit}`);
    console.log(`load average after the timed runs: ${load()}`);

    // Recovery: kill -9 a worker mid-job; time until the job restarted and completed a checkpoint.
    const id = String(
      (await m1.command(`submit ${JSON.stringify(spec("/out/kill.ndjson", 500, p))}`)).id,
    );
    let job = await get(id);
    while (job.state !== "finished" && (job.stages[0]?.recordsIn ?? 0) < rows * 0.3) {
      await new Promise((r) => setTimeout(r, 50));
      job = await get(id);
    }
    if (job.state === "finished") throw new Error("the job ended before the kill");
    const victim = [...new Set(Object.values(job.tasks))].sort()[0];
    const before = job.attempt;
    const tk = performance.now();
    await procs.get(victim)!.kill();
    let redeployed = 0;
    let ckptAfter = -1;
    for (;;) {
      job = await get(id);
      if (!redeployed && job.attempt > before && job.state === "running") {
        redeployed = performance.now() - tk;
      }
      if (redeployed && job.lastCheckpoint && ckptAfter < 0) {
        const first = job.lastCheckpoint.id;
        if (first > 0 && job.attempt > before) ckptAfter = first;
      }
      if (job.state !== "running" && job.state !== "pending") break;
      if (ckptAfter >= 0) {
        const j2 = await get(id);
        if (j2.lastCheckpoint && j2.lastCheckpoint.id > ckptAfter) break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const recovered = performance.now() - tk;
    const done = (await m1.command(`wait ${id} 1800000`, 1_900_000)).job as JobJson;
    const ok = done.state === "finished" &&
      same(await finalCounts(`${fsDir}/out/kill.ndjson`), reference);
    console.log(
      `recovery from kill -9 of ${victim}: restarted (detected + redeployed + restored) after ` +
        `${redeployed.toFixed(0)} ms, first new checkpoint after ${recovered.toFixed(0)} ms; ` +
        `restarts ${done.restarts}, result ${ok ? "ok" : "WRONG"}`,
    );
  } finally {
    for (const pr of procs.values()) await pr.close().catch(() => {});
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await bench(Deno.args);
