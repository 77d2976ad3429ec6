/**
 * Generates traffic-sign rows with the real data set's columns and value
 * frequencies, deterministically per seed:
 *
 *     deno run -P scripts/gen_traffic_signs.ts --rows 200000 --seed 7 --out signs.csv
 *
 * The frequencies are learned from `../shared/data/TrafficSigns_1000.csv`
 * (or `--sample FILE`) when present, else built-in tables are used.
 *
 * @module
 */
import { builtinModel, generateToFile, type GenModel, learnModel } from "../lib/stream/gen.ts";

/** Parses the flags, generates the file and prints a one-line summary. */
export async function main(args: string[]): Promise<number> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--") || i + 1 >= args.length) {
      console.error(`error: unexpected argument ${a} (usage: --rows N --seed S --out FILE)`);
      return 2;
    }
    flags.set(a.slice(2), args[++i]);
  }
  const rows = Number(flags.get("rows") ?? "1000");
  const seed = Number(flags.get("seed") ?? "1");
  const out = flags.get("out");
  if (!out || !Number.isSafeInteger(rows) || rows < 0 || !Number.isSafeInteger(seed)) {
    console.error("error: need --rows N (integer >= 0), --seed S (integer) and --out FILE");
    return 2;
  }
  const sample = flags.get("sample") ??
    new URL("../../shared/data/TrafficSigns_1000.csv", import.meta.url).pathname;
  let model: GenModel;
  try {
    model = learnModel(await Deno.readFile(sample));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    model = builtinModel();
  }
  const t0 = performance.now();
  await generateToFile(out, rows, seed, model);
  const s = (performance.now() - t0) / 1000;
  console.log(
    `wrote ${rows} rows to ${out} (${model.origin} model) in ${s.toFixed(2)} s, ` +
      `${Math.round(rows / Math.max(s, 1e-9))} rows/s`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
