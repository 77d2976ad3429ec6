import assert from "node:assert/strict";
import { MemCluster } from "../../lib/raft/mem_cluster.ts";

const IDS = ["n1", "n2", "n3"];
const bytes = (...b: number[]) => new Uint8Array(b);

function settle(c: MemCluster, lead: string): void {
  c.deliver();
  c.tick(lead, 2);
  c.deliver();
}

Deno.test("raft membership: add a learner, let it catch up, promote it", () => {
  const c = new MemCluster(IDS);
  c.elect("n1");
  const n1 = c.node("n1");
  for (let i = 0; i < 5; i++) n1.propose(bytes(i));
  settle(c, "n1");
  const n4 = c.addBlank("n4");
  const add = n1.proposeConfChange({ op: "add_learner", node: "n4" });
  assert.equal(add.ok, true);
  assert.deepEqual(n1.conf.learners, ["n4"], "the change takes effect when appended");
  const early = n1.proposeConfChange({ op: "promote", node: "n4" });
  assert.equal(early.ok, false);
  if (!early.ok) assert.equal(early.reason, "conf_change_pending", "one change at a time");
  settle(c, "n1");
  assert.equal(n4.log.lastIndex(), n1.log.lastIndex(), "the learner caught up");
  assert.deepEqual(n4.conf, { voters: IDS, learners: ["n4"] });
  const term = n4.term;
  for (let i = 0; i < 100; i++) c.tick("n4");
  assert.equal(n4.term, term, "a learner never campaigns");

  // A learner does not count towards the commit quorum.
  c.isolate("n2");
  c.isolate("n3");
  n1.propose(bytes(9));
  settle(c, "n1");
  assert.equal(n4.log.lastIndex(), n1.log.lastIndex());
  assert.equal(n1.log.committed, n1.log.lastIndex() - 1, "n1 + learner n4 is not a quorum");
  c.heal();
  settle(c, "n1");
  assert.equal(n1.log.committed, n1.log.lastIndex());

  assert.equal(n1.proposeConfChange({ op: "promote", node: "n4" }).ok, true);
  settle(c, "n1");
  assert.deepEqual(n4.conf, { voters: ["n1", "n2", "n3", "n4"], learners: [] });
  // Four voters: a quorum is three.
  c.isolate("n2");
  c.isolate("n3");
  n1.propose(bytes(10));
  settle(c, "n1");
  assert.equal(n1.log.committed, n1.log.lastIndex() - 1);
  c.heal();
  settle(c, "n1");
  assert.equal(n1.log.committed, n1.log.lastIndex());
});

Deno.test("raft membership: remove a voter; invalid changes are refused with a reason", () => {
  const c = new MemCluster(IDS);
  c.elect("n1");
  settle(c, "n1");
  const n1 = c.node("n1");
  const self = n1.proposeConfChange({ op: "remove", node: "n1" });
  assert.equal(self.ok, false);
  if (!self.ok) assert.equal(self.reason, "invalid_conf_change");
  const bad = n1.proposeConfChange({ op: "promote", node: "n2" });
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.match(bad.detail ?? "", /not a learner/);
  const notLeader = c.node("n2").proposeConfChange({ op: "remove", node: "n3" });
  assert.equal(notLeader.ok, false);
  if (!notLeader.ok) assert.equal(notLeader.leader, "n1");

  assert.equal(n1.proposeConfChange({ op: "remove", node: "n3" }).ok, true);
  assert.deepEqual(n1.conf.voters, ["n1", "n2"]);
  settle(c, "n1");
  // Two voters left: both are needed; n3 no longer matters.
  c.crash("n3");
  n1.propose(bytes(1));
  settle(c, "n1");
  assert.equal(n1.log.committed, n1.log.lastIndex());
  assert.deepEqual(c.node("n2").conf.voters, ["n1", "n2"]);
});

Deno.test("raft membership: an uncommitted change is undone when its entry is truncated", () => {
  const c = new MemCluster(IDS, { checkQuorum: false });
  c.elect("n1");
  settle(c, "n1");
  c.isolate("n1");
  c.addBlank("n4");
  assert.equal(c.node("n1").proposeConfChange({ op: "add_learner", node: "n4" }).ok, true);
  c.deliver();
  c.heal();
  c.isolate("n1");
  c.node("n2").campaign();
  c.deliver();
  c.node("n2").propose(bytes(1));
  settle(c, "n2");
  c.heal();
  settle(c, "n2");
  assert.equal(c.node("n1").role, "follower");
  assert.deepEqual(
    c.node("n1").conf,
    { voters: IDS, learners: [] },
    "reverted to the log's config",
  );
});

Deno.test("raft leadership transfer: the target catches up, gets TimeoutNow and wins", () => {
  const c = new MemCluster(IDS);
  c.elect("n1");
  settle(c, "n1");
  c.isolate("n2");
  for (let i = 0; i < 4; i++) c.node("n1").propose(bytes(i));
  settle(c, "n1");
  c.heal();
  const term = c.node("n1").term;
  assert.equal(c.node("n1").transferLeadership("n2").ok, true);
  const during = c.node("n1").propose(bytes(7));
  assert.equal(during.ok, false);
  if (!during.ok) assert.equal(during.reason, "transferring");
  c.deliver();
  assert.ok(c.sent.some((m) => m.type === "timeout_now" && m.to === "n2"));
  assert.equal(c.node("n2").role, "leader");
  assert.equal(c.node("n2").term, term + 1);
  assert.equal(c.node("n1").role, "follower");
  assert.equal(c.node("n2").log.lastIndex(), 6, "the new leader has every entry");
  const bad = c.node("n2").transferLeadership("n9");
  assert.equal(bad.ok, false);
});

Deno.test("raft transfer: it is abandoned after an election timeout if the target is gone", () => {
  const c = new MemCluster(IDS);
  c.elect("n1");
  settle(c, "n1");
  c.crash("n3");
  assert.equal(c.node("n1").transferLeadership("n3").ok, true);
  assert.equal(c.node("n1").propose(bytes(1)).ok, false);
  for (let i = 0; i < 11; i++) {
    c.tick("n1");
    c.deliver();
  }
  assert.equal(c.node("n1").role, "leader");
  assert.equal(c.node("n1").propose(bytes(1)).ok, true);
});
