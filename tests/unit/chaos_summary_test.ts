import assert from "node:assert/strict";
import { parseLines, summarize } from "../../scripts/chaos/summary.ts";

Deno.test("chaos summary: totals, failed seeds with their failed checks, bad lines named", () => {
  const lines = parseLines(
    "x.jsonl",
    [
      JSON.stringify({
        seed: 1,
        ok: true,
        wallSeconds: 30,
        ops: { kvOk: 10 },
        faults: { applied: { kill: 1 }, leaderHits: 1, planned: 2 },
        checks: [{ name: "kv linearizable", ok: true, message: "" }],
      }),
      "",
      JSON.stringify({
        seed: 2,
        ok: false,
        wallSeconds: 40,
        ops: { kvOk: 5 },
        faults: { applied: { kill: 2, pause: 1 }, leaderHits: 0, planned: 3 },
        checks: [
          { name: "kv linearizable", ok: true, message: "" },
          { name: "dfs appends", ok: false, message: "lost 1" },
        ],
      }),
      JSON.stringify({ seed: 3, error: "cluster did not start" }),
    ].join("\n"),
  );
  const s = summarize(lines);
  assert.equal(s.seeds, 3);
  assert.equal(s.passed, 1);
  assert.deepEqual(s.failed, [
    { seed: 2, why: "dfs appends: lost 1" },
    { seed: 3, why: "cluster did not start" },
  ]);
  assert.deepEqual(s.ops, { kvOk: 15 });
  assert.deepEqual(s.faults, { kill: 3, pause: 1 });
  assert.equal(s.leaderHits, 1);
  assert.deepEqual(s.checks, { "kv linearizable": 2 });
  assert.equal(s.wallSeconds, 70);
  assert.throws(() => parseLines("y.jsonl", '{"seed":1}\n{oops'), /y\.jsonl:2: not JSON/);
  assert.throws(() => summarize([{ x: 1 } as never]), /not a chaos line/);
});
