import assert from "node:assert/strict";
import {
  deliver,
  gossip,
  makeNode,
  sends,
  testConfig,
  type TestNode,
  tickTo,
} from "../../lib/swim/harness.ts";
import { suspicionMaxMs, suspicionMinMs } from "../../lib/swim/config.ts";
import type { SwimDatagram } from "../../proto/swim.ts";

function firstPing(node: TestNode, from = 0) {
  for (let t = from; t <= from + 20000; t += 10) {
    const fx = tickTo(node, t);
    const ping = sends(fx).find((e) => e.msg.type === "swim.ping");
    if (ping) return { at: t, ping, fx };
  }
  throw new Error("no ping");
}

function seqOf(msg: SwimDatagram): number {
  assert.ok("seq" in msg.body);
  return msg.body.seq;
}

Deno.test("lifeguard: failed probes raise health by the missed nacks and stretch the period", () => {
  const ids = ["a", "b", "c", "d"];
  const a = makeNode("a", ids);
  const { at: t0 } = firstPing(a);
  const reqs = sends(tickTo(a, t0 + 500)).filter((s) => s.msg.type === "swim.ping_req");
  assert.equal(reqs.length, 2);
  for (const r of reqs) assert.equal(r.msg.type === "swim.ping_req" && r.msg.body.nack, true);
  // One relay nacks, the other says nothing: health += 2 − 1.
  deliver(a, "c", { type: "swim.nack", body: { seq: seqOf(reqs[0].msg), from: "c" } }, t0 + 900);
  const fx = tickTo(a, t0 + 1000);
  assert.equal(a.core.health, 1);
  assert.ok(a.events.some((e) => e.kind === "suspect"));
  // The probe that started at t0 + 1000 lasts (1 + health) = 2 periods.
  assert.ok(sends(fx).some((e) => e.msg.type === "swim.ping"));
  const next = firstPing(a, t0 + 1010);
  assert.equal(next.at, t0 + 1000 + 2000);
});

Deno.test("lifeguard: a direct ack lowers health; without Lifeguard health never moves", () => {
  const ids = ["a", "b", "c", "d"];
  for (const lifeguard of [true, false]) {
    const a = makeNode("a", ids, testConfig({ lifeguard }));
    const { at: t0 } = firstPing(a);
    // No ack, no nacks: the period ends and the next probe starts at once.
    const fx = tickTo(a, t0 + 1000);
    assert.equal(a.core.health, lifeguard ? 2 : 0);
    const ping = sends(fx).find((e) => e.msg.type === "swim.ping")!;
    assert.ok(ping);
    deliver(
      a,
      ping.to!,
      { type: "swim.ack", body: { seq: seqOf(ping.msg), from: ping.to! } },
      t0 + 1005,
    );
    assert.equal(a.core.health, lifeguard ? 1 : 0);
  }
});

Deno.test("lifeguard: a relay sends a nack when its ping goes unanswered", () => {
  const ids = ["a", "b", "c"];
  const c = makeNode("c", ids);
  const req: SwimDatagram = {
    type: "swim.ping_req",
    body: { seq: 42, from: "a", target: "b", targetAddr: "b:7401", nack: true },
  };
  const fx = deliver(c, "a", req, 100);
  assert.equal(sends(fx).filter((s) => s.msg.type === "swim.ping" && s.to === "b").length, 1);
  const later = sends(tickTo(c, 100 + 500));
  const nack = later.find((s) => s.msg.type === "swim.nack");
  assert.ok(nack);
  assert.equal(nack.to, "a");
  assert.equal(seqOf(nack.msg), 42);
  // Without the nack flag, silence.
  const c2 = makeNode("c", ids);
  deliver(c2, "a", { ...req, body: { ...req.body, nack: false } }, 100);
  assert.equal(sends(tickTo(c2, 700)).filter((s) => s.msg.type === "swim.nack").length, 0);
});

Deno.test("lifeguard: the suspicion timeout shrinks from max to min as confirmations arrive", () => {
  const ids = Array.from({ length: 10 }, (_, i) => `n${i}`);
  const cfg = testConfig();
  const a = makeNode("n0", ids, cfg);
  const min = suspicionMinMs(cfg, 10);
  const max = suspicionMaxMs(cfg, 10);
  assert.equal(min, 4000);
  assert.equal(max, 24000);
  deliver(a, "n1", gossip("n1", [{ t: "suspect", id: "n9", inc: 0, from: "n1" }]), 1000);
  assert.equal(a.core.suspicion("n9")?.deadline, 1000 + max);
  // The same accuser again is not a confirmation.
  deliver(a, "n1", gossip("n1", [{ t: "suspect", id: "n9", inc: 0, from: "n1" }]), 1100);
  assert.equal(a.core.suspicion("n9")?.confirmations, 0);
  deliver(a, "n2", gossip("n2", [{ t: "suspect", id: "n9", inc: 0, from: "n2" }]), 1200);
  const one = a.core.suspicion("n9")!;
  // k = suspicion_mult − 2 = 2: timeout(1) = max − (max − min)·log 2 / log 3.
  assert.equal(one.deadline, 1000 + Math.floor(max - (max - min) * Math.log(2) / Math.log(3)));
  deliver(a, "n3", gossip("n3", [{ t: "suspect", id: "n9", inc: 0, from: "n3" }]), 1300);
  assert.equal(a.core.suspicion("n9")?.deadline, 1000 + min);
  // Declared dead at the shrunken deadline.
  tickTo(a, 1000 + min);
  assert.equal(a.core.member("n9")?.status, "dead");
});

Deno.test("lifeguard off: the suspicion timeout is fixed at the minimum", () => {
  const ids = Array.from({ length: 10 }, (_, i) => `n${i}`);
  const cfg = testConfig({ lifeguard: false });
  const a = makeNode("n0", ids, cfg);
  deliver(a, "n1", gossip("n1", [{ t: "suspect", id: "n9", inc: 0, from: "n1" }]), 1000);
  assert.equal(a.core.suspicion("n9")?.deadline, 1000 + suspicionMinMs(cfg, 10));
});

Deno.test("lifeguard: the buddy system piggybacks the suspicion on the ping to the suspect", () => {
  const ids = ["a", "b"];
  const a = makeNode("a", ids);
  deliver(a, "c", gossip("c", [{ t: "suspect", id: "b", inc: 0, from: "c" }]), 0);
  const { ping } = firstPing(a);
  assert.equal(ping.to, "b");
  const first = ping.msg.body.gossip?.[0];
  assert.deepEqual(first, { t: "suspect", id: "b", inc: 0, from: "a" });
  // The suspect refutes on the spot and its ack carries the refutation.
  const b = makeNode("b", ids);
  const ack = sends(deliver(b, "a", ping.msg, 10)).find((s) => s.msg.type === "swim.ack");
  assert.ok(ack?.msg.body.gossip?.some((u) => u.t === "alive" && u.id === "b" && u.inc === 1));
  // Without Lifeguard, no buddy piggyback.
  const a2 = makeNode("a", ids, testConfig({ lifeguard: false }));
  deliver(a2, "c", gossip("c", [{ t: "suspect", id: "b", inc: 0, from: "c" }]), 0);
  const p2 = firstPing(a2).ping;
  assert.ok(!p2.msg.body.gossip?.some((u) => u.t === "suspect" && u.from === "a"));
});
