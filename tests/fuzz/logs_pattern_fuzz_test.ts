import assert from "node:assert/strict";
import { join } from "node:path";
import { ElasticoreError } from "../../lib/errors.ts";
import { compilePattern, type GrepRequest } from "../../lib/logs/pattern.ts";
import { scanBytes } from "../../lib/logs/scanner.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { fuzzBudget, fuzzSeed } from "./fuzz_util.ts";

const TOKENS = [
  "a",
  "b",
  "c",
  "A",
  "B",
  "s",
  "S",
  "i",
  "I",
  "k",
  "x",
  "0",
  "1",
  "9",
  " ",
  "_",
  "-",
  ",",
  ":",
  "é",
  "É",
  "ſ",
  "ı",
  "ß",
  "µ",
  "Σ",
  "ς",
  "日",
  "🚀",
  "\t",
  "\r",
  ".",
  "*",
  "+",
  "?",
  "|",
  "(",
  ")",
  "[",
  "]",
  "^",
  "$",
  "\\",
  "{",
  "}",
  "{2}",
  "{1,3}",
  "{,2}",
  "{2,}",
  "{300}",
  "[:alpha:]",
  "[:digit:]",
  "[:space:]",
  "[:punct:]",
  "[:upper:]",
  "[:nope:]",
  "[=a=]",
  "[.a.]",
  "\\w",
  "\\W",
  "\\s",
  "\\S",
  "\\b",
  "\\B",
  "\\<",
  "\\>",
  "\\1",
  "\\d",
  "\\.",
  "\\(",
  "(?",
  "(?=",
  "(?<!",
  "[^",
  "[a-z]",
  "[^ ]",
  "a-",
  "\n",
  "\ud800",
  "\u0000",
];

const SAMPLE = [
  "abc ABC a.c a+c",
  "ſtraße STRASSE ıi İI",
  "µ Μ μ Σσς é É",
  "x{2} xx xxx [br] (p) a|b",
  "日本語 🚀 tab\there",
  "",
  "   spaces\r",
  "k K 0x1F 123-456 _id",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
  "last line without newline",
].join("\n");
const SAMPLE_BYTES = new TextEncoder().encode(SAMPLE);

function randomPattern(prng: Prng): string {
  const n = prng.int(12);
  let s = "";
  for (let i = 0; i < n; i++) s += prng.pick(TOKENS);
  if (prng.chance(0.01)) s += "a".repeat(prng.int(600));
  return s;
}

function randomRequest(prng: Prng): GrepRequest {
  return {
    pattern: randomPattern(prng),
    regex: prng.chance(0.75),
    ignoreCase: prng.chance(0.4),
    count: prng.chance(0.2),
  };
}

Deno.test("logs pattern fuzz: random patterns never throw anything but ElasticoreError", () => {
  const prng = new Prng(fuzzSeed());
  const budget = fuzzBudget(20_000);
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < budget; i++) {
    const req = randomRequest(prng);
    try {
      const compiled = compilePattern(req);
      const r = scanBytes(SAMPLE_BYTES, compiled);
      assert.ok(r.matches.length <= 10 && r.counts.length <= 1);
      for (const m of r.matches) assert.ok(m.line >= 1 && m.line <= 10 && !m.text.includes("\n"));
      accepted++;
    } catch (e) {
      if (!(e instanceof ElasticoreError)) {
        throw new Error(`${JSON.stringify(req)} threw ${e instanceof Error ? e.stack : e}`);
      }
      assert.ok(e.code === "logs_pattern_rejected", `${JSON.stringify(req)}: ${e.code}`);
      rejected++;
    }
  }
  assert.equal(accepted + rejected, budget);
  assert.ok(accepted > budget / 10, `only ${accepted} accepted`);
  assert.ok(rejected > budget / 10, `only ${rejected} rejected`);
});

Deno.test("logs pattern fuzz: accepted random patterns match the lines GNU grep matches", async () => {
  const prng = new Prng(fuzzSeed() ^ 0x5eed);
  const dir = await Deno.makeTempDir({ prefix: "elasticore-pattern-fuzz-" });
  const file = join(dir, "sample.txt");
  await Deno.writeFile(file, SAMPLE_BYTES);
  try {
    const budget = fuzzBudget(250);
    let compared = 0;
    for (let tries = 0; compared < budget && tries < budget * 20; tries++) {
      const req = { ...randomRequest(prng), count: false };
      if (req.pattern.includes("\u0000")) continue; // grep treats NUL patterns specially
      try {
        compilePattern(req);
      } catch {
        continue;
      }
      const out = await new Deno.Command("grep", {
        args: [
          req.regex ? "-E" : "-F",
          ...(req.ignoreCase ? ["-i"] : []),
          "-n",
          "-e",
          req.pattern,
          file,
        ],
        env: { LC_ALL: "C.UTF-8" },
        stdout: "piped",
        stderr: "null",
      }).output();
      if (out.code > 1) continue; // grep rejects it: nothing to compare
      const text = new TextDecoder().decode(out.stdout);
      const theirs = text === "" ? [] : text.replace(/\n$/, "").split("\n");
      const ours = scanBytes(SAMPLE_BYTES, req).matches.map((m) => `${m.line}:${m.text}`);
      assert.deepEqual(ours, theirs, JSON.stringify(req));
      compared++;
    }
    assert.ok(compared >= budget / 2, `only ${compared} compared`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
