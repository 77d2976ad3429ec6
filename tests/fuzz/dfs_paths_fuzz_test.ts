import assert from "node:assert/strict";
import { ElasticoreError } from "../../lib/errors.ts";
import { MAX_NAME_BYTES, MAX_PATH_BYTES, normalizePath } from "../../lib/dfs/paths.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { fuzzBudget, fuzzSeed } from "./fuzz_util.ts";

const ALPHABET = [
  "a",
  "b",
  "z",
  "0",
  "_",
  "-",
  ".",
  "..",
  "/",
  "//",
  "\\",
  " ",
  "\u0000",
  "\u0001",
  "\u001f",
  "\u007f",
  "\n",
  "é",
  "e\u0301",
  "日",
  "😀",
  "\ud800",
  "\udfff",
  "~",
  "%2e",
  ":",
  "*",
];

function randomString(prng: Prng): string {
  const n = prng.int(24);
  let s = "";
  for (let i = 0; i < n; i++) {
    s += prng.chance(0.7) ? prng.pick(ALPHABET) : String.fromCharCode(prng.int(0x3000));
  }
  return s;
}

function mutate(prng: Prng, s: string): string {
  const ops = prng.between(1, 3);
  let out = s;
  for (let k = 0; k < ops; k++) {
    const at = prng.int(out.length + 1);
    switch (prng.int(5)) {
      case 0:
        out = out.slice(0, at) + prng.pick(ALPHABET) + out.slice(at);
        break;
      case 1:
        out = out.slice(0, at) + out.slice(at + 1);
        break;
      case 2:
        out = out.slice(0, at) + "/../" + out.slice(at);
        break;
      case 3:
        out = out.slice(0, at) + "x".repeat(prng.int(300)) + out.slice(at);
        break;
      default:
        out = out + "/" + randomString(prng);
    }
  }
  return out;
}

const SEEDS = [
  "/a/b/c",
  "a/b",
  "/",
  "/data/TrafficSigns_1000.csv",
  "/x/./y",
  "/x/../y",
  "//x",
  "/ü/日本",
];

Deno.test("fuzz: 24,000 random and mutated paths never throw anything but ElasticoreError", () => {
  const prng = new Prng(fuzzSeed());
  const enc = new TextEncoder();
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < fuzzBudget(24_000); i++) {
    const input = i % 2 === 0 ? randomString(prng) : mutate(prng, prng.pick(SEEDS));
    let out: string;
    try {
      out = normalizePath(input);
    } catch (e) {
      assert.ok(e instanceof ElasticoreError, `non-typed error for ${JSON.stringify(input)}`);
      assert.equal(e.code, "fs_invalid_path");
      rejected++;
      continue;
    }
    accepted++;
    // Accepted paths round-trip and are clean.
    assert.equal(normalizePath(out), out, `round-trip of ${JSON.stringify(input)}`);
    assert.ok(out.startsWith("/"));
    const names = out === "/" ? [] : out.slice(1).split("/");
    for (const name of names) {
      assert.notEqual(name, "..");
      assert.notEqual(name, ".");
      assert.notEqual(name, "");
      assert.ok(enc.encode(name).byteLength <= MAX_NAME_BYTES);
      for (const ch of name) {
        const c = ch.codePointAt(0)!;
        assert.ok(c >= 0x20 && c !== 0x7f && c !== 0x5c, `control or backslash in ${name}`);
      }
    }
    assert.ok(enc.encode(out).byteLength <= MAX_PATH_BYTES);
  }
  // The generator must exercise both outcomes substantially.
  assert.ok(accepted > 2_000, `accepted ${accepted}`);
  assert.ok(rejected > 2_000, `rejected ${rejected}`);
});
