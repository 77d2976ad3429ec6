import assert from "node:assert/strict";
import { MemCluster } from "../../lib/raft/mem_cluster.ts";
import type { MemCoreOptions } from "../../lib/raft/mem_cluster.ts";

const IDS = ["n1", "n2", "n3"];
const bytes = (...b: number[]) => new Uint8Array(b);

/** Every pair of nodes agrees on the terms of the entries both consider committed. */
function committedAgree(c: MemCluster): string | undefined {
  const nodes = [...c.nodes.values()];
  for (const a of nodes) {
    for (const b of nodes) {
      const upTo = Math.min(a.log.committed, b.log.committed);
      for (let i = Math.max(a.log.firstIndex(), b.log.firstIndex()); i <= upTo; i++) {
        if (a.log.term(i) !== b.log.term(i)) {
          return `${a.id} and ${b.id} committed different entries at ${i}`;
        }
      }
    }
  }
  return undefined;
}

function campaignUntilLeader(c: MemCluster, id: string): void {
  // A stale leader first learns the newer term from the answers to its heartbeats.
  c.tick(id, 2);
  c.deliver();
  for (let i = 0; i < 5 && c.node(id).role !== "leader"; i++) {
    c.node(id).campaign();
    c.deliver(() => c.node(id).role === "leader");
  }
  assert.equal(c.node(id).role, "leader", `${id} wins the election`);
}

/**
 * Figure 8 of the Raft paper on three nodes. Returns the cluster after the
 * scenario and n1's commit index at the moment it replicated its old-term
 * entry X to a majority.
 */
function figure8(opts: MemCoreOptions): { c: MemCluster; commitAtMajority: number } {
  const c = new MemCluster(IDS, { checkQuorum: false, maxEntriesPerMsg: 1, ...opts });
  c.elect("n1");
  c.tick("n1", 2);
  c.deliver();
  // (a) n1 (term 1) appends X at index 2; nobody receives it.
  c.isolate("n1");
  assert.equal(c.node("n1").propose(bytes(0x58)).ok, true);
  c.deliver();
  // (b) n2 wins term 2 with n3's vote and appends its entry Y at index 2; nobody receives it.
  c.heal();
  c.isolate("n1");
  campaignUntilLeader(c, "n2");
  c.dropQueued((m) => m.from === "n2");
  assert.equal(c.node("n2").log.term(2), c.node("n2").term);
  // (c) n1 wins a later term with n3's vote and replicates X (old term) to n3, not yet its own entry.
  c.heal();
  c.isolate("n2");
  campaignUntilLeader(c, "n1");
  c.deliver(() => c.node("n1").status().progress.n3?.match === 2);
  assert.equal(c.node("n3").log.term(2), 1, "n3 now holds X: X is on a majority");
  const commitAtMajority = c.node("n1").log.committed;
  c.dropQueued((m) => m.from === "n1");
  // (d) n1 is cut off; n2 (last term 2 > n3's last term 1) wins with n3's vote and overwrites X.
  c.heal();
  c.isolate("n1");
  campaignUntilLeader(c, "n2");
  c.tick("n2", 2);
  c.deliver();
  c.tick("n2", 2);
  c.deliver();
  return { c, commitAtMajority };
}

Deno.test("raft commit rule §5.4.2: an old-term entry on a majority is not committed (Figure 8)", () => {
  const { c, commitAtMajority } = figure8({});
  assert.equal(commitAtMajority, 1, "X was not committed by counting replicas");
  assert.equal(c.node("n3").log.term(2), 2, "X was overwritten, which is allowed: never committed");
  assert.ok(c.node("n2").log.committed >= 3);
  assert.equal(committedAgree(c), undefined);
});

Deno.test("raft commit rule: the deliberately broken rule loses a committed entry", () => {
  const { c, commitAtMajority } = figure8({ unsafeTesting: { commitAnyTerm: true } });
  assert.equal(commitAtMajority, 2, "the broken rule committed X by counting replicas");
  assert.equal(c.node("n3").log.term(2), 2, "and a later leader overwrote it");
  assert.match(committedAgree(c) ?? "", /committed different entries at 2/);
});

