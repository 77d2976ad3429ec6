import assert from "node:assert/strict";
import type { PushPull, SwimDatagram } from "../../proto/swim.ts";
import {
  collect,
  deliver,
  gossip,
  makeNode,
  runUntil,
  sends,
  testConfig,
  type TestNode,
  tickTo,
} from "../../lib/swim/harness.ts";
import { SwimCore } from "../../lib/swim/core.ts";
import { Prng } from "../../lib/sim/prng.ts";
import type { PushPullEffect, SwimEffect } from "../../lib/swim/types.ts";

function firstOf(fx: SwimEffect[], type: SwimDatagram["type"]) {
  const s = sends(fx).find((e) => e.msg.type === type);
  assert.ok(s, `expected a ${type} among ${fx.map((e) => e.type).join(",")}`);
  return s;
}

/** Ticks `node` in 10 ms steps until its first ping; returns the time and the ping. */
function firstPing(node: TestNode) {
  for (let t = 0; t <= 1000; t += 10) {
    const ping = sends(tickTo(node, t)).find((e) => e.msg.type === "swim.ping");
    if (ping) return { at: t, ping };
  }
  throw new Error("no ping within the first period");
}

function seqOf(msg: SwimDatagram): number {
  assert.ok("seq" in msg.body);
  return msg.body.seq;
}

Deno.test("swim: ping is answered with an ack and the target stays alive", () => {
  const ids = ["a", "b"];
  const a = makeNode("a", ids);
  const b = makeNode("b", ids);
  const ping = firstOf(tickTo(a, 1000), "swim.ping");
  assert.equal(ping.to, "b");
  assert.equal(ping.addr, "b:7401");
  const ack = firstOf(deliver(b, "a", ping.msg, 1005), "swim.ack");
  assert.equal(ack.addr, "a:7401");
  assert.equal(ack.msg.body.from, "b");
  deliver(a, "b", ack.msg, 1010);
  tickTo(a, 1999);
  assert.equal(a.core.member("b")?.status, "alive");
  assert.equal(a.events.filter((e) => e.kind === "suspect").length, 0);
});

Deno.test("swim: an unanswered probe goes indirect and a relayed ack prevents suspicion", () => {
  const ids = ["a", "b", "c", "d"];
  const a = makeNode("a", ids);
  const nodes = new Map(ids.map((id) => [id, makeNode(id, ids)]));
  const { at: t0, ping } = firstPing(a);
  const target = ping.to!;
  // The direct ping is lost; the probe timeout fires.
  const reqs = sends(tickTo(a, t0 + 500)).filter((s) => s.msg.type === "swim.ping_req");
  assert.ok(reqs.length >= 1 && reqs.length <= 2, "ping-req to the other members");
  for (const r of reqs) assert.notEqual(r.to, target);
  const relay = nodes.get(reqs[0].to!)!;
  const relayPing = firstOf(deliver(relay, "a", reqs[0].msg, t0 + 510), "swim.ping");
  assert.equal(relayPing.to, target);
  const ack = firstOf(
    deliver(nodes.get(target)!, relay.core.id, relayPing.msg, t0 + 520),
    "swim.ack",
  );
  const fwd = firstOf(deliver(relay, target, ack.msg, t0 + 530), "swim.ack");
  assert.equal(fwd.to, "a");
  assert.equal(seqOf(fwd.msg), seqOf(ping.msg));
  deliver(a, relay.core.id, fwd.msg, t0 + 540);
  tickTo(a, t0 + 1500);
  assert.equal(a.core.member(target)?.status, "alive");
  assert.equal(a.events.filter((e) => e.kind === "suspect").length, 0);
});

Deno.test("swim: a silent member is suspected, then declared dead after the suspicion timeout", () => {
  const a = makeNode("a", ["a", "b"], testConfig({ lifeguard: false }));
  runUntil(a, 50, 20000, 50);
  const suspect = a.events.find((e) => e.kind === "suspect" && e.id === "b");
  const dead = a.events.find((e) => e.kind === "dead" && e.id === "b");
  assert.ok(suspect && dead);
  // N = 2: min timeout = suspicion_mult · max(1, log10 2) · 1 s = 4 s.
  const waited = dead.at - suspect.at;
  assert.ok(waited >= 4000 && waited <= 4050, `dead after ${waited} ms`);
  assert.equal(a.core.member("b")?.status, "dead");
});

