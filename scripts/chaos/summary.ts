/**
 * Summarizes the JSON lines `deno task chaos --jsonl FILE` writes (one per
 * seed): seeds passed and failed, operations, faults applied and every failed
 * check, as the table docs/RELIABILITY.md records.
 *
 * ```
 * deno run -P scripts/chaos/summary.ts FILE...
 * ```
 *
 * @module
 */

/** One seed's line, as written by `scripts/chaos.ts` (a crashed run has only `error`). */
export interface ChaosLine {
  seed: number;
  ok?: boolean;
  error?: string;
  wallSeconds?: number;
  ops?: Record<string, number>;
  faults?: { applied: Record<string, number>; leaderHits: number; planned: number };
  checks?: { name: string; ok: boolean; message: string }[];
}

/** Totals over many seeds. */
export interface ChaosSummary {
  seeds: number;
  passed: number;
  failed: { seed: number; why: string }[];
  ops: Record<string, number>;
  faults: Record<string, number>;
  leaderHits: number;
  checks: Record<string, number>;
  wallSeconds: number;
}

/** Adds up `lines`; throws naming the line that is not a chaos report. */
export function summarize(lines: ChaosLine[]): ChaosSummary {
  const s: ChaosSummary = {
    seeds: 0,
    passed: 0,
    failed: [],
    ops: {},
    faults: {},
    leaderHits: 0,
    checks: {},
    wallSeconds: 0,
  };
  for (const l of lines) {
    if (typeof l.seed !== "number") throw new Error(`not a chaos line: ${JSON.stringify(l)}`);
    s.seeds++;
    if (l.ok) s.passed++;
    else {
      const bad = (l.checks ?? []).filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`);
      s.failed.push({ seed: l.seed, why: l.error ?? (bad.join("; ") || "failed") });
    }
    s.wallSeconds += l.wallSeconds ?? 0;
    for (const [k, v] of Object.entries(l.ops ?? {})) s.ops[k] = (s.ops[k] ?? 0) + v;
    for (const [k, v] of Object.entries(l.faults?.applied ?? {})) {
      s.faults[k] = (s.faults[k] ?? 0) + v;
    }
    s.leaderHits += l.faults?.leaderHits ?? 0;
    for (const c of l.checks ?? []) if (c.ok) s.checks[c.name] = (s.checks[c.name] ?? 0) + 1;
  }
  return s;
}

/** Parses JSON lines; throws naming the file and line number of a bad one. */
export function parseLines(name: string, text: string): ChaosLine[] {
  const out: ChaosLine[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push(JSON.parse(line) as ChaosLine);
    } catch (e) {
      throw new Error(`${name}:${i + 1}: not JSON (${(e as Error).message})`);
    }
  });
  return out;
}

if (import.meta.main) {
  if (Deno.args.length === 0) {
    console.error("usage: deno run -P scripts/chaos/summary.ts FILE...");
    Deno.exit(2);
  }
  const lines = Deno.args.flatMap((f) => parseLines(f, Deno.readTextFileSync(f)));
  const s = summarize(lines);
  const seeds = lines.map((l) => l.seed);
  console.log(
    `seeds ${Math.min(...seeds)}-${Math.max(...seeds)}: ${s.passed} of ${s.seeds} passed ` +
      `(${(s.wallSeconds / 60).toFixed(0)} min)`,
  );
  console.log(`operations: ${JSON.stringify(s.ops)}`);
  console.log(`faults applied: ${JSON.stringify(s.faults)}, leader hits ${s.leaderHits}`);
  console.log(`passed checks: ${JSON.stringify(s.checks)}`);
  for (const f of s.failed) console.log(`FAILED seed ${f.seed}: ${f.why}`);
}