Deno.test("raft replication: conflicting uncommitted entries are truncated, with few probes", () => {
  const c = new MemCluster(IDS, { checkQuorum: false });
  c.elect("n1");
  c.isolate("n1");
  for (let i = 0; i < 30; i++) c.node("n1").propose(bytes(1, i));
  c.deliver();
  assert.equal(c.node("n1").log.lastIndex(), 31);
  c.heal();
  c.isolate("n1");
  campaignUntilLeader(c, "n2");
  for (let i = 0; i < 5; i++) c.node("n2").propose(bytes(2, i));
  c.deliver();
  c.heal();
  const before = c.sent.length;
  c.tick("n2", 2);
  c.deliver();
  const rejects = c.sent.slice(before).filter((m) => m.type === "append_resp" && m.reject);
  assert.ok(rejects.length <= 2, `fast back-off: ${rejects.length} rejections for 30 entries`);
  const n1 = c.node("n1");
  const n2 = c.node("n2");
  assert.equal(n1.log.lastIndex(), n2.log.lastIndex());
  for (let i = 1; i <= n2.log.lastIndex(); i++) assert.equal(n1.log.term(i), n2.log.term(i));
  assert.equal(n1.log.committed, n2.log.committed);
  assert.equal(committedAgree(c), undefined);
});

Deno.test("raft replication: appends are batched and pipelined", () => {
  const c = new MemCluster(IDS, { maxEntriesPerMsg: 3, maxInflight: 4 });
  c.elect("n1");
  for (let i = 0; i < 3; i++) {
    c.node("n1").propose(bytes(i));
    c.deliver();
  }
  const before = c.sent.length;
  for (let i = 0; i < 12; i++) c.node("n1").propose(bytes(9, i));
  c.flush("n1");
  const toN2 = c.sent.slice(before).filter((m) => m.type === "append" && m.to === "n2");
  assert.ok(toN2.length > 1, "several appends in flight before any answer");
  assert.ok(toN2.length <= 12);
  for (const m of toN2) {
    if (m.type === "append") assert.ok(m.entries.length <= 3, "batches respect maxEntriesPerMsg");
  }
  c.deliver();
  assert.equal(c.node("n1").log.committed, 16);
  assert.equal(c.node("n2").log.lastIndex(), 16);
});

Deno.test("raft replication: batches respect maxBytesPerMsg", () => {
  const c = new MemCluster(IDS, { maxBytesPerMsg: 2500 });
  c.elect("n1");
  c.isolate("n2");
  for (let i = 0; i < 6; i++) c.node("n1").propose(new Uint8Array(1000));
  c.deliver();
  c.heal();
  const before = c.sent.length;
  c.tick("n1", 2);
  c.deliver();
  const toN2 = c.sent.slice(before).filter((m) => m.type === "append" && m.to === "n2");
  assert.ok(toN2.some((m) => m.type === "append" && m.entries.length > 0));
  for (const m of toN2) if (m.type === "append") assert.ok(m.entries.length <= 2);
  assert.equal(c.node("n2").log.lastIndex(), 7);
});

Deno.test("raft snapshot: a follower behind the compacted log installs a snapshot", () => {
  const c = new MemCluster(IDS);
  c.elect("n1");
  c.isolate("n3");
  for (let i = 0; i < 20; i++) c.node("n1").propose(bytes(i));
  c.deliver();
  const n1 = c.node("n1");
  assert.equal(n1.log.applied, 21);
  const snap = n1.compact(21, bytes(0xaa, 0xbb));
  c.persistCompaction("n1", snap);
  assert.equal(n1.log.firstIndex(), 22);
  c.heal();
  c.tick("n1", 2);
  c.deliver();
  const installed = c.installed.get("n3")!;
  assert.equal(installed.length, 1, "n3 received the snapshot in a Ready");
  assert.equal(installed[0].index, 21);
  assert.deepEqual(installed[0].data, bytes(0xaa, 0xbb));
  assert.deepEqual(installed[0].voters, IDS);
  n1.propose(bytes(42));
  c.deliver();
  const n3 = c.node("n3");
  assert.equal(n3.log.snapshotIndex, 21);
  assert.equal(n3.log.committed, 22);
  assert.deepEqual(c.applied.get("n3")!.map((e) => e.index), [1, 22]);
  // A restart comes back from the snapshot and the entries after it.
  c.crash("n3");
  const r = c.start("n3");
  assert.equal(r.log.snapshotIndex, 21);
  assert.equal(r.log.lastIndex(), 22);
});

Deno.test("raft replication: a crash loses only what was not persisted", () => {
  const c = new MemCluster(IDS);
  c.elect("n1");
  c.node("n1").propose(bytes(5));
  c.deliver();
  const before = c.node("n2").log.lastIndex();
  c.crash("n2");
  const r = c.start("n2");
  assert.equal(r.log.lastIndex(), before);
  assert.ok(r.log.committed >= 1);
});
