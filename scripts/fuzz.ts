/**
 * `deno task fuzz`: the fuzz tests (`tests/fuzz/`) with a long budget and a
 * fresh seed. CI runs the same tests at scale 1 with the fixed seed.
 *
 * ```
 * deno task fuzz [--scale 50] [--seed S] [--filter NAME]
 * ```
 *
 * Every budget is multiplied by `--scale` (`ELASTICORE_FUZZ_SCALE`); the seed
 * (`ELASTICORE_FUZZ_SEED`, random unless given) is printed first, so a failure
 * replays with `--seed S --scale N`. Exits with the test run's status.
 *
 * @module
 */

/** Parsed command line of the fuzz task. */
export interface FuzzArgs {
  /** Budget multiplier. */
  scale: number;
  /** PRNG seed of every fuzzer. */
  seed: number;
  /** Only tests whose name contains this. */
  filter?: string;
}

/** Parses `argv`; throws an Error naming the bad argument. */
export function parseFuzzArgs(argv: string[], randomSeed: () => number): FuzzArgs {
  const a: FuzzArgs = { scale: 50, seed: randomSeed() };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    i++;
    if (flag === "--scale") {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0 || n > 1_000_000) {
        throw new Error(`--scale must be a number in (0, 1000000], got "${v}"`);
      }
      a.scale = n;
    } else if (flag === "--seed") {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
        throw new Error(`--seed must be an integer in 0..4294967295, got "${v}"`);
      }
      a.seed = n;
    } else if (flag === "--filter") {
      a.filter = v;
    } else {
      throw new Error(`unknown argument "${flag}"`);
    }
  }
  return a;
}

if (import.meta.main) {
  let args: FuzzArgs;
  try {
    args = parseFuzzArgs(Deno.args, () => crypto.getRandomValues(new Uint32Array(1))[0]);
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}`);
    console.error("usage: deno task fuzz [--scale 50] [--seed S] [--filter NAME]");
    Deno.exit(2);
  }
  console.log(
    `fuzz: seed ${args.seed}, scale ${args.scale} (replay: deno task fuzz --seed ${args.seed} --scale ${args.scale})`,
  );
  const testArgs = ["test", "-P", ...(args.filter ? ["--filter", args.filter] : []), "tests/fuzz/"];
  const t0 = performance.now();
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: testArgs,
    env: { ELASTICORE_FUZZ_SCALE: String(args.scale), ELASTICORE_FUZZ_SEED: String(args.seed) },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  const s = (performance.now() - t0) / 1000;
  console.log(
    `fuzz: ${code === 0 ? "PASS" : "FAIL"} in ${s.toFixed(0)} s (${(s / 3600).toFixed(2)} h), ` +
      `seed ${args.seed}, scale ${args.scale}`,
  );
  Deno.exit(code);
}
