/**
 * Stream benchmarks: our CSV parser and the local app2 run against a naive
 * split-based parser doing the same filter + count, on the traffic-signs rows
 * repeated to `--rows` (default 200,000), fed in 64 KiB byte chunks. Prints
 * rows/s for each and the ratio ours / baseline.
 *
 *     deno task bench csv [--rows N] [--file CSV]
 *
 * @module
 */
import { CsvRecordReader } from "../../lib/stream/csv.ts";
import { app2Spec } from "../../lib/stream/apps.ts";
import { runJobLocally } from "../../lib/stream/local.ts";

function naiveApp2(text: string): Map<string, number> {
  const lines = text.split("\n");
  const header = lines[0].split(",");
  const post = header.indexOf("Sign_Post");
  const cat = header.indexOf("Category");
  const counts = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    const f = line.split(",");
    if (f[post] === "Punched Telespar") counts.set(f[cat], (counts.get(f[cat]) ?? 0) + 1);
  }
  return counts;
}

function chunks(bytes: Uint8Array, size = 65536): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function best(runs: number, fn: () => void | Promise<void>): Promise<number> {
  return (async () => {
    let min = Infinity;
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await fn();
      min = Math.min(min, performance.now() - t);
    }
    return min / 1000;
  })();
}

/** Runs the benchmark; `args` may hold `--rows N` and `--file CSV`. */
export default async function bench(args: string[]): Promise<void> {
  const get = (f: string) => {
    const i = args.indexOf(f);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const target = Number(get("--rows") ?? "200000");
  const file = get("--file") ??
    new URL("../../../shared/data/TrafficSigns_1000.csv", import.meta.url).pathname;
  const sample = new TextDecoder().decode(await Deno.readFile(file));
  const nl = sample.indexOf("\n");
  const header = sample.slice(0, nl + 1);
  const body = sample.slice(nl + 1).replace(/\n?$/, "\n");
  const bodyRows = body.split("\n").length - 1;
  const copies = Math.max(1, Math.round(target / bodyRows));
  const text = header + body.repeat(copies);
  const rows = bodyRows * copies;
  const bytes = new TextEncoder().encode(text);
  const parts = chunks(bytes);

  const naive = await best(3, () => void naiveApp2(new TextDecoder().decode(bytes)));
  const parse = await best(3, () => {
    const r = new CsvRecordReader();
    let n = 0;
    for (const c of parts) n += r.push(c).length;
    n += r.finish().length;
    if (n !== rows) throw new Error(`parsed ${n} rows, expected ${rows}`);
  });
  const spec = app2Spec();
  const app2 = await best(3, async () => {
    const res = await runJobLocally(spec, parts);
    if (res.inputRecords !== rows) throw new Error("app2 read the wrong number of rows");
  });
  const rate = (s: number) => Math.round(rows / s);
  console.log(`rows: ${rows} (${(bytes.length / 1e6).toFixed(1)} MB, 64 KiB chunks)`);
  console.log(`naive split filter+count (baseline): ${rate(naive)} rows/s`);
  console.log(
    `csv parse (RFC 4180, records):      ${rate(parse)} rows/s, ratio ${
      (naive / parse).toFixed(2)
    }`,
  );
  console.log(
    `local app2 (parse+filter+count):    ${rate(app2)} rows/s, ratio ${(naive / app2).toFixed(2)}`,
  );
}

if (import.meta.main) await bench(Deno.args);