Deno.test("swim: tombstones are kept for tombstone_ms and then forgotten", () => {
  const a = makeNode("a", ["a", "b"], testConfig({ lifeguard: false, tombstoneMs: 10000 }));
  runUntil(a, 50, 12000, 50);
  const dead = a.events.find((e) => e.kind === "dead")!;
  assert.ok(dead);
  runUntil(a, 12050, dead.at + 9000, 50);
  assert.equal(a.core.member("b")?.status, "dead", "still a tombstone");
  runUntil(a, dead.at + 9050, dead.at + 12000, 50);
  assert.equal(a.core.member("b"), undefined, "forgotten");
  // A stale alive at the old incarnation now counts as a new member again.
  deliver(a, "c", gossip("c", [{ t: "alive", id: "b", inc: 0, addr: "b:7401", meta: {} }]), 40000);
  assert.equal(a.core.member("b")?.status, "alive");
});

Deno.test("swim: a suspected member refutes with a higher incarnation and others accept it", () => {
  const ids = ["a", "b", "c"];
  const a = makeNode("a", ids);
  const b = makeNode("b", ids);
  deliver(a, "c", gossip("c", [{ t: "suspect", id: "b", inc: 0, from: "c" }]), 100);
  assert.equal(a.core.member("b")?.status, "suspect");
  assert.ok(a.events.some((e) => e.kind === "suspect" && e.id === "b"));
  // b hears it and refutes.
  deliver(b, "c", gossip("c", [{ t: "suspect", id: "b", inc: 0, from: "c" }]), 110);
  assert.equal(b.core.incarnation, 1);
  assert.equal(b.core.health, 1, "a refutation raises Lifeguard health");
  const out = sends(tickTo(b, 400)).find((s) =>
    s.msg.body.gossip?.some((u) => u.t === "alive" && u.id === "b" && u.inc === 1)
  );
  assert.ok(out, "the refutation is gossiped");
  // A stale alive does not clear the suspicion; the refutation does.
  deliver(a, "b", gossip("b", [{ t: "alive", id: "b", inc: 0, addr: "b:7401", meta: {} }]), 500);
  assert.equal(a.core.member("b")?.status, "suspect");
  deliver(a, "b", out.msg, 510);
  assert.equal(a.core.member("b")?.status, "alive");
  assert.equal(a.core.member("b")?.inc, 1);
  assert.ok(a.events.some((e) => e.kind === "alive" && e.id === "b"));
  assert.equal(a.core.suspicion("b"), undefined);
});

Deno.test("swim: a dead declaration about ourselves is refuted too", () => {
  const b = makeNode("b", ["a", "b"]);
  deliver(b, "a", gossip("a", [{ t: "dead", id: "b", inc: 3, from: "a" }]), 100);
  assert.equal(b.core.incarnation, 4);
  assert.equal(b.core.member("b")?.status, "alive");
});

Deno.test("swim: graceful leave gossips left with a higher incarnation and stops probing", () => {
  const ids = ["a", "b", "c"];
  const a = makeNode("a", ids);
  const b = makeNode("b", ids);
  b.core.leave(100);
  const fx = collect(b);
  const g = sends(fx).find((s) => s.msg.body.gossip?.some((u) => u.t === "left"));
  assert.ok(g, "left is sent at once");
  const left = g.msg.body.gossip!.find((u) => u.t === "left")!;
  assert.equal(left.inc, 1);
  assert.ok(b.events.length === 0, "no events about ourselves");
  deliver(a, "b", g.msg, 110);
  assert.equal(a.core.member("b")?.status, "left");
  assert.ok(a.events.some((e) => e.kind === "left" && e.id === "b"));
  const later = runUntil(b, 150, 5000, 50);
  assert.equal(sends(later).filter((s) => s.msg.type === "swim.ping").length, 0);
  // A suspicion of a member that left is ignored.
  deliver(a, "c", gossip("c", [{ t: "suspect", id: "b", inc: 1, from: "c" }]), 200);
  assert.equal(a.core.member("b")?.status, "left");
});

