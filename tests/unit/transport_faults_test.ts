import assert from "node:assert/strict";
import { FaultInjector } from "../../lib/transport/faults.ts";

function seq(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

Deno.test("faults: no spec passes everything untouched", () => {
  const f = new FaultInjector();
  assert.equal(f.active, false);
  assert.deepEqual(f.outbound("p"), { copies: 1, delayMs: 0 });
  assert.equal(f.dropInbound("p"), false);
});

Deno.test("faults: cut directions", () => {
  const f = new FaultInjector();
  f.set("p", { cut: "out" });
  assert.equal(f.outbound("p").copies, 0);
  assert.equal(f.dropInbound("p"), false);
  f.set("p", { cut: "in" });
  assert.equal(f.outbound("p").copies, 1);
  assert.equal(f.dropInbound("p"), true);
  f.set("p", { cut: true });
  assert.equal(f.outbound("p").copies, 0);
  assert.equal(f.dropInbound("p"), true);
  assert.equal(f.outbound("q").copies, 1, "other peers unaffected");
  f.clear("p");
  assert.equal(f.outbound("p").copies, 1);
  assert.deepEqual(f.dropped, { in: 2, out: 2 });
});

Deno.test("faults: drop and duplicate probabilities use the injected random source", () => {
  const f = new FaultInjector({ random: seq([0.05, 0.5, 0.5, 0.5, 0.001]) });
  f.set("p", { drop: 0.1, duplicate: 0.01 });
  assert.equal(f.outbound("p").copies, 0); // 0.05 < 0.1: dropped
  assert.equal(f.outbound("p").copies, 1); // 0.5 not dropped, 0.5 not duplicated
  assert.equal(f.outbound("p").copies, 2); // 0.5 kept, 0.001 < 0.01: duplicated
  assert.equal(f.duplicated, 1);
});

Deno.test("faults: delays keep per-peer order", async () => {
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  const f = new FaultInjector({
    random: seq([0.9, 0.0]),
    now: () => now,
    setTimer: (fn, ms) => void timers.push({ at: now + ms, fn }),
  });
  f.set("p", { delayMs: 50, jitterMs: 100 });
  const d1 = f.outbound("p"); // 50 + 90
  const d2 = f.outbound("p"); // 50 + 0, but not before the first
  assert.equal(d1.delayMs, 140);
  assert.equal(d2.delayMs, 140);
  const order: number[] = [];
  await f.apply("p", () => Promise.resolve(void order.push(1)));
  now = 10;
  await f.apply("p", () => Promise.resolve(void order.push(2)));
  timers.sort((a, b) => a.at - b.at).forEach((t) => t.fn());
  assert.deepEqual(order, [1, 2]);
});

Deno.test("faults: invalid specs are refused", () => {
  const f = new FaultInjector();
  assert.throws(() => f.set("p", { drop: 1.5 }), /probability/);
  assert.throws(() => f.set("p", { delayMs: -1 }), /non-negative/);
});
