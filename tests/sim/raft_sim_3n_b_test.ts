import assert from "node:assert/strict";
import { runRaftSeeds } from "../../lib/raft/simulation.ts";

// One of several files over disjoint seed ranges, so `deno test --parallel` spreads them.
Deno.test("raft sim: seeds 251-400, 3 nodes, 5000 events each, all faults", () => {
  const t = runRaftSeeds(251, 400, { steps: 5000, nodes: 3 });
  assert.equal(t.seeds, 400 - 251 + 1);
  assert.ok(t.commits > t.seeds * 20, `commits ${t.commits}`);
  assert.ok(t.elections > t.seeds, `elections ${t.elections}`);
  assert.ok(t.crashes > t.seeds / 2, `crashes ${t.crashes}`);
  assert.ok(t.snapshots > t.seeds / 2, `snapshots ${t.snapshots}`);
  assert.ok(t.confChanges > t.seeds / 4, `membership changes ${t.confChanges}`);
  assert.ok(t.ops > t.seeds * 30, `checked client operations ${t.ops}`);
});