Deno.test("swim: a metadata update propagates with an incarnation bump", () => {
  const ids = ["a", "b"];
  const a = makeNode("a", ids);
  const b = makeNode("b", ids);
  b.core.updateMeta({ roles: "master", dfs_capacity: 1000 }, 100);
  assert.equal(b.core.incarnation, 1);
  const out = sends(tickTo(b, 400)).find((s) =>
    s.msg.body.gossip?.some((u) => u.t === "alive" && u.id === "b")
  );
  assert.ok(out);
  deliver(a, "b", out.msg, 410);
  const ev = a.events.find((e) => e.kind === "updated" && e.id === "b");
  assert.ok(ev);
  assert.deepEqual(ev.meta, { roles: "master", dfs_capacity: 1000 });
  assert.deepEqual(a.core.member("b")?.meta, { roles: "master", dfs_capacity: 1000 });
});

Deno.test("swim: join through a seed exchanges full state both ways", () => {
  const ids = ["s", "x", "y"];
  const s = makeNode("s", ids);
  const j = new SwimCore({
    self: { id: "j", addr: "j:7401" },
    config: testConfig(),
    rng: new Prng(5),
    now: 0,
  });
  j.start(0);
  j.join(["s:7401"], 0);
  const pp = j.drain().find((e): e is PushPullEffect => e.type === "push_pull");
  assert.ok(pp);
  assert.equal(pp.addr, "s:7401");
  assert.equal(pp.state.join, true);
  const reply: PushPull = s.core.handlePushPull(pp.state, 10);
  collect(s);
  assert.ok(s.events.some((e) => e.kind === "join" && e.id === "j"));
  assert.equal(j.joined, false);
  j.mergeRemoteState(reply, 20);
  const joins = j.drain().filter((e) => e.type === "event" && e.event.kind === "join");
  assert.equal(joins.length, 3);
  assert.equal(j.joined, true);
  assert.equal(j.liveCount, 4);
});

Deno.test("swim: join retries with backoff and gives up after join_max_attempts", () => {
  const j = new SwimCore({
    self: { id: "j", addr: "j:7401" },
    config: testConfig({ joinMaxAttempts: 3, joinRetryMs: 1000 }),
    rng: new Prng(5),
    now: 0,
  });
  j.join(["s:7401", "t:7401"], 0);
  const times: number[] = [];
  let failed = 0;
  for (let t = 0; t <= 10000; t += 100) {
    j.tick(t);
    for (const e of j.drain()) {
      if (e.type === "push_pull") times.push(t);
      if (e.type === "join_failed") failed = e.attempts;
    }
  }
  assert.deepEqual(times, [0, 0, 1000, 1000, 3000, 3000]);
  assert.equal(failed, 3);
});

Deno.test("swim: malformed datagrams are rejected with a typed error", () => {
  const a = makeNode("a", ["a", "b"]);
  const err = a.core.receiveUnknown("b:7401", "swim.ping", { seq: -1, from: "b", target: "a" }, 5);
  assert.equal(err?.code, "swim_bad_message");
  assert.match(err!.message, /seq/);
  assert.equal(a.core.receiveUnknown("b:7401", "swim.push_pull", {}, 5)?.code, "swim_bad_message");
  assert.equal(a.core.receiveUnknown("b:7401", "raft.append", {}, 5)?.code, "swim_bad_message");
  const ok = a.core.receiveUnknown("b:7401", "swim.ping", { seq: 7, from: "b", target: "a" }, 5);
  assert.equal(ok, undefined);
  assert.equal(sends(collect(a))[0].msg.type, "swim.ack");
});

Deno.test("swim: a member declared dead while cut off learns it from the ack to its next ping and refutes", () => {
  const ids = ["a", "b"];
  const a = makeNode("a", ids);
  const b = makeNode("b", ids);
  // b declared a dead (a was cut off); the gossip about it never reached a.
  deliver(b, "c", gossip("c", [{ t: "dead", id: "a", inc: 0, from: "c" }]), 100);
  assert.equal(b.core.member("a")?.status, "dead");
  // The cut heals; a still holds b alive and probes it.
  const ping = firstOf(tickTo(a, 1000), "swim.ping");
  assert.equal(ping.to, "b");
  const ack = firstOf(deliver(b, "a", ping.msg, 1005), "swim.ack");
  const notice = (ack.msg.body.gossip ?? []).find((u) => u.id === "a");
  assert.deepEqual(notice, { t: "dead", id: "a", inc: 0, from: "b" }, "the ack tells a");
  deliver(a, "b", ack.msg, 1010);
  const inc = a.core.member("a")!.inc;
  assert.ok(inc > 0, "a refutes with a higher incarnation");
  // Its alive message brings it back in b's view.
  const alive = { t: "alive" as const, id: "a", inc, addr: "a:7401", meta: {} };
  deliver(b, "a", gossip("a", [alive]), 1100);
  assert.equal(b.core.member("a")?.status, "alive");
});

