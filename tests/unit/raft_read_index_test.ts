import assert from "node:assert/strict";
import { MemCluster } from "../../lib/raft/mem_cluster.ts";

const IDS = ["n1", "n2", "n3"];
const bytes = (...b: number[]) => new Uint8Array(b);

function ready(): MemCluster {
  const c = new MemCluster(IDS);
  c.elect("n1");
  c.tick("n1", 2);
  c.deliver();
  return c;
}

Deno.test("raft ReadIndex: the leader serves a read after a heartbeat quorum confirms it", () => {
  const c = ready();
  const n1 = c.node("n1");
  n1.propose(bytes(1));
  c.deliver();
  assert.equal(n1.readIndex(bytes(7)).ok, true);
  c.flush("n1");
  assert.equal(c.reads.get("n1")!.length, 0, "not before the followers answered");
  const hb = c.queue.filter((m) => m.type === "heartbeat");
  assert.equal(hb.length, 2);
  for (const m of hb) if (m.type === "heartbeat") assert.deepEqual(m.ctx, bytes(7));
  c.deliver();
  assert.deepEqual(c.reads.get("n1"), [{ index: 2, ctx: bytes(7) }]);
});

Deno.test("raft ReadIndex: a follower's read is forwarded to the leader", () => {
  const c = ready();
  c.node("n1").propose(bytes(1));
  c.deliver();
  assert.equal(c.node("n2").readIndex(bytes(8)).ok, true);
  c.deliver();
  assert.deepEqual(c.reads.get("n2"), [{ index: 2, ctx: bytes(8) }]);
  assert.equal(c.reads.get("n1")!.length, 0);
});

Deno.test("raft ReadIndex: a leader cut off from the quorum serves no read", () => {
  const c = ready();
  c.isolate("n1");
  assert.equal(c.node("n1").readIndex(bytes(9)).ok, true);
  for (let i = 0; i < 6; i++) {
    c.tick("n1");
    c.deliver();
  }
  assert.equal(c.reads.get("n1")!.length, 0);
});

Deno.test("raft ReadIndex: a new leader waits for its first commit before serving", () => {
  const c = new MemCluster(IDS);
  const n1 = c.node("n1");
  n1.campaign();
  c.deliver(() => n1.role === "leader");
  c.dropQueued();
  assert.equal(n1.log.committed, 0);
  assert.equal(n1.readIndex(bytes(5)).ok, true);
  c.tick("n1", 2);
  c.deliver();
  const reads = c.reads.get("n1")!;
  assert.equal(reads.length, 1);
  assert.equal(reads[0].index, 1, "the read index covers the leader's first entry of its term");
  assert.equal(n1.log.term(1), n1.term);
});

Deno.test("raft ReadIndex: without a known leader a follower refuses", () => {
  const c = new MemCluster(IDS);
  const r = c.node("n2").readIndex(bytes(1));
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.reason, "no_leader");
});

Deno.test("raft ReadIndex: a single-node cluster answers at once", () => {
  const c = new MemCluster(["solo"]);
  c.elect("solo");
  assert.equal(c.node("solo").log.committed, 1);
  c.node("solo").readIndex(bytes(3));
  c.flush("solo");
  assert.deepEqual(c.reads.get("solo"), [{ index: 1, ctx: bytes(3) }]);
});
