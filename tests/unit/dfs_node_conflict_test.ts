/**
 * Conflicting metadata histories: a primary working from a stale record, two nodes acting as
 * primary for one path, and two different ops or records under one number must never let
 * an acknowledged append be lost (see `lib/dfs/meta_head.ts`, `lib/dfs/node_meta_sync.ts`).
 */
import assert from "node:assert/strict";
import { appendMeta, createMeta, type FileMeta, type MetaOp } from "../../lib/dfs/file_meta.ts";
import { newest } from "../../lib/dfs/node_meta.ts";
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";
import { metadataKey } from "../../lib/dfs/ring/id.ts";
import { sha256Hex } from "../../lib/dfs/store/checksum.ts";
import { NodeStore } from "../../lib/dfs/store/node_store.ts";
import { ReplicaApplier } from "../../lib/dfs/store/replica_applier.ts";
import { ElasticoreError } from "../../lib/errors.ts";

const enc = new TextEncoder();

function file(path: string): FileMeta {
  return createMeta(null, { path, fileId: "f1", blockBytes: 1024, blocks: [], nowMs: 1 }).record;
}

function piece(s: string) {
  return { size: s.length, checksum: sha256Hex(enc.encode(s)) };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof ElasticoreError ? e.code : String(e);
  }
  return "none";
}

Deno.test("replica applier: a different op under an applied number is a conflict, not a duplicate", () => {
  const base = file("/c/a");
  const mine = appendMeta(base, [piece("mine")], 10);
  const theirs = appendMeta(base, [piece("theirs")], 11);
  const applier = new ReplicaApplier(base);
  assert.equal(applier.deliver(mine.op!).status, "applied");
  assert.equal(applier.deliver(structuredClone(mine.op!)).status, "duplicate");
  assert.equal(code(() => applier.deliver(theirs.op!)), "dfs_meta_conflict");
  // Same number and blocks but another time stamp: still another op.
  assert.equal(code(() => applier.deliver({ ...mine.op!, nowMs: 12 })), "dfs_meta_conflict");
  // A fresh applier (no history) verifies the last op through the record's head.
  const fresh = new ReplicaApplier(applier.record);
  assert.equal(fresh.deliver(mine.op!).status, "duplicate");
  assert.equal(code(() => fresh.deliver(theirs.op!)), "dfs_meta_conflict");
  // An op from an older history (seq already passed, unverifiable) is refused too.
  const next = appendMeta(applier.record, [piece("next")], 13);
  assert.equal(fresh.deliver(next.op!).status, "applied");
  assert.equal(code(() => new ReplicaApplier(fresh.record).deliver(mine.op!)), "dfs_meta_conflict");
  // An op based on another history does not apply even with the right number.
  const other = appendMeta(theirs.record, [piece("x")], 14).op!;
  assert.equal(code(() => new ReplicaApplier(mine.record).deliver(other)), "dfs_meta_conflict");
});

