import assert from "node:assert/strict";
import { Prng } from "../../lib/sim/prng.ts";
import { JobSpecError, parseJobSpec, validateJobSpec } from "../../lib/stream/spec.ts";
import { planJob } from "../../lib/stream/plan.ts";
import { app1Spec, app2Spec } from "../../lib/stream/apps.ts";
import { stringify as toToml } from "smol-toml";
import { fuzzBudget, fuzzSeed } from "./fuzz_util.ts";

const OPS = [
  "filter",
  "select",
  "map",
  "flatMap",
  "keyBy",
  "count",
  "sum",
  "min",
  "max",
  "avg",
  "window",
  "user",
  "bogus",
];
const KEYS = [
  "op",
  "column",
  "columns",
  "equals",
  "contains",
  "regex",
  "parallelism",
  "field",
  "key",
  "as",
  "kind",
  "by",
  "size",
  "slide",
  "timeField",
  "aggregate",
  "module",
  "args",
  "separator",
  "rename",
  "drop",
  "set",
  "stateful",
  "ignoreCase",
  "negate",
  "path",
  "name",
  "header",
];

function randomValue(p: Prng, depth = 0): unknown {
  switch (p.int(depth > 2 ? 7 : 9)) {
    case 0:
      return p.int(5) - 1;
    case 1:
      return p.pick([
        "",
        "a",
        "Category",
        "(a+)+",
        "[",
        "x".repeat(p.int(400)),
        "/m.ts",
        "csv",
        "api",
        "dfs",
        "sliding",
        "time",
        "count",
        "sum",
      ]);
    case 2:
      return p.chance(0.5);
    case 3:
      return null;
    case 4:
      return p.next() * 1e6;
    case 5:
      return p.pick(OPS);
    case 6:
      return undefined;
    case 7:
      return Array.from({ length: p.int(4) }, () => randomValue(p, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = p.int(5); i > 0; i--) o[p.pick(KEYS)] = randomValue(p, depth + 1);
      return o;
    }
  }
}

function mutate(p: Prng, v: unknown, depth = 0): unknown {
  if (Array.isArray(v)) {
    const a = v.map((x) => (p.chance(0.3) ? mutate(p, x, depth + 1) : x));
    if (p.chance(0.2)) a.splice(p.int(a.length + 1), 0, randomValue(p));
    if (p.chance(0.1) && a.length) a.splice(p.int(a.length), 1);
    return a;
  }
  if (typeof v === "object" && v !== null) {
    const o: Record<string, unknown> = { ...v };
    const keys = Object.keys(o);
    if (keys.length && p.chance(0.5)) {
      const k = p.pick(keys);
      o[k] = p.chance(0.5) ? mutate(p, o[k], depth + 1) : randomValue(p);
    }
    if (p.chance(0.2)) o[p.pick(KEYS)] = randomValue(p);
    if (p.chance(0.15) && keys.length) delete o[p.pick(keys)];
    return o;
  }
  return p.chance(0.5) ? randomValue(p) : v;
}

Deno.test("fuzz: 6,000 random and mutated job specs only ever raise JobSpecError", () => {
  const p = new Prng(fuzzSeed(20240601));
  const seeds: unknown[] = [app1Spec(), app2Spec(), JSON.parse(JSON.stringify(app2Spec()))];
  let valid = 0;
  let invalid = 0;
  for (let i = 0; i < fuzzBudget(6000); i++) {
    const base = p.pick(seeds);
    const candidate = i % 5 === 0 ? randomValue(p) : mutate(p, mutate(p, base));
    const asText = i % 7 === 0;
    try {
      let spec;
      if (asText) {
        let text: string;
        try {
          text = p.chance(0.5) || typeof candidate !== "object" || candidate === null ||
              Array.isArray(candidate)
            ? JSON.stringify(candidate) ?? "null"
            : toToml(candidate as Record<string, unknown>);
        } catch {
          text = JSON.stringify(candidate) ?? "";
        }
        if (p.chance(0.3)) text = text.slice(0, p.int(text.length + 1));
        spec = parseJobSpec(text);
      } else spec = validateJobSpec(candidate);
      planJob(spec);
      valid++;
    } catch (e) {
      if (!(e instanceof JobSpecError)) throw e;
      assert.ok(e.issues.length > 0 && e.message.length > 0);
      invalid++;
    }
  }
  assert.ok(valid > 100 && invalid > 1000, `valid ${valid}, invalid ${invalid}`);
});
