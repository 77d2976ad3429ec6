import assert from "node:assert/strict";
import { runRingSimulation } from "../../lib/dfs/ring/simulation.ts";
import { SimulationFailure } from "../../lib/sim/mod.ts";

function assertHealthy(r: ReturnType<typeof runRingSimulation>): void {
  const s = r.summary;
  assert.equal(s.completed, true);
  assert.equal(s.stable, true);
  assert.equal(s.rings, 1);
  assert.equal(s.lookupFailures, 0);
  assert.equal(s.blocksLost, 0);
  assert.equal(s.underReplicated, 0);
  assert.ok(Number(s.lookups) > 0);
  assert.ok(Number(s.blocksAcked) > 0);
}

for (const seed of [11, 29, 47]) {
  Deno.test(`ring sim: 32 nodes, crashes, isolation, joins, restarts and loss (seed ${seed})`, () => {
    const r = runRingSimulation({ seed, nodes: 32, rounds: 5 });
    assertHealthy(r);
    const s = r.summary;
    assert.ok(Number(s.crashes) + Number(s.isolations) >= 5, "every epoch had failures");
    assert.ok(Number(s.messagesLost) > 0, "message loss was exercised");
  });
}

Deno.test("ring sim: 64 nodes with partitions, no SWIM hints (timeouts only)", () => {
  const r = runRingSimulation({ seed: 5, nodes: 64, rounds: 3, swimHints: false, blocks: 30 });
  assertHealthy(r);
  assert.equal(r.summary.members, Number(r.summary.members));
});

Deno.test("ring sim: the same seed gives the same trace hash, another seed a different one", () => {
  const opts = { nodes: 16, rounds: 2, blocks: 20, lookups: 40 };
  const a = runRingSimulation({ seed: 77, ...opts });
  const b = runRingSimulation({ seed: 77, ...opts });
  const c = runRingSimulation({ seed: 78, ...opts });
  assert.equal(a.traceHash, b.traceHash);
  assert.equal(a.steps, b.steps);
  assert.deepEqual(a.summary, b.summary);
  assert.notEqual(a.traceHash, c.traceHash);
});

Deno.test("ring sim: a step limit stops the run early for replay", () => {
  const r = runRingSimulation({ seed: 3, nodes: 16, rounds: 1, steps: 500 });
  assert.equal(r.steps, 500);
  assert.equal(r.summary.completed, false);
});

Deno.test("ring sim: more than RF-1 simultaneous crashes are caught as data loss", () => {
  // Breaking the operating assumption on purpose must make the checks fire.
  assert.throws(
    () =>
      runRingSimulation({
        seed: 4,
        nodes: 16,
        rounds: 3,
        rf: 2,
        failures: 6,
        partitions: false,
        blocks: 150,
      }),
    (e: unknown) =>
      e instanceof SimulationFailure && e.seed === 4 &&
      (e.invariant === "NoDataLoss" || e.invariant === "Replication"),
  );
});
