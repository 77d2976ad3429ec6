import assert from "node:assert/strict";
import { validateJobSpec } from "../../lib/stream/spec.ts";
import { planJob } from "../../lib/stream/plan.ts";
import { OperatorChain } from "../../lib/stream/operators/chain.ts";
import type { StreamRecord } from "../../lib/stream/record.ts";
import type { UserModule } from "../../lib/stream/operators/user.ts";
import { ElasticoreError } from "../../lib/errors.ts";

function chainOf(stages: unknown[], modules: Record<string, UserModule> = {}): OperatorChain {
  const spec = validateJobSpec({
    name: "t",
    source: { kind: "lines", path: "/x" },
    stages,
    sink: { kind: "api" },
  });
  return OperatorChain.fromOps(planJob(spec).stages.flatMap((s) => s.ops), (p) => modules[p]);
}

function run(chain: OperatorChain, recs: StreamRecord[]): StreamRecord[] {
  const out: StreamRecord[] = [];
  chain.processAll(recs, out);
  out.push(...chain.finish());
  return out;
}

const rows: StreamRecord[] = [
  { k: "a", v: "1", line: "alpha one" },
  { k: "b", v: "2", line: "Beta two" },
  { k: "a", v: "x", line: "alpha three" },
  { k: "a", v: "4", line: "gamma" },
];

Deno.test("filter: equals, contains, regex, ignoreCase, negate, whole line", () => {
  assert.equal(run(chainOf([{ op: "filter", column: "k", equals: "a" }]), rows).length, 3);
  assert.equal(run(chainOf([{ op: "filter", contains: "alpha" }]), rows).length, 2);
  assert.equal(
    run(chainOf([{ op: "filter", column: "line", regex: "^beta", ignoreCase: true }]), rows)
      .length,
    1,
  );
  assert.equal(
    run(chainOf([{ op: "filter", column: "k", equals: "a", negate: true }]), rows).length,
    1,
  );
  const noLine = [{ a: "x", b: 1 }];
  assert.equal(run(chainOf([{ op: "filter", equals: "x,1" }]), noLine).length, 1);
});

Deno.test("select, map and flatMap", () => {
  assert.deepEqual(
    run(chainOf([{ op: "select", columns: ["v", "k", "zz"], rename: { k: "key" } }]), [rows[0]]),
    [{ v: "1", key: "a", zz: "" }],
  );
  assert.deepEqual(
    run(chainOf([{ op: "map", rename: { k: "key" }, drop: ["line"], set: { n: 7 } }]), [rows[0]]),
    [{ key: "a", v: "1", n: 7 }],
  );
  assert.deepEqual(
    run(
      chainOf([{ op: "flatMap", column: "line", separator: " ", as: "word" }, {
        op: "select",
        columns: ["word"],
      }]),
      [{ line: " a  b c " }],
    ),
    [{ word: "a" }, { word: "b" }, { word: "c" }],
  );
});

Deno.test("running aggregates per key skip non-numeric values", () => {
  const agg = (op: string) =>
    run(chainOf([{ op: "keyBy", column: "k" }, { op, field: "v" }]), rows).map((r) => r[op]);
  assert.deepEqual(agg("sum"), [1, 2, 5]);
  assert.deepEqual(agg("min"), [1, 2, 1]);
  assert.deepEqual(agg("max"), [1, 2, 4]);
  assert.deepEqual(agg("avg"), [1, 2, 2.5]);
  assert.deepEqual(
    run(chainOf([{ op: "keyBy", column: "k" }, { op: "count", as: "n" }]), rows),
    [{ k: "a", n: 1 }, { k: "b", n: 1 }, { k: "a", n: 2 }, { k: "a", n: 3 }],
  );
  assert.deepEqual(run(chainOf([{ op: "count" }]), rows).map((r) => r.count), [1, 2, 3, 4]);
});

Deno.test("count windows: tumbling and sliding", () => {
  const recs = [1, 2, 3, 4, 5, 6, 7].map((v) => ({ k: "a", v }));
  const tumbling = run(
    chainOf([{
      op: "window",
      kind: "tumbling",
      by: "count",
      size: 3,
      aggregate: "sum",
      field: "v",
      key: "k",
    }]),
    recs,
  );
  assert.deepEqual(tumbling, [
    { k: "a", windowStart: 0, windowEnd: 3, sum: 6 },
    { k: "a", windowStart: 3, windowEnd: 6, sum: 15 },
  ]);
  const sliding = run(
    chainOf([{
      op: "window",
      kind: "sliding",
      by: "count",
      size: 3,
      slide: 2,
      aggregate: "max",
      field: "v",
    }]),
    recs,
  );
  assert.deepEqual(sliding.map((r) => [r.windowStart, r.windowEnd, r.max]), [[0, 2, 2], [1, 4, 4], [
    3,
    6,
    6,
  ]]);
});