Deno.test("node store: an equal (version, appendSeq) record with other content is refused unless both are unacknowledged and it wins the tie-break; newest is order-free", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dfs_conflict_" });
  const store = await NodeStore.open({ path: `${dir}/kv` });
  try {
    const base = file("/c/b");
    const a = appendMeta(base, [piece("a")], 10).record;
    const b = appendMeta(base, [piece("b")], 10).record;
    assert.equal(a.appendSeq, b.appendSeq);
    assert.notEqual(a.head, b.head);
    // Acknowledged at that order (confirmed through it): another record of it is refused.
    const acked = { ...a, confirmed: { version: a.version, appendSeq: a.appendSeq } };
    await store.putMeta(a.path, acked);
    await store.putMeta(a.path, structuredClone(acked)); // the same record again: fine
    await assert.rejects(
      () => store.putMeta(b.path, b),
      (e: unknown) => e instanceof ElasticoreError && e.code === "dfs_meta_conflict",
    );
    assert.deepEqual(await store.getMeta(a.path), acked);
    // Neither acknowledged: the higher head replaces, the lower is refused (every node agrees).
    const base2 = file("/c/b2");
    const a2 = appendMeta(base2, [piece("a")], 10).record;
    const b2 = appendMeta(base2, [piece("b")], 10).record;
    const [lo, hi] = (a2.head ?? "") < (b2.head ?? "") ? [a2, b2] : [b2, a2];
    await store.putMeta("/c/b2", lo);
    await store.putMeta("/c/b2", hi);
    await assert.rejects(
      () => store.putMeta("/c/b2", lo),
      (e: unknown) => e instanceof ElasticoreError && e.code === "dfs_meta_conflict",
    );
    assert.equal(newest([a, b])!.head, newest([b, a])!.head, "tie broken by head, not position");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** The metadata replicas of `path`, primary first. */
async function replicasOf(c: DfsTestCluster, path: string): Promise<string[]> {
  return (await c.node("n1").locate(metadataKey(path), 0)).slice(0, 3);
}

Deno.test("dfs node: a primary with a stale cached record never acknowledges an append nobody applied", async () => {
  const c = await DfsTestCluster.start({ blockBytes: 4096 });
  try {
    await c.settled();
    const path = "/conflict/stale.log";
    const [x, y] = await replicasOf(c, path);
    const client = [...c.nodes.keys()].find((id) => id !== x && id !== y)!;
    const append = (via: string, s: string, nowMs: number) =>
      c.node(client).call(via, "dfs.append_bytes", { path, nowMs, data: enc.encode(s) });
    const t = Date.now();
    await append(x, "init\n", t); // x caches the record (seq 1)
    await append(y, "same\n", t + 10_000); // y acts as primary too: x's cache is now stale
    // x orders the same bytes under number 2 again: same block id and content, another op.
    await append(x, "same\n", t + 20_000);
    const body = await new Response((await c.node(client).get(path)).body).text();
    assert.equal(body, "init\nsame\nsame\n", "both acknowledged appends are in the file");
    const recs = await Promise.all([x, y].map((id) => c.node(id).localMeta(path)));
    assert.deepEqual(recs[0], recs[1], "the replicas hold one history");
  } finally {
    await c.close();
  }
});

Deno.test("dfs node: a second primary's op or record under an applied number is refused by the replica", async () => {
  const c = await DfsTestCluster.start({ blockBytes: 4096 });
  try {
    await c.settled();
    const path = "/conflict/two.log";
    await c.node("n1").append(path, enc.encode("first\n"));
    const [primary, replica] = await replicasOf(c, path);
    const rec = (await c.node(replica).localMeta(path))!;
    // What a second primary working from the record before "first" would send.
    const before: FileMeta = { ...rec, blocks: [], size: 0, nextBlockNo: 0, appendSeq: 0 };
    const theirs = appendMeta(
      { ...before, head: file(path).head },
      [piece("other\n")],
      rec.modifiedMs + 1,
    );
    const op: MetaOp = theirs.op!;
    assert.equal(op.seq, rec.appendSeq);
    // The op is not applied: the replica asks for the whole record, which its store then
    // judges by the reconcile rule (`meta_order.ts`).
    const reply = await c.node(primary).call<{ applied: boolean; need: boolean }>(
      replica,
      "dfs.meta_op",
      { path, op },
    );
    assert.equal(reply.applied, false);
    assert.equal(reply.need, true);
    const put = await c.node(primary).call<{ stored: boolean }>(replica, "dfs.meta_put", {
      record: { ...theirs.record, version: rec.version },
    });
    assert.equal(put.stored, false, "an equal-order record with other content is not stored");
    assert.deepEqual(await c.node(replica).localMeta(path), rec);
    const body = await new Response((await c.node("n4").get(path)).body).text();
    assert.equal(body, "first\n");
  } finally {
    await c.close();
  }
});

Deno.test("dfs node: a record held only by a non-owner is found, not reported missing", async () => {
  const c = await DfsTestCluster.start({ blockBytes: 4096 });
  try {
    await c.settled();
    const path = "/conflict/moved.txt";
    const owners = await replicasOf(c, path);
    const other = [...c.nodes.keys()].find((id) => !owners.includes(id))!;
    const rec = createMeta(null, { path, fileId: "moved1", blockBytes: 4096, blocks: [], nowMs: 5 })
      .record;
    assert.ok(await c.node(other).storeMeta(rec));
    const stat = await c.node(owners[0]).stat(path);
    assert.equal(stat.size, 0);
    for (let i = 0; i < 40 && !await c.node(owners[1]).localMeta(path); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(await c.node(owners[1]).localMeta(path), "copied to the owners");
  } finally {
    await c.close();
  }
});