Deno.test("swim: a ping from a member we never heard of starts a push/pull with it, once per backoff", () => {
  const a = makeNode("a", ["a", "b"]);
  // b never heard of a: the gossip about a's joining ran out before it reached b.
  const b = makeNode("b", ["b"]);
  const sent = firstOf(tickTo(a, 1000), "swim.ping");
  assert.equal(sent.to, "b");
  // Its own alive message, which a still piggybacks here, is long spent in the real case.
  assert.equal(sent.msg.type, "swim.ping");
  const ping: SwimDatagram = {
    type: "swim.ping",
    body: { seq: seqOf(sent.msg), from: "a", target: "b" },
  };
  const fx = deliver(b, "a", ping, 1005);
  assert.ok(firstOf(fx, "swim.ack"), "b still answers the ping");
  const pp = fx.filter((e): e is PushPullEffect => e.type === "push_pull");
  assert.equal(pp.length, 1, "b introduces itself");
  assert.equal(pp[0].addr, "a:7401");
  assert.equal(pp[0].to, undefined, "a's id and rpc address come from discovery");
  assert.equal(pp[0].state.from, "b");
  // Later pings within the backoff do not start another exchange.
  const again = deliver(b, "a", ping, 1500);
  assert.equal(again.filter((e) => e.type === "push_pull").length, 0);
  // After it, a stranger still pinging is introduced again (the first exchange may have failed).
  const later = deliver(b, "a", ping, 1005 + 8 * testConfig().probeIntervalMs);
  assert.equal(later.filter((e) => e.type === "push_pull").length, 1);
  // Once b knows a, its pings are only answered.
  b.core.mergeRemoteState(a.core.localState(false), 20000);
  collect(b);
  assert.equal(b.core.member("a")?.status, "alive");
  const known = deliver(b, "a", ping, 30000);
  assert.equal(known.filter((e) => e.type === "push_pull").length, 0);
});

Deno.test("swim: a ping carrying a stale suspicion of us is acked with our current alive message", () => {
  const ids = ["a", "b", "c"];
  const a = makeNode("a", ids);
  const b = makeNode("b", ids);
  // c suspected b; b heard it, refuted, and gossiped its refutation until it was spent...
  deliver(b, "c", gossip("c", [{ t: "suspect", id: "b", inc: 0, from: "c" }]), 100);
  assert.equal(b.core.member("b")?.inc, 1);
  runUntil(b, 150, 5000, 50);
  assert.equal(b.core.queuedBroadcasts, 0, "b's refutation is spent");
  // ...but it never reached a, which still holds b suspect at incarnation 0.
  deliver(a, "c", gossip("c", [{ t: "suspect", id: "b", inc: 0, from: "c" }]), 100);
  assert.equal(a.core.member("b")?.status, "suspect");
  let ping;
  for (let t = 200; !ping && t < 5000; t += 50) {
    ping = sends(tickTo(a, t)).find((s) => s.msg.type === "swim.ping" && s.to === "b");
  }
  assert.ok(ping, "a probes b");
  const buddy = (ping.msg.body.gossip ?? []).find((u) => u.id === "b");
  assert.equal(buddy?.t, "suspect", "Lifeguard's buddy system: the ping carries the suspicion");
  const ack = firstOf(deliver(b, "a", ping.msg, 5010), "swim.ack");
  const alive = (ack.msg.body.gossip ?? []).find((u) => u.id === "b");
  assert.deepEqual(alive, { t: "alive", id: "b", inc: 1, addr: "b:7401", meta: {} });
  deliver(a, "b", ack.msg, 5020);
  assert.equal(a.core.member("b")?.status, "alive", "the suspicion is cleared");
});
