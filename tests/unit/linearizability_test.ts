import assert from "node:assert/strict";
import {
  checkLinearizable,
  type KvInput,
  kvModel,
  type KvOutput,
  type Model,
  type Operation,
} from "../../lib/sim/linearizability.ts";

type Op = Operation<KvInput, KvOutput>;
const U = Infinity;

const put = (
  c: number,
  key: string,
  value: string,
  version: number,
  call: number,
  ret: number,
  ok?: boolean,
  cas?: number,
): Op => ({
  client: c,
  input: cas === undefined
    ? { op: "put", key, value, version }
    : { op: "put", key, value, cas, version },
  ...(ok === undefined ? {} : { output: { ok } }),
  call,
  ret,
});
const get = (
  c: number,
  key: string,
  value: string | null,
  version: number,
  call: number,
  ret: number,
): Op => ({
  client: c,
  input: { op: "get", key },
  output: { ok: true, value, version },
  call,
  ret,
});
const del = (
  c: number,
  key: string,
  version: number,
  call: number,
  ret: number,
  ok: boolean,
  cas?: number,
): Op => ({
  client: c,
  input: cas === undefined ? { op: "delete", key, version } : { op: "delete", key, cas, version },
  output: { ok },
  call,
  ret,
});

const check = (h: Op[]) => checkLinearizable(h, kvModel);

Deno.test("linearizability: sequential and overlapping histories that are linearizable", () => {
  assert.equal(check([]).ok, true);
  assert.equal(check([put(0, "a", "1", 3, 0, 10, true), get(1, "a", "1", 3, 20, 30)]).ok, true);
  // A read concurrent with a write may see the old or the new value.
  const w = put(0, "a", "1", 3, 0, 100, true);
  assert.equal(check([w, get(1, "a", null, 0, 10, 20), get(2, "a", "1", 3, 30, 40)]).ok, true);
  assert.equal(check([w, get(1, "a", "1", 3, 10, 20), get(2, "a", "1", 3, 30, 40)]).ok, true);
  // Touching intervals count as concurrent.
  assert.equal(check([put(0, "a", "1", 3, 0, 10, true), get(1, "a", null, 0, 10, 20)]).ok, true);
  const del2 = [
    put(0, "k", "x", 2, 0, 5, true),
    del(1, "k", 4, 6, 9, true),
    get(2, "k", null, 0, 10, 12),
  ];
  assert.equal(check(del2).ok, true);
});

Deno.test("linearizability: a stale read after a completed write is caught", () => {
  const r = check([put(0, "a", "1", 3, 0, 10, true), get(1, "a", null, 0, 20, 30)]);
  assert.equal(r.ok, false);
  assert.equal(r.inconclusive, false);
  assert.ok(r.counterexample);
  assert.match(r.counterexample.message, /not linearizable/);
});

Deno.test("linearizability: a value cannot go back once a newer one was read", () => {
  const w = put(0, "a", "1", 3, 0, 100, true);
  const r = check([w, get(1, "a", "1", 3, 10, 20), get(2, "a", null, 0, 30, 40)]);
  assert.equal(r.ok, false);
});

Deno.test("linearizability: a lost acknowledged write is caught", () => {
  const h = [
    put(0, "a", "1", 3, 0, 10, true),
    put(1, "a", "2", 5, 20, 30, true),
    get(2, "a", "1", 3, 40, 50),
  ];
  assert.equal(check(h).ok, false);
});

Deno.test("linearizability: an operation with unknown outcome may or may not take effect", () => {
  const unknown = put(0, "a", "1", 7, 0, U);
  assert.equal(check([unknown, get(1, "a", null, 0, 10, 20)]).ok, true, "never took effect");
  assert.equal(
    check([unknown, get(1, "a", null, 0, 10, 20), get(2, "a", "1", 7, 30, 40)]).ok,
    true,
    "took effect between the reads",
  );
  assert.equal(
    check([unknown, get(1, "a", "1", 7, 10, 20), get(2, "a", null, 0, 30, 40)]).ok,
    false,
    "but it cannot be undone",
  );
});

Deno.test("linearizability: compare-and-set semantics", () => {
  const base = put(0, "a", "1", 3, 0, 10, true);
  const cas1 = put(1, "a", "2", 5, 20, 40, true, 3);
  const cas2ok = put(2, "a", "3", 6, 20, 40, true, 3);
  const cas2fail = put(2, "a", "3", 6, 20, 40, false, 3);
  assert.equal(check([base, cas1, cas2ok]).ok, false, "two CAS on one version cannot both win");
  assert.equal(check([base, cas1, cas2fail]).ok, true);
  assert.equal(
    check([put(0, "b", "1", 2, 0, 5, true, 0), put(1, "b", "2", 4, 6, 9, true, 0)]).ok,
    false,
  );
  assert.equal(check([del(0, "c", 2, 0, 5, false, 9)]).ok, true, "a delete with a wrong cas fails");
  assert.equal(check([del(0, "c", 2, 0, 5, true, 9)]).ok, false);
});

Deno.test("linearizability: keys are checked independently; the counterexample names the key", () => {
  const h: Op[] = [];
  for (let i = 0; i < 40; i++) {
    h.push(put(i % 3, `k${i % 4}`, `v${i}`, i + 1, i * 10, i * 10 + 25, true));
    h.push(get((i + 1) % 3, `k${i % 4}`, `v${i}`, i + 1, i * 10 + 26, i * 10 + 30));
  }
  const ok = check(h);
  assert.equal(ok.ok, true);
  assert.equal(ok.partitions, 4);
  h.push(get(5, "k2", "v2", 3, 1000, 1001));
  const bad = check(h);
  assert.equal(bad.ok, false);
  assert.ok(bad.counterexample!.ops.every((o) => o.input.key === "k2"));
});

Deno.test("linearizability: many concurrent unknown writes stay tractable thanks to memoization", () => {
  const h: Op[] = [];
  for (let i = 0; i < 14; i++) h.push(put(i, "a", `v${i}`, i + 1, i, U));
  h.push(get(20, "a", "v3", 4, 100, 101));
  h.push(get(21, "a", "v9", 10, 102, 103));
  const r = check(h);
  assert.equal(r.ok, true);
  assert.ok(r.explored < 200_000, `explored ${r.explored}`);
});

Deno.test("linearizability: the checker is generic over models, and reports budget exhaustion", () => {
  // A counter whose increments return the new value.
  const counter: Model<number, "inc" | "read", number> = {
    init: () => 0,
    step: (s, input, out) => {
      const next = input === "inc" ? s + 1 : s;
      return { ok: out === undefined || out === next, state: next };
    },
    key: (s) => String(s),
  };
  const op = (input: "inc" | "read", output: number, call: number, ret: number) => ({
    client: 0,
    input,
    output,
    call,
    ret,
  });
  assert.equal(
    checkLinearizable([op("inc", 2, 0, 10), op("inc", 1, 0, 10), op("read", 2, 11, 12)], counter)
      .ok,
    true,
  );
  assert.equal(checkLinearizable([op("inc", 1, 0, 1), op("inc", 1, 2, 3)], counter).ok, false);
  const many = Array.from({ length: 12 }, (_, i) => op("inc", 12 - i, 0, 100));
  const r = checkLinearizable(many, counter, { maxSteps: 5 });
  assert.equal(r.ok, false);
  assert.equal(r.inconclusive, true);
  assert.throws(() => checkLinearizable([op("read", 0, 5, 1)], counter), RangeError);
});