Deno.test("time windows: tumbling, sliding, lateness and end of input", () => {
  const at = (t: number | string, k = "a") => ({ k, t, v: 1 });
  const tum = chainOf([{ op: "keyBy", column: "k" }, {
    op: "window",
    kind: "tumbling",
    by: "time",
    timeField: "t",
    size: 10,
    aggregate: "count",
  }]);
  const out = run(tum, [at(1), at(5), at(12, "b"), at(3), at(25), at(9), at("bad")]);
  // The watermark is per operator: at(12) closes [0, 10), so at(3) and at(9) are late.
  assert.deepEqual(out, [
    { k: "a", windowStart: 0, windowEnd: 10, count: 2 },
    { k: "b", windowStart: 10, windowEnd: 20, count: 1 },
    { k: "a", windowStart: 20, windowEnd: 30, count: 1 },
  ]);
  const late = chainOf([{
    op: "window",
    kind: "tumbling",
    by: "time",
    timeField: "t",
    size: 10,
    aggregate: "count",
    allowedLatenessMs: 20,
  }]);
  assert.deepEqual(run(late, [at(1), at(25), at(9)]).map((r) => r.count), [2, 1]);
  const slide = chainOf([{
    op: "window",
    kind: "sliding",
    by: "time",
    timeField: "t",
    size: 10,
    slide: 5,
    aggregate: "count",
  }]);
  assert.deepEqual(run(slide, [at(7)]).map((r) => [r.windowStart, r.windowEnd]), [[0, 10], [
    5,
    15,
  ]]);
  const dates = chainOf([{
    op: "window",
    kind: "tumbling",
    by: "time",
    timeField: "t",
    size: 86_400_000,
    aggregate: "count",
  }]);
  assert.equal(run(dates, [at("2024-01-01T10:00:00Z"), at("2024-01-01T12:00:00Z")])[0].count, 2);
});

Deno.test("snapshot/restore rolls back every stateful operator exactly", () => {
  const counter: UserModule = {
    process(rec, ctx) {
      const n = ((ctx.state.get(String(rec.k)) as number | undefined) ?? 0) + 1;
      ctx.state.set(String(rec.k), n);
      return { k: rec.k, u: n, key: ctx.key ?? "", p: ctx.params.tag };
    },
  };
  const stages = [
    { op: "keyBy", column: "k" },
    { op: "user", module: "/m.ts", args: { tag: "T" }, stateful: true },
    { op: "sum", field: "u", as: "s" },
    { op: "window", kind: "tumbling", by: "time", timeField: "s", size: 5, aggregate: "count" },
  ];
  const input = Array.from({ length: 20 }, (_, i) => ({ k: `k${i % 3}` }));
  const full = chainOf(stages, { "/m.ts": counter });
  const want = run(full, input);
  const c = chainOf(stages, { "/m.ts": counter });
  const out: StreamRecord[] = [];
  c.processAll(input.slice(0, 8), out);
  const snap = JSON.parse(JSON.stringify(c.onBarrier(1)));
  c.processAll(input.slice(8, 14), []); // work lost in a failure
  c.restore(snap);
  c.processAll(input.slice(8), out);
  out.push(...c.finish());
  assert.deepEqual(out, want);
  assert.equal(want[0].p, undefined); // the window's output has no user fields
  assert.throws(() => c.restore({ checkpointId: 1, operators: [null] }), ElasticoreError);
  assert.throws(
    () => c.restore({ checkpointId: 1, operators: ["x", null, null, null] }),
    (e: unknown) => e instanceof ElasticoreError && e.code === "stream_bad_snapshot",
  );
});

Deno.test("user operators: array outputs, bad outputs and errors are typed", () => {
  const mods: Record<string, UserModule> = {
    "/two.ts": { process: (r) => [r, r] },
    "/bad.ts": { process: () => ({ x: { nested: 1 } }) },
    "/throws.ts": {
      process: () => {
        throw new Error("boom");
      },
    },
    "/state.ts": {
      process: (r, ctx) => {
        ctx.state.set("k", new Map());
        return r;
      },
    },
  };
  assert.equal(run(chainOf([{ op: "user", module: "/two.ts" }], mods), rows).length, 8);
  for (const m of ["/bad.ts", "/throws.ts", "/state.ts"]) {
    assert.throws(
      () => run(chainOf([{ op: "user", module: m }], mods), rows),
      (e: unknown) => e instanceof ElasticoreError && e.code === "stream_user_operator",
      m,
    );
  }
});
