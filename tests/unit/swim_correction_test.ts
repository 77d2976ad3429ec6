/**
 * A refutation must reach the members that suspect us, even at small N where
 * gossip, which spends each update on a few random members, can miss them.
 * These tests pin the three paths that carry it back: the ack to a buddy
 * ping, a reply to stale gossip, a relay's reply to a ping-req, plus the
 * probe order that puts a suspect next.
 */
import assert from "node:assert/strict";
import {
  deliver,
  gossip,
  makeNode,
  runUntil,
  sends,
  type TestNode,
  tickTo,
} from "../../lib/swim/harness.ts";
import { IndexedSet } from "../../lib/swim/members.ts";
import { ProbeScheduler } from "../../lib/swim/probe.ts";
import { Prng } from "../../lib/sim/prng.ts";
import type { Update } from "../../proto/swim.ts";

/** A node `b` that was suspected by `c`, refuted, and has spent its refutation. */
function refutedAndSpent(ids: string[]): TestNode {
  const b = makeNode("b", ids);
  deliver(b, "c", gossip("c", [{ t: "suspect", id: "b", inc: 0, from: "c" }]), 100);
  assert.equal(b.core.member("b")?.inc, 1);
  runUntil(b, 150, 8000, 50);
  assert.equal(b.core.queuedBroadcasts, 0, "the refutation is spent");
  return b;
}

const aliveB = (inc: number): Update => ({ t: "alive", id: "b", inc, addr: "b:7401", meta: {} });

Deno.test("swim: stale gossip about us is answered with our alive message in a datagram of its own", () => {
  const b = refutedAndSpent(["a", "b", "c"]);
  const fx = deliver(b, "a", gossip("a", [{ t: "suspect", id: "b", inc: 0, from: "c" }]), 8100);
  const reply = sends(fx).find((s) => s.to === "a" && s.msg.type === "swim.gossip");
  assert.ok(reply, "b answers the sender of the stale suspicion");
  assert.deepEqual(reply.msg.body.gossip?.[0], aliveB(1));
  // A stale death notice is answered the same way; current news is not answered at all.
  const dead = deliver(b, "a", gossip("a", [{ t: "dead", id: "b", inc: 0, from: "c" }]), 8200);
  assert.ok(sends(dead).some((s) => s.to === "a" && s.msg.body.gossip?.[0]?.id === "b"));
  const fresh = deliver(b, "a", gossip("a", [aliveB(1)]), 8300);
  assert.equal(sends(fresh).length, 0);
});

Deno.test("swim: a member that heard a refutation corrects a stale suspicion of a third member", () => {
  const ids = ["a", "b", "c"];
  const c = makeNode("c", ids);
  deliver(c, "b", gossip("b", [aliveB(1)]), 100);
  const fx = deliver(c, "a", gossip("a", [{ t: "suspect", id: "b", inc: 0, from: "a" }]), 200);
  const reply = sends(fx).find((s) => s.to === "a");
  assert.deepEqual(reply?.msg.body.gossip?.[0], aliveB(1));
  // What c itself holds suspect or dead is not "corrected".
  const d = makeNode("d", ["a", "b", "d"]);
  deliver(d, "x", gossip("x", [{ t: "suspect", id: "b", inc: 1, from: "x" }]), 100);
  const none = deliver(d, "a", gossip("a", [{ t: "suspect", id: "b", inc: 0, from: "a" }]), 200);
  assert.ok(!sends(none).some((s) => s.to === "a" && s.msg.type === "swim.gossip"));
});

Deno.test("swim: a ping-req about a suspect carries the suspicion, and a relay that knows better answers", () => {
  const ids = ["a", "b", "c"];
  const a = makeNode("a", ids);
  deliver(a, "x", gossip("x", [{ t: "suspect", id: "b", inc: 0, from: "x" }]), 50);
  // a probes b (first, since it is suspect) and hears nothing: it asks c to relay.
  let req;
  let t = 100;
  for (; !req && t < 5000; t += 25) {
    req = sends(tickTo(a, t)).find((s) => s.msg.type === "swim.ping_req");
  }
  assert.ok(req, "a goes indirect");
  assert.equal(req.to, "c");
  assert.deepEqual(req.msg.body.gossip?.[0], { t: "suspect", id: "b", inc: 0, from: "a" });
  // c heard b's refutation: it sends it to a right away, besides relaying.
  const c = makeNode("c", ids);
  deliver(c, "b", gossip("b", [aliveB(1)]), 100);
  const fx = deliver(c, "a", req.msg, 200);
  assert.ok(sends(fx).some((s) => s.to === "b" && s.msg.type === "swim.ping"), "c relays");
  const reply = sends(fx).find((s) => s.to === "a" && s.msg.type === "swim.gossip");
  assert.deepEqual(reply?.msg.body.gossip?.[0], aliveB(1));
  deliver(a, "c", reply!.msg, t + 10);
  assert.equal(a.core.member("b")?.status, "alive");
});

Deno.test("swim: a member that becomes suspect is probed next", () => {
  const ids = ["a", "b", "c", "d", "e", "f", "g", "h"];
  for (const target of ["c", "f", "h"]) {
    const a = makeNode("a", ids);
    deliver(a, "x", gossip("x", [{ t: "suspect", id: target, inc: 0, from: "x" }]), 10);
    const ping = sends(tickTo(a, 1000)).find((s) => s.msg.type === "swim.ping");
    assert.equal(ping?.to, target);
  }
});

Deno.test("probe scheduler: soon() moves a member up without probing it twice in the round", () => {
  const live = new IndexedSet();
  for (let i = 0; i < 6; i++) live.add(`n${i}`);
  const p = new ProbeScheduler();
  const rng = new Prng(3);
  const first = p.next(live, rng)!;
  const rest = live.toArray().filter((id) => id !== first);
  const last = rest[rest.length - 1];
  p.soon(last);
  assert.equal(p.next(live, rng), last);
  const round = [first, last];
  for (let i = 0; i < 4; i++) round.push(p.next(live, rng)!);
  assert.equal(new Set(round).size, 6, "still once each in the round");
  // A member already probed this round is probed once more.
  p.soon(first);
  assert.equal(p.next(live, rng), first);
});
