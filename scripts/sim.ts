/**
 * `deno task sim [--protocol P] [--seed S] [--seeds K] [--steps N] [--OPTION VALUE ...]`
 * runs seeded deterministic simulations of a protocol and prints each run's
 * report (trace hash, steps, protocol numbers). `--seeds K` runs seeds
 * S..S+K-1; a failing seed prints its `SimulationFailure`, which says how to
 * replay it, and the process exits 1. Other `--name value` pairs are passed
 * to the protocol's simulation as options (numbers and booleans parsed).
 *
 * @module
 */
import type { SimReport } from "../lib/sim/report.ts";
import { SimulationFailure } from "../lib/sim/simulator.ts";
import { runSwimSimulation } from "../lib/swim/simulation.ts";
import { runStreamSimulation } from "../lib/stream/simulation.ts";
import { runRaftSimulation } from "../lib/raft/simulation.ts";
import { runRingSimulation } from "../lib/dfs/ring/simulation.ts";

type Options = Record<string, number | boolean | string>;
type Runner = (seed: number, steps: number | undefined, extra: Options) => SimReport;

/** Every protocol `deno task sim` can run. */
export const PROTOCOLS: Record<string, Runner> = {
  raft: (seed, steps, extra) => runRaftSimulation(withSteps({ ...extra, seed }, steps)),
  ring: (seed, steps, extra) => runRingSimulation(withSteps({ ...extra, seed }, steps)),
  swim: (seed, steps, extra) => runSwimSimulation(withSteps({ ...extra, seed }, steps)),
  stream: (seed, steps, extra) => runStreamSimulation(withSteps({ ...extra, seed }, steps)),
};

/** Adds `steps` only when given, so each simulation keeps its own default. */
function withSteps<T extends { seed: number }>(
  opts: T,
  steps: number | undefined,
): T & { steps?: number } {
  return steps === undefined ? opts : { ...opts, steps };
}

/** The command that reruns one seed with every other option of this run. */
export function replayCommand(args: string[], protocol: string, seed: number): string {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i];
    const hasValue = args[i + 1] !== undefined && !args[i + 1].startsWith("--");
    if (name === "--seed" || name === "--seeds" || name === "--protocol") {
      if (hasValue) i++;
      continue;
    }
    kept.push(name);
    if (hasValue) kept.push(args[++i]);
  }
  return ["deno task sim --protocol", protocol, "--seed", String(seed), ...kept].join(" ");
}

function parseArgs(
  args: string[],
): { protocol: string; seed: number; seeds: number; steps?: number; extra: Options } {
  let protocol = "raft";
  let seed = 1;
  let seeds = 1;
  let steps: number | undefined;
  const extra: Options = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument "${a}"`);
    const name = a.slice(2);
    const next = args[i + 1];
    const hasValue = next !== undefined && !next.startsWith("--");
    const raw = hasValue ? args[++i] : "true";
    if (name === "protocol") protocol = raw;
    else if (name === "seed") seed = toInt(name, raw);
    else if (name === "seeds") seeds = toInt(name, raw);
    else if (name === "steps") steps = toInt(name, raw);
    else if (name.startsWith("no-")) extra[camel(name.slice(3))] = false;
    else {extra[camel(name)] = raw === "true"
        ? true
        : raw === "false"
        ? false
        : Number.isFinite(Number(raw))
        ? Number(raw)
        : raw;}
  }
  return { protocol, seed, seeds, steps, extra };
}

function toInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`--${name} needs a non-negative integer, got "${raw}"`);
  }
  return n;
}

function camel(s: string): string {
  return s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

if (import.meta.main) {
  let parsed;
  try {
    parsed = parseArgs(Deno.args);
  } catch (e) {
    console.error(`error[sim_args]: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const runner = PROTOCOLS[parsed.protocol];
  if (!runner) {
    console.error(
      `error[sim_protocol]: unknown protocol "${parsed.protocol}" (one of ${
        Object.keys(PROTOCOLS).join(", ")
      })`,
    );
    Deno.exit(2);
  }
  let failed = 0;
  for (let s = parsed.seed; s < parsed.seed + parsed.seeds; s++) {
    const start = performance.now();
    try {
      const r = runner(s, parsed.steps, parsed.extra);
      const ms = Math.round(performance.now() - start);
      const summary = Object.entries(r.summary).map(([k, v]) => `${k}=${v}`).join(" ");
      console.log(
        `${r.protocol} seed=${r.seed} steps=${r.steps} virtual=${r.virtualMs}ms trace=${r.traceHash} (${ms} ms) ${summary}`,
      );
    } catch (e) {
      failed++;
      if (e instanceof SimulationFailure) {
        console.error(e.message);
        console.error(`replay: ${replayCommand(Deno.args, parsed.protocol, s)}`);
      } else throw e;
    }
  }
  if (failed) {
    console.error(`${failed} of ${parsed.seeds} seeds failed`);
    Deno.exit(1);
  }
}
