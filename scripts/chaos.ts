/**
 * `deno task chaos`: seeded system-level fault injection against a real
 * multi-process cluster (see `scripts/chaos/run.ts` and docs/RELIABILITY.md).
 *
 * ```
 * deno task chaos --seed 7 --minutes 1 [--masters 3] [--workers 4]
 *                 [--count N] [--sample-s 30] [--kinds kill,pause,isolate,split,loss]
 *                 (`leave` is drawn only when named in --kinds)
 *                 [--set section.key=value]... [--keep] [--jsonl FILE] [--verbose]
 * ```
 *
 * `--set` passes a setting to every node (after the harness's own fast-failure
 * settings), e.g. `--set dfs.memory_tier_bytes=4194304` for a soak whose
 * memory must level off early.
 *
 * `--count N` runs seeds S, S+1, ..., S+N-1, each on a fresh cluster.
 * Exits 0 when every run passed, 1 otherwise (printing the replay command).
 *
 * @module
 */
import { type ChaosReport, replayCommand, runChaos } from "./chaos/run.ts";
import { FAULT_KINDS, type FaultKind } from "./chaos/faults.ts";

interface Args {
  seed: number;
  minutes: number;
  masters: number;
  workers: number;
  count: number;
  sampleSeconds: number;
  kinds?: FaultKind[];
  set: string[];
  keep: boolean;
  jsonl?: string;
  verbose: boolean;
}

function usage(msg: string): never {
  console.error(`chaos: ${msg}`);
  console.error(
    "usage: deno task chaos --seed S --minutes M [--masters 3] [--workers 4] [--count N] " +
      "[--sample-s SEC] [--kinds k1,k2] [--set section.key=value]... [--keep] [--jsonl FILE] " +
      "[--verbose]",
  );
  Deno.exit(2);
}

/** Parses the command line. */
export function parseArgs(argv: string[]): Args {
  const a: Args = {
    seed: Math.floor(Math.random() * 2 ** 31),
    minutes: 1,
    masters: 3,
    workers: 4,
    count: 1,
    sampleSeconds: 0,
    set: [],
    keep: false,
    verbose: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v;
    };
    const num = (min: number, max: number, int = true) => {
      const raw = val();
      const n = Number(raw);
      if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) {
        usage(`${flag} must be ${int ? "an integer" : "a number"} in ${min}..${max}, got "${raw}"`);
      }
      return n;
    };
    switch (flag) {
      case "--seed":
        a.seed = num(0, 2 ** 32 - 1);
        break;
      case "--minutes":
        a.minutes = num(0.05, 24 * 60, false);
        break;
      case "--masters":
        a.masters = num(1, 9);
        break;
      case "--workers":
        a.workers = num(0, 32);
        break;
      case "--count":
        a.count = num(1, 100_000);
        break;
      case "--sample-s":
        a.sampleSeconds = num(1, 3600);
        break;
      case "--kinds": {
        const ks = val().split(",").filter((k) => k && k !== "none");
        const badKind = ks.find((k) => !(FAULT_KINDS as string[]).includes(k));
        if (badKind) usage(`unknown fault kind "${badKind}"; use ${FAULT_KINDS.join(", ")}`);
        a.kinds = ks as FaultKind[];
        break;
      }
      case "--set": {
        const v = val();
        if (!/^[a-z_]+\.[a-z_]+=\S+$/.test(v)) usage(`--set expects section.key=value, got "${v}"`);
        a.set.push(v);
        break;
      }
      case "--keep":
        a.keep = true;
        break;
      case "--jsonl":
        a.jsonl = val();
        break;
      case "--verbose":
        a.verbose = true;
        break;
      default:
        usage(`unknown argument "${flag}"`);
    }
  }
  return a;
}

/** Prints the per-node resource summary of the samples. */
function printSamples(r: ChaosReport): void {
  if (!r.samples.length) return;
  console.log("resources (longest-lived process per node; RSS MiB, open fds):");
  const by = new Map<string, typeof r.samples>();
  for (const s of r.samples) {
    const k = `${s.node}#${s.start}`;
    by.set(k, [...(by.get(k) ?? []), s]);
  }
  const best = new Map<string, typeof r.samples>();
  for (const [k, list] of by) {
    const node = k.split("#")[0];
    if (list.length > (best.get(node)?.length ?? 0)) best.set(node, list);
  }
  for (const [node, list] of [...best].sort()) {
    const mib = (kib: number) => (kib / 1024).toFixed(0);
    const rss = list.map((s) => s.rssKiB);
    const fds = list.map((s) => s.fds);
    const heap = list.flatMap((s) => s.heapKiB === undefined ? [] : [s.heapKiB]);
    console.log(
      `  ${node} (start ${list[0].start}, ${list[0].t}-${
        list.at(-1)!.t
      } s, ${list.length} samples): ` +
        `rss ${mib(rss[0])} -> ${mib(rss.at(-1)!)} (max ${mib(Math.max(...rss))}), ` +
        `fds ${fds[0]} -> ${fds.at(-1)} (max ${Math.max(...fds)})` +
        (heap.length
          ? `, js heap ${mib(heap[0])} -> ${mib(heap.at(-1)!)} (max ${mib(Math.max(...heap))})`
          : ""),
    );
  }
}

