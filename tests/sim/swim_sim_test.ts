import assert from "node:assert/strict";
import { runSwimSimulation } from "../../lib/swim/simulation.ts";
import { detectionBoundMs } from "../../lib/swim/bound.ts";
import { DEFAULT_SWIM_CONFIG } from "../../lib/swim/config.ts";

const num = (v: unknown): number => {
  assert.equal(typeof v, "number");
  return v as number;
};

Deno.test("swim sim: 100 nodes, 10% loss, Lifeguard: crashes detected by all within the bound, no false positives", () => {
  for (const seed of [1, 2, 3]) {
    const r = runSwimSimulation({
      seed,
      nodes: 100,
      loss: 0.1,
      crash: 2,
      failOnFalsePositive: true,
    });
    const s = r.summary;
    assert.equal(s.detectedByAll, true, `seed ${seed}`);
    assert.equal(s.withinBound, true, `seed ${seed}: ${s.detectMaxMs} > ${s.detectBoundMs}`);
    assert.ok(num(s.detectMaxMs) <= num(s.detectBoundMs));
    assert.equal(s.falsePositiveEvents, 0, `seed ${seed}`);
    // The join reaches 99% of the others within the O(log N) gossip bound; a member
    // that misses every retransmission (≈ e^(−R(1−p)) each) learns it by push/pull.
    assert.ok(num(s.join99Ms) >= 0 && num(s.join99Ms) <= num(s.joinBoundMs), `seed ${seed}`);
    assert.equal(s.joinPropagated, true);
    if (num(s.joinMs) > num(s.joinBoundMs)) {
      assert.ok(num(s.joinMs) <= 3 * DEFAULT_SWIM_CONFIG.pushPullIntervalMs, `seed ${seed}`);
    }
  }
});

Deno.test("swim sim: without Lifeguard detection still meets its (tighter) bound", () => {
  for (const seed of [1, 2]) {
    const r = runSwimSimulation({ seed, nodes: 50, loss: 0.1, lifeguard: false });
    assert.equal(r.summary.detectedByAll, true);
    assert.equal(r.summary.withinBound, true, `seed ${seed}: ${r.summary.detectMaxMs}`);
    const b = detectionBoundMs({
      config: { ...DEFAULT_SWIM_CONFIG, lifeguard: false },
      n: 50,
      loss: 0.1,
    });
    assert.ok(num(r.summary.detectBoundMs) >= b.totalMs);
  }
});

Deno.test("swim sim: slow (CPU-starved) nodes — Lifeguard has no false positives and fewer false suspicions", () => {
  let lgSusp = 0;
  let offSusp = 0;
  let offFp = 0;
  for (const seed of [1, 2, 3]) {
    const base = { seed, nodes: 60, loss: 0.1, slow: 4, periods: 60 };
    const lg = runSwimSimulation({ ...base, lifeguard: true });
    const off = runSwimSimulation({ ...base, lifeguard: false });
    assert.equal(lg.summary.falsePositiveEvents, 0, `seed ${seed}`);
    assert.equal(lg.summary.detectedByAll, true);
    assert.ok(num(lg.summary.maxHealth) > 0, "starved nodes raise their health score");
    assert.equal(off.summary.maxHealth, 0);
    lgSusp += num(lg.summary.falseSuspicions);
    offSusp += num(off.summary.falseSuspicions);
    offFp += num(off.summary.falsePositiveEvents);
  }
  assert.ok(lgSusp < offSusp, `Lifeguard ${lgSusp} vs ${offSusp} false suspicions`);
  assert.ok(offFp >= 0);
});

Deno.test("swim sim: the same seed replays the same trace; another seed does not", () => {
  const a = runSwimSimulation({ seed: 42, nodes: 30, periods: 20 });
  const b = runSwimSimulation({ seed: 42, nodes: 30, periods: 20 });
  const c = runSwimSimulation({ seed: 43, nodes: 30, periods: 20 });
  assert.equal(a.traceHash, b.traceHash);
  assert.deepEqual(a.summary, b.summary);
  assert.notEqual(a.traceHash, c.traceHash);
  assert.equal(a.protocol, "swim");
  assert.ok(a.steps > 1000);
});

Deno.test("swim sim: small clusters, 10% loss, no stream fallback: every refutation reaches its suspecters", () => {
  // Gossip spends an update on ⌈4·log10(N+1)⌉ random sends per member, so at small N a
  // refutation often misses the member whose suspicion it answers; before the ack, stale-gossip
  // and ping-req corrections and the early probe of a suspect, 6 of these 24 runs declared a
  // live member dead (`deno task sim --protocol swim --nodes 20 --loss 0.1
  // --no-stream-fallback --periods 300 --fail-on-false-positive --seeds 200`: 0 of 200 now).
  for (const nodes of [4, 8, 20]) {
    for (let seed = 1; seed <= 8; seed++) {
      const r = runSwimSimulation({
        seed,
        nodes,
        loss: 0.1,
        streamFallback: false,
        periods: 300,
        failOnFalsePositive: true,
      });
      assert.equal(r.summary.falsePositiveEvents, 0, `${nodes} nodes, seed ${seed}`);
      assert.ok(num(r.summary.falseSuspicions) > 0, "the loss does cause suspicions");
      assert.equal(r.summary.detectedByAll, true, "the crashed node is still detected");
    }
  }
});
