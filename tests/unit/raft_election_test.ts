import assert from "node:assert/strict";
import { MemCluster } from "../../lib/raft/mem_cluster.ts";

const IDS = ["n1", "n2", "n3"];

Deno.test("raft election: a node that times out becomes the only leader", () => {
  const c = new MemCluster(IDS);
  // Randomized timeouts are in [10, 20) ticks: 25 ticks always fire.
  for (let i = 0; i < 25 && !c.leader(); i++) {
    for (const id of IDS) c.tick(id);
    c.deliver();
  }
  const lead = c.leader();
  assert.ok(lead, "a leader was elected");
  const leaders = IDS.filter((id) => c.node(id).role === "leader");
  assert.deepEqual(leaders, [lead]);
  for (const id of IDS) {
    assert.equal(c.node(id).term, 1, "pre-vote does not spend terms: first real election is 1");
    assert.equal(c.node(id).lead, lead);
  }
  // The leader's empty entry of term 1 commits everywhere (followers learn it by heartbeat).
  c.tick(lead, 2);
  c.deliver();
  for (const id of IDS) assert.equal(c.node(id).log.committed, 1);
});

Deno.test("raft election: a candidate with a stale log loses", () => {
  const c = new MemCluster(IDS);
  c.elect("n1");
  c.isolate("n3");
  c.node("n1").propose(new Uint8Array([1]));
  c.deliver();
  assert.equal(c.node("n1").log.committed, 2);
  assert.equal(c.node("n3").log.lastIndex(), 1);
  c.heal();
  c.crash("n1");
  // n3 (log ends at 1) campaigns: n2 (log ends at 2) refuses, so n3 cannot win.
  c.node("n3").campaign();
  c.deliver();
  assert.notEqual(c.node("n3").role, "leader");
  c.node("n2").campaign();
  c.deliver();
  assert.equal(c.node("n2").role, "leader");
});

Deno.test("raft pre-vote: a partitioned node does not inflate terms or disrupt the leader", () => {
  const c = new MemCluster(IDS);
  c.elect("n1");
  const term = c.node("n1").term;
  c.isolate("n3");
  for (let i = 0; i < 200; i++) {
    c.tick("n3");
    c.deliver();
  }
  assert.equal(c.node("n3").term, term, "pre-votes never reach a quorum, so the term stays");
  assert.equal(c.node("n3").role, "precandidate");
  c.heal();
  for (let i = 0; i < 5; i++) {
    c.tick("n1");
    c.deliver();
  }
  assert.equal(c.node("n1").role, "leader", "the leader survives the node's return");
  assert.equal(c.node("n1").term, term);
  assert.equal(c.node("n3").lead, "n1");
});

Deno.test("raft pre-vote: without it, the partitioned node's term grows and disrupts", () => {
  const c = new MemCluster(IDS, { preVote: false, checkQuorum: false });
  c.elect("n1");
  const term = c.node("n1").term;
  c.isolate("n3");
  for (let i = 0; i < 200; i++) c.tick("n3");
  assert.ok(c.node("n3").term > term + 3, "each timeout starts a new term");
  c.heal();
  c.node("n1").propose(new Uint8Array([7]));
  c.deliver();
  assert.ok(c.node("n1").term > term, "n1 saw the higher term and lost its leadership");
});

Deno.test("raft check-quorum: a leader without contact from a quorum steps down", () => {
  const c = new MemCluster(IDS);
  c.elect("n1");
  c.isolate("n1");
  for (let i = 0; i < 9; i++) c.tick("n1");
  assert.equal(c.node("n1").role, "leader");
  for (let i = 0; i < 12; i++) c.tick("n1");
  assert.equal(c.node("n1").role, "follower", "stepped down after an election timeout");
  assert.equal(c.node("n1").propose(new Uint8Array([1])).ok, false);
});

Deno.test("raft check-quorum: followers in a lease ignore a disruptive vote request", () => {
  const c = new MemCluster(IDS, { preVote: false });
  c.elect("n1");
  const term = c.node("n1").term;
  // n3 campaigns at once (no pre-vote): n2 heard from n1 recently, so it ignores n3.
  c.node("n3").campaign();
  c.deliver((() => {
    let left = 4;
    return () => --left < 0;
  })());
  assert.equal(c.node("n2").term, term);
  assert.equal(c.node("n2").lead, "n1");
});

Deno.test("raft election: a restarted node keeps its term and vote", () => {
  const c = new MemCluster(IDS);
  c.elect("n2");
  const { term, vote } = c.node("n1").status();
  assert.equal(vote, "n2");
  c.crash("n1");
  c.start("n1");
  assert.equal(c.node("n1").term, term);
  assert.equal(c.node("n1").status().vote, "n2");
  assert.equal(c.node("n1").log.lastIndex(), 1);
});
