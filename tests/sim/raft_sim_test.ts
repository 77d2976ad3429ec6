import assert from "node:assert/strict";
import { runRaftSeeds, runRaftSimulation } from "../../lib/raft/simulation.ts";
import type { RaftSeedTotals } from "../../lib/raft/simulation.ts";
import { SimulationFailure } from "../../lib/sim/simulator.ts";

/** The runs exercised what they claim to (guards against a silently idle simulation). */
function assertBusy(t: RaftSeedTotals): void {
  const n = t.seeds;
  assert.ok(t.commits > n * 20, `commits ${t.commits}`);
  assert.ok(t.elections > n, `elections ${t.elections}`);
  assert.ok(t.crashes > n / 2, `crashes ${t.crashes}`);
  assert.ok(t.snapshots > n / 2, `snapshots ${t.snapshots}`);
  assert.ok(t.confChanges > n / 4, `membership changes ${t.confChanges}`);
  assert.ok(t.ops > n * 30, `checked client operations ${t.ops}`);
}

/** Events per seed (plus a quiescent tail where outstanding requests finish). */
const STEPS = 5000;

Deno.test(`raft sim: seeds 1-100, 3 nodes, ${STEPS} events each, all faults`, () => {
  assertBusy(runRaftSeeds(1, 100, { steps: STEPS, nodes: 3 }));
});

Deno.test("raft sim: the same seed replays the same trace; other seeds differ", () => {
  const a = runRaftSimulation({ seed: 4242, steps: 3000 });
  const b = runRaftSimulation({ seed: 4242, steps: 3000 });
  const c = runRaftSimulation({ seed: 4243, steps: 3000 });
  assert.equal(a.traceHash, b.traceHash);
  assert.deepEqual(a.summary, b.summary);
  assert.equal(a.virtualMs, b.virtualMs);
  assert.notEqual(a.traceHash, c.traceHash);
  assert.equal(a.protocol, "raft");
  assert.equal(a.seed, 4242);
});

Deno.test("raft sim: a deliberately broken core is caught, and its seed replays the failure", () => {
  const broken = { voteIgnoresLog: true };
  let failure: SimulationFailure | undefined;
  try {
    runRaftSimulation({ seed: 11, steps: STEPS, unsafe: broken });
  } catch (e) {
    if (!(e instanceof SimulationFailure)) throw e;
    failure = e;
  }
  assert.ok(failure, "the invariants caught the broken vote rule");
  assert.equal(failure.seed, 11);
  assert.match(failure.message, /leader completeness|committed entries agree|linearizab/);
  assert.match(failure.message, /replay with: deno task sim --seed 11/);
  // Same seed, same failure at the same step.
  assert.throws(
    () => runRaftSimulation({ seed: 11, steps: STEPS, unsafe: broken }),
    (e: unknown) => e instanceof SimulationFailure && e.step === failure!.step,
  );
  // The correct core passes the very same seed.
  assert.equal(runRaftSimulation({ seed: 11, steps: STEPS }).summary.linearizable, true);
});
