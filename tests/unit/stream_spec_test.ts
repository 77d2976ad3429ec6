import assert from "node:assert/strict";
import { JobSpecError, parseJobSpec, validateJobSpec } from "../../lib/stream/spec.ts";
import { hashKey, partitionOf, planJob } from "../../lib/stream/plan.ts";
import { ElasticoreError } from "../../lib/errors.ts";

const base = {
  name: "j",
  source: { kind: "csv", path: "/d.csv" },
  stages: [{ op: "filter", column: "a", equals: "x" }],
  sink: { kind: "api" },
};

function errorOf(v: unknown): JobSpecError {
  try {
    validateJobSpec(v);
  } catch (e) {
    assert.ok(e instanceof JobSpecError && e instanceof ElasticoreError);
    return e;
  }
  assert.fail("expected a JobSpecError");
}

Deno.test("spec: TOML spec parses with defaults filled in", () => {
  const spec = parseJobSpec(`
name = "app2"
[source]
kind = "csv"
path = "/data/t.csv"
[[stages]]
op = "filter"
column = "Sign_Post"
equals = "Punched Telespar"
parallelism = 2
[[stages]]
op = "keyBy"
column = "Category"
[[stages]]
op = "count"
parallelism = 3
[sink]
kind = "dfs"
path = "/out/a.ndjson"
`);
  assert.equal(spec.stages.length, 3);
  assert.equal(spec.stages[1].parallelism, 1);
  assert.deepEqual(spec.source, { kind: "csv", path: "/data/t.csv", header: true, delimiter: "," });
  assert.deepEqual(spec.sink, { kind: "dfs", path: "/out/a.ndjson", format: "ndjson" });
  assert.equal(parseJobSpec(JSON.stringify(base)).name, "j");
});

Deno.test("spec: errors name the path", () => {
  const cases: [unknown, string][] = [
    [{ ...base, stages: [base.stages[0], { op: "explode" }] }, "stages[1].op"],
    [{ ...base, stages: [{ op: "filter", column: "a" }] }, "stages[0]"],
    [{ ...base, stages: [{ op: "filter", regex: "(a+)+" }] }, "stages[0].regex"],
    [{ ...base, stages: [{ op: "filter", regex: "[" }] }, "stages[0].regex"],
    [{ ...base, stages: [{ op: "filter", regex: "a".repeat(300) }] }, "stages[0].regex"],
    [{ ...base, stages: [{ op: "count", parallelism: 0 }] }, "stages[0].parallelism"],
    [{ ...base, stages: [{ op: "count", parallelism: 2 }] }, "stages[0].parallelism"],
    [{ ...base, stages: [{ op: "keyBy", column: "k" }] }, "stages[0]"],
    [{ ...base, stages: [{ op: "sum" }] }, "stages[0].field"],
    [{ ...base, stages: [{ op: "select", columns: ["a"], extra: 1 }] }, "stages[0]"],
    [{
      ...base,
      stages: [{ op: "window", kind: "sliding", by: "time", size: 10, aggregate: "sum" }],
    }, "stages[0].slide"],
    [{ ...base, source: { kind: "kafka" } }, "source.kind"],
    [{ ...base, source: { kind: "csv", path: "/x", header: false } }, "source.columns"],
    [{ ...base, sink: { kind: "dfs" } }, "sink.path"],
    [{ ...base, name: "bad name" }, "name"],
    [{ ...base, stages: [] }, "stages"],
    [{ ...base, checkpoint: { intervalMs: 1 } }, "checkpoint.intervalMs"],
    ["not an object", ""],
  ];
  for (const [spec, path] of cases) {
    const e = errorOf(spec);
    assert.equal(e.code, "job_spec_invalid");
    assert.equal(e.issues[0].path, path, `${JSON.stringify(spec)} -> ${e.message}`);
    if (path) assert.ok(e.message.startsWith(`${path}: `), e.message);
  }
});

Deno.test("spec: syntax errors are typed", () => {
  for (const text of ["{ not json", "name = ", "x".repeat(1024 * 1024 + 1)]) {
    assert.throws(() => parseJobSpec(text), (e: unknown) => {
      assert.ok(e instanceof JobSpecError);
      assert.equal(e.code, "job_spec_syntax");
      return true;
    });
  }
});

Deno.test("plan: keyBy sets hash partitioning and keys; equal parallelism chains", () => {
  const spec = validateJobSpec({
    ...base,
    stages: [
      { op: "filter", column: "a", equals: "x", parallelism: 2 },
      { op: "select", columns: ["a", "b"], parallelism: 2 },
      { op: "keyBy", column: "b" },
      { op: "count", parallelism: 3 },
      { op: "sum", field: "a", key: "a", parallelism: 3 },
      { op: "map", set: { z: 1 }, parallelism: 1 },
    ],
  });
  const plan = planJob(spec);
  assert.equal(plan.stages.length, 3);
  assert.deepEqual(plan.stages.map((s) => s.ops.map((o) => o.spec.op)), [
    ["filter", "select"],
    ["count", "sum"],
    ["map"],
  ]);
  assert.deepEqual(plan.stages[1].input, { kind: "hash", column: "b" });
  assert.deepEqual(plan.stages[2].input, { kind: "rebalance" });
  assert.equal(plan.stages[1].ops[0].key, "b");
  assert.equal(plan.stages[1].ops[1].key, "a");
  assert.equal(plan.stages[0].ops[0].key, undefined);
});

Deno.test("plan: partitioning is stable and spreads keys", () => {
  assert.equal(hashKey("Streetname"), hashKey("Streetname"));
  assert.equal(partitionOf("x", 1), 0);
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) seen.add(partitionOf(`k${i}`, 3));
  assert.deepEqual([...seen].sort(), [0, 1, 2]);
});
