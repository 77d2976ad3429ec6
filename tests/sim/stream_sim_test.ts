import assert from "node:assert/strict";
import { runStreamSimulation } from "../../lib/stream/simulation.ts";
import { SimulationFailure } from "../../lib/sim/mod.ts";

Deno.test("stream sim: exactly-once output over many seeds with crashes and message loss", () => {
  let restores = 0;
  let timedOut = 0;
  let barriersLost = 0;
  for (let seed = 1; seed <= 100; seed++) {
    const r = runStreamSimulation({ seed, failures: 1 + (seed % 3) });
    assert.equal(r.summary.records, 240);
    restores += Number(r.summary.restores);
    timedOut += Number(r.summary.checkpointsTimedOut);
    barriersLost += Number(r.summary.barriersLost);
    assert.ok(Number(r.summary.checkpointsCompleted) >= 1);
  }
  assert.ok(restores >= 100, `failures were injected and recovered (${restores})`);
  assert.ok(timedOut > 0 && barriersLost > 0, "lost messages made checkpoints time out");
});

Deno.test("stream sim: heavier faults and more data", () => {
  for (const seed of [101, 202, 303]) {
    const r = runStreamSimulation({
      seed,
      keys: 10,
      valuesPerKey: 80,
      failures: 4,
      controlLoss: 0.15,
      duplicate: 0.15,
      barrierLoss: 0.1,
    });
    assert.equal(r.summary.records, 800);
  }
});

Deno.test("stream sim: the same seed replays the same trace", () => {
  const a = runStreamSimulation({ seed: 77 });
  const b = runStreamSimulation({ seed: 77 });
  assert.equal(a.traceHash, b.traceHash);
  assert.deepEqual(a.summary, b.summary);
  assert.notEqual(runStreamSimulation({ seed: 78 }).traceHash, a.traceHash);
});

Deno.test("stream sim: an at-least-once sink is caught by the invariant", () => {
  let caught = 0;
  for (let seed = 1; seed <= 5; seed++) {
    try {
      runStreamSimulation({ seed, failures: 3, sinkMode: "at-least-once" });
    } catch (e) {
      assert.ok(e instanceof SimulationFailure);
      assert.equal(e.seed, seed);
      caught++;
    }
  }
  assert.ok(caught >= 4, `caught ${caught} of 5`);
});
