import assert from "node:assert/strict";
import { decode, encode } from "@msgpack/msgpack";
import { RunningAggregateOperator } from "../../lib/stream/operators/aggregate.ts";
import type { StreamRecord } from "../../lib/stream/record.ts";
import {
  batchLength,
  batchRecords,
  codeRows,
  OutputChannel,
  rowsToRecords,
} from "../../lib/stream/runtime/channels.ts";
import { StreamData } from "../../lib/stream/runtime/messages.ts";

function msg(cols: string[], rows: (string | number)[][]): StreamData {
  return { job: "j", attempt: 1, from: "s0.0", to: "s1.0", seq: 1, cols, rows };
}

/** What a remote receiver gets: coded, through msgpack, validated. */
function overTheWire(m: StreamData): StreamData {
  return StreamData.parse(decode(encode(codeRows(m), { ignoreUndefined: true })));
}

Deno.test("batch codec: repeated values travel as a dictionary and decode to the same records", () => {
  const cats = ["Streetname", "Regulatory", "Warning", "Guide"];
  const rows = Array.from({ length: 1000 }, (_, i) => [cats[i % 4], i % 3 === 0 ? 7 : "7"]);
  const m = msg(["Category", "n"], rows);
  const coded = codeRows(m);
  assert.ok(coded.coded, "coded");
  assert.deepEqual(coded.rows, []);
  assert.equal(coded.coded.dict.length, 6);
  assert.equal(coded.coded.codes.length, 2000);
  assert.ok(encode(coded).length * 3 < encode(m).length, "much smaller on the wire");
  const got = overTheWire(m);
  assert.equal(batchLength(got), 1000);
  assert.deepEqual(batchRecords(got), rowsToRecords(m.cols, m.rows));
  assert.equal(batchRecords(got)[0].n, 7);
  assert.equal(batchRecords(got)[1].n, "7");
});

Deno.test("batch codec: more than 256 distinct values use two-byte codes", () => {
  const rows = Array.from({ length: 3000 }, (_, i) => [i % 4 === 0 ? `k${i}` : "common"]);
  const m = msg(["k"], rows);
  const coded = codeRows(m);
  assert.equal(coded.coded?.codes.length, 6000);
  assert.deepEqual(batchRecords(overTheWire(m)), rowsToRecords(m.cols, m.rows));
});

Deno.test("batch codec: stays plain when coding does not pay or would change a value", () => {
  const distinct = msg(["id"], Array.from({ length: 500 }, (_, i) => [`id-${i}`]));
  assert.equal(codeRows(distinct), distinct);
  const small = msg(["a"], [["x"], ["x"]]);
  assert.equal(codeRows(small), small);
  const negZero = msg(["v"], Array.from({ length: 40 }, (_, i) => [i === 5 ? -0 : 0]));
  assert.equal(codeRows(negZero), negZero);
  const noCols = msg([], Array.from({ length: 40 }, () => []));
  assert.equal(codeRows(noCols), noCols);
  assert.equal(batchLength(noCols), 40);
});

Deno.test("batch codec: codes that do not fit the shape or the dictionary are rejected", () => {
  const base = msg(["a", "b"], []);
  const bad = (codes: number[], n: number, dict = ["x", "y"]) =>
    batchRecords({ ...base, coded: { n, dict, codes: Uint8Array.from(codes) } });
  assert.throws(() => bad([0, 1, 0], 2), RangeError);
  assert.throws(() => bad([0, 2], 1), /code 2/);
  assert.deepEqual(bad([1, 0], 1), [{ a: "y", b: "x" }]);
});

Deno.test("batch codec: record constructors keep odd column names as data", () => {
  const recs = rowsToRecords(["__proto__", "x"], [["p", 1]]);
  assert.equal(Object.getPrototypeOf(recs[0]), Object.prototype);
  assert.deepEqual(Object.keys(recs[0]), ["__proto__", "x"]);
  const op = new RunningAggregateOperator("count", { key: "__proto__", as: "n" });
  const out: StreamRecord[] = [];
  op.process({ __proto__: "k" } as unknown as StreamRecord, out);
  assert.equal(Object.getPrototypeOf(out[0]), Object.prototype);
  const same = new RunningAggregateOperator("count", { key: "count" });
  const out2: StreamRecord[] = [];
  same.process({ count: "a" }, out2);
  assert.deepEqual(out2, [{ count: 1 }]);
});

Deno.test("output channel: a partial flush sends only full batches; barriers send the rest first", async () => {
  const sent: StreamData[] = [];
  const ch = new OutputChannel(
    { job: "j", attempt: 1, from: "s0.0", to: "s1.0" },
    (m) => {
      sent.push(m);
      return Promise.resolve();
    },
    100,
    4,
    ["k"],
  );
  for (let i = 0; i < 10; i++) ch.push({ k: `v${i}`, other: "dropped" });
  await ch.flush(false);
  assert.deepEqual(sent.map((m) => m.rows.length), [4, 4]);
  assert.equal(ch.buffered, 2);
  await ch.flush(false);
  assert.equal(sent.length, 2, "nothing full: nothing sent");
  await ch.barrier(7);
  assert.deepEqual(sent.map((m) => [m.seq, m.rows.length, m.barrier]), [
    [1, 4, undefined],
    [2, 4, undefined],
    [3, 2, undefined],
    [4, 0, 7],
  ]);
  assert.deepEqual(sent.flatMap((m) => m.rows.map((r) => r[0])), [
    ...Array.from({ length: 10 }, (_, i) => `v${i}`),
  ]);
  assert.equal(ch.buffered, 0);
  assert.equal(ch.inFlight, 10);
});
