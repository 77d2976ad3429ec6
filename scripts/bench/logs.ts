/**
 * Log scan benchmark: our local grep scanner (`scanLogs`) against GNU grep on
 * the same ~200 MB of generated JSON-line logs (4 nodes, rotated files),
 * fixed strings (`-F`, `-i`), regexes (`-E`) and counts (`-c`). Files are
 * generated once and cached in the temp dir; the page cache is warmed first;
 * ours and grep alternate and the best of `--reps` runs counts. Prints MB/s
 * and the throughput ratio ours/grep, and checks both found the same number
 * of lines.
 *
 * `deno run -P scripts/bench/logs.ts [--mb 200] [--reps 3]`
 *
 * @module
 */
import { join } from "node:path";
import { generateLogFiles } from "../../lib/logs/generate.ts";
import type { GrepRequest } from "../../lib/logs/pattern.ts";
import { scanLogs } from "../../lib/logs/scanner.ts";

const NODES = 4;
const SEED = 20261121;

function argValue(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
  return v;
}

/** Generates (or reuses) the cached log set; returns the files in scan order. */
async function logSet(mb: number): Promise<string[]> {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const dir = join(tmp, `elasticore-bench-logs-v2-${SEED}-${mb}mb`);
  const marker = join(dir, "files.json");
  try {
    const files = JSON.parse(await Deno.readTextFile(marker));
    if (Array.isArray(files) && files.every((f) => typeof f === "string")) return files;
  } catch {
    // not cached yet
  }
  const t0 = performance.now();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const nodes = await generateLogFiles(dir, {
    seed: SEED,
    nodes: NODES,
    bytesPerNode: Math.round((mb * 1e6) / NODES),
    rotateBytes: 20e6,
  });
  const files = nodes.flatMap((n) => n.files);
  await Deno.writeTextFile(marker, JSON.stringify(files));
  console.log(
    `generated ${files.length} files in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return files;
}

async function grepOnce(req: GrepRequest, files: string[]): Promise<{ ms: number; lines: number }> {
  const args = [
    req.regex ? "-E" : "-F",
    ...(req.ignoreCase ? ["-i"] : []),
    req.count ? "-c" : "-n",
    "-e",
    req.pattern,
    ...files,
  ];
  const t0 = performance.now();
  const out = await new Deno.Command("grep", {
    args,
    env: { LC_ALL: "C.UTF-8" },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const ms = performance.now() - t0;
  if (out.code > 1) throw new Error(`grep failed (${out.code})`);
  const text = new TextDecoder().decode(out.stdout);
  if (req.count) {
    let total = 0;
    for (const line of text.split("\n")) {
      if (line) total += Number(line.slice(line.lastIndexOf(":") + 1));
    }
    return { ms, lines: total };
  }
  let lines = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lines++;
  return { ms, lines };
}

async function oursOnce(req: GrepRequest, files: string[]): Promise<{ ms: number; lines: number }> {
  const t0 = performance.now();
  const r = await scanLogs(files, req, { maxMatches: 10_000_000 });
  const ms = performance.now() - t0;
  if (r.truncated || r.errors.length) throw new Error("scan truncated or failed");
  return { ms, lines: req.count ? r.counts.reduce((a, c) => a + c.count, 0) : r.matches.length };
}

const CASES: Array<{ name: string; req: GrepRequest }> = [
  { name: "-F rare", req: { pattern: "checksum mismatch" } },
  { name: "-F frequent", req: { pattern: "appended entries" } },
  { name: "-F no match", req: { pattern: "no such thing here" } },
  { name: "-F -c frequent", req: { pattern: "appended entries", count: true } },
  { name: "-F -i ascii", req: { pattern: "Checksum Mismatch", ignoreCase: true } },
  { name: "-F -i unicode", req: { pattern: "GRÖßE", ignoreCase: true } },
  { name: "-E rare", req: { pattern: "blk_[0-9a-f]{4}ff", regex: true } },
  {
    name: "-E alternation",
    req: { pattern: '"level":"(error|fatal)".*"subsystem":"raft"', regex: true },
  },
  { name: "-E unicode", req: { pattern: "\\<(Jürgen|Ζωή)\\>", regex: true } },
  { name: "-E -i", req: { pattern: "(get|put) /v1/kv/.*50[0-9]", regex: true, ignoreCase: true } },
];

/** Runs the benchmark; prints one line per case and the overall ratio. */
export default async function bench(args: string[]): Promise<void> {
  const mb = argValue(args, "--mb", 200);
  const reps = argValue(args, "--reps", 3);
  const files = await logSet(mb);
  let bytes = 0;
  for (const f of files) bytes += (await Deno.stat(f)).size;
  for (const f of files) await Deno.readFile(f); // warm the page cache
  const total = bytes / 1e6;
  console.log(`logs: ${files.length} files, ${total.toFixed(0)} MB, best of ${reps}`);
  console.log("case              lines     ours MB/s  grep MB/s  ours/grep");
  const ratios: number[] = [];
  const started = performance.now();
  for (const { name, req } of CASES) {
    let ours = Infinity;
    let grep = Infinity;
    let lines = -1;
    for (let r = 0; r < reps; r++) {
      const a = await oursOnce(req, files);
      const b = await grepOnce(req, files);
      if (a.lines !== b.lines) {
        throw new Error(`${name}: ours found ${a.lines} lines, grep ${b.lines}`);
      }
      lines = a.lines;
      ours = Math.min(ours, a.ms);
      grep = Math.min(grep, b.ms);
    }
    const ratio = grep / ours;
    ratios.push(ratio);
    console.log(
      `${name.padEnd(16)} ${String(lines).padStart(8)}  ${
        (total / (ours / 1000)).toFixed(0).padStart(9)
      }  ${(total / (grep / 1000)).toFixed(0).padStart(9)}  ${ratio.toFixed(2).padStart(9)}`,
    );
  }
  const geo = Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length);
  console.log(
    `geometric mean ours/grep throughput: ${geo.toFixed(2)} (${
      ((performance.now() - started) / 1000).toFixed(0)
    } s)`,
  );
}

if (import.meta.main) await bench(Deno.args);
