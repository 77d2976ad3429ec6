import assert from "node:assert/strict";
import { Prng } from "../../lib/sim/prng.ts";
import { CsvParser, formatCsvRow } from "../../lib/stream/csv.ts";
import { LineSplitter, NdjsonReader } from "../../lib/stream/sources.ts";
import { fuzzBudget, fuzzSeed } from "./fuzz_util.ts";

const ALPHABET = ['"', ",", "\n", "\r", "a", "b", " ", "é", "😀", '""', "\r\n"];

function parseInChunks(p: Prng, input: string | Uint8Array): string[][] {
  const parser = new CsvParser();
  const rows: string[][] = [];
  let i = 0;
  while (i < input.length) {
    const n = 1 + p.int(Math.max(1, Math.min(40, input.length - i)));
    rows.push(...parser.push(input.slice(i, i + n)));
    i += n;
  }
  rows.push(...parser.finish());
  return rows;
}

Deno.test("fuzz: 6,000 random CSV inputs in random chunks never throw and parse like one chunk", () => {
  const p = new Prng(fuzzSeed(99));
  for (let iter = 0; iter < fuzzBudget(6000); iter++) {
    let s = "";
    for (let n = p.int(60); n > 0; n--) s += p.pick(ALPHABET);
    const whole = new CsvParser();
    const want = [...whole.push(s), ...whole.finish()];
    assert.deepEqual(parseInChunks(p, s), want, JSON.stringify(s));
    if (iter % 4 === 0) {
      const bytes = new TextEncoder().encode(s);
      assert.deepEqual(parseInChunks(p, bytes), want, `bytes ${JSON.stringify(s)}`);
      const junk = bytes.map((b) => (p.chance(0.05) ? p.int(256) : b));
      parseInChunks(p, junk);
    }
    if (iter % 3 === 0) {
      const ls = new LineSplitter();
      ls.push(s);
      ls.finish();
      const nd = new NdjsonReader();
      nd.push(s);
      nd.finish();
    }
  }
});

Deno.test("fuzz: 5,000 generated record sets round-trip through the writer and parser", () => {
  const p = new Prng(fuzzSeed(7));
  for (let iter = 0; iter < fuzzBudget(5000); iter++) {
    const width = 1 + p.int(5);
    const rows: string[][] = [];
    for (let r = p.int(6); r >= 0; r--) {
      rows.push(Array.from({ length: width }, () => {
        let f = "";
        for (let n = p.int(8); n > 0; n--) f += p.pick(ALPHABET);
        return f;
      }));
    }
    const crlf = p.chance(0.5);
    const text = rows.map((r) => formatCsvRow(r, { crlf })).join("");
    assert.deepEqual(parseInChunks(p, text), rows, JSON.stringify(rows));
  }
});