function printReport(r: ChaosReport, verbose: boolean): void {
  const o = r.ops;
  const f = r.faults;
  console.log(
    `seed ${r.seed}: ${r.ok ? "PASS" : "FAIL"} in ${r.wallSeconds} s — ` +
      `kv ${o.kvOk} ok + ${o.kvUnknown} unknown (${o.kvCasMismatch} cas refused), ` +
      `appends ${o.appendsAcked} acked + ${o.appendsUnknown} unknown, ` +
      `jobs ${o.jobs} (${o.jobRestarts} restarts); faults ${
        Object.entries(f.applied).map(([k, n]) => `${k} ${n}`).join(", ")
      } (leader ${f.leaderHits}, skipped ${f.skipped}, planned ${f.planned})`,
  );
  for (const c of r.checks) {
    if (verbose || !c.ok) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.message}`);
  }
  if (verbose || !r.ok) {
    const errs = Object.entries(r.errors).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k}: ${n}`);
    if (errs.length) console.log(`  no known outcome: ${errs.join(", ")}`);
  }
  if (verbose) {
    for (const l of r.faultLog) console.log(`  ${l}`);
  }
  printSamples(r);
  if (!r.ok) {
    console.log(`  schedule: ${r.schedule.join(" | ")}`);
    console.log(`  cluster directory kept: ${r.dir}`);
    console.log(`  replay: ${replayCommand(r)}`);
  }
}

async function main(): Promise<void> {
  const a = parseArgs(Deno.args);
  let failed = 0;
  const totals = { runs: 0, kvOk: 0, kvUnknown: 0, appends: 0, jobs: 0, faults: 0 };
  for (let i = 0; i < a.count; i++) {
    const seed = (a.seed + i) >>> 0;
    let r: ChaosReport | undefined;
    try {
      r = await runChaos({
        seed,
        minutes: a.minutes,
        masters: a.masters,
        workers: a.workers,
        sampleSeconds: a.sampleSeconds,
        kinds: a.kinds,
        set: a.set,
        keep: a.keep,
        progress: a.verbose ? (l) => console.log(`  [seed ${seed}] ${l}`) : undefined,
      });
    } catch (e) {
      failed++;
      console.log(`seed ${seed}: ERROR ${e instanceof Error ? e.message : String(e)}`);
      console.log(`  replay: ${replayCommand({ ...a, seed })}`);
      if (a.jsonl) {
        await Deno.writeTextFile(a.jsonl, JSON.stringify({ seed, error: String(e) }) + "\n", {
          append: true,
        });
      }
      continue;
    }
    printReport(r, a.verbose);
    if (!r.ok) failed++;
    totals.runs++;
    totals.kvOk += r.ops.kvOk;
    totals.kvUnknown += r.ops.kvUnknown;
    totals.appends += r.ops.appendsAcked;
    totals.jobs += r.ops.jobs;
    totals.faults += Object.values(r.faults.applied).reduce((s, n) => s + n, 0);
    if (a.jsonl) {
      // Resource samples are kept (a soak's memory curve is the evidence); of the fault log,
      // the lines on faults not applied (why each was skipped) and on leaves (the hand-off).
      const { faultLog, ...rest } = r;
      const notes = faultLog.filter((l) => /not applied| left: /.test(l));
      await Deno.writeTextFile(a.jsonl, JSON.stringify({ ...rest, faultNotes: notes }) + "\n", {
        append: true,
      });
    }
  }
  if (a.count > 1) {
    console.log(
      `${a.count} seeds from ${a.seed}: ${a.count - failed} passed, ${failed} failed; ` +
        `kv ${totals.kvOk} ok + ${totals.kvUnknown} unknown, ${totals.appends} acked appends, ` +
        `${totals.jobs} jobs, ${totals.faults} faults`,
    );
  }
  Deno.exit(failed ? 1 : 0);
}

if (import.meta.main) await main();
