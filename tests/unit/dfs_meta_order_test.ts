/**
 * The reconcile rule of DFS metadata (`lib/dfs/meta_order.ts`): a history confirmed further
 * wins over a longer unconfirmed tail; fully confirmed records keep the old order (newest
 * wins, equal order with another head is a conflict); records from before the field count
 * as confirmed through themselves.
 */
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import {
  appendMeta,
  applyOp,
  createMeta,
  decodeMeta,
  type FileMeta,
} from "../../lib/dfs/file_meta.ts";
import { freshHead, sealed } from "../../lib/dfs/meta_head.ts";
import { compareRecords, confirmedOf, orderOf, UNCONFIRMED } from "../../lib/dfs/meta_order.ts";
import { newest, statOf, summaryOf, tombstoneOf, winsOver } from "../../lib/dfs/node_meta.ts";
import { authoritative } from "../../lib/dfs/node_meta_sync.ts";
import { sha256Hex } from "../../lib/dfs/store/checksum.ts";
import { NodeStore } from "../../lib/dfs/store/node_store.ts";
import { ElasticoreError } from "../../lib/errors.ts";

const enc = new TextEncoder();

function piece(s: string) {
  return { size: s.length, checksum: sha256Hex(enc.encode(s)) };
}

/** `n` appends after `rec`, each line tagged `tag`. */
function appends(rec: FileMeta, tag: string, n: number): FileMeta {
  for (let i = 0; i < n; i++) rec = appendMeta(rec, [piece(`${tag}${i}\n`)], 10 + i).record;
  return rec;
}

/** `rec` as its primary leaves it once confirmed through the fence and marked. */
function confirmed(rec: FileMeta): FileMeta {
  return { ...rec, confirmed: orderOf(rec) };
}

/** A file with one acknowledged append: the fork point of the scenarios below. */
function forkPoint(path = "/o/log"): FileMeta {
  const rec = createMeta(null, { path, fileId: "f1", blockBytes: 1024, blocks: [], nowMs: 1 })
    .record;
  return confirmed(appends(rec, "base", 1));
}

Deno.test("reconcile: a confirmed shorter history beats a longer unconfirmed tail", () => {
  const fork = forkPoint();
  const minority = appends(fork, "min", 6); // stored, never confirmed
  const majority = confirmed(appends(fork, "maj", 2)); // acknowledged
  assert.deepEqual(confirmedOf(minority), { version: 1, appendSeq: 1 }, "ops carry the base's");
  assert.equal(minority.appendSeq, 7);
  assert.equal(majority.appendSeq, 3);
  assert.ok(compareRecords(majority, minority) > 0);
  assert.ok(compareRecords(minority, majority) < 0);
  assert.equal(newest([minority, majority, minority]), majority);
  assert.equal(newest([majority, minority]), majority);
  // Even when more replicas hold the unconfirmed tail.
  assert.equal(authoritative([minority, minority, majority]), majority);
  // A later unconfirmed op on the confirmed history still carries its mark and wins.
  const next = appends(majority, "next", 1);
  assert.deepEqual(confirmedOf(next), orderOf(majority));
  assert.ok(compareRecords(next, minority) > 0);
  // Among unconfirmed tails of one confirmed point, the longer wins (as before).
  assert.ok(compareRecords(minority, appends(fork, "other", 2)) > 0);
});

Deno.test("reconcile: fully confirmed records keep the old order; equal order is a conflict", () => {
  const fork = forkPoint();
  const a = confirmed(appends(fork, "a", 2));
  const b = confirmed(appends(fork, "b", 5));
  assert.ok(compareRecords(b, a) > 0, "newer wins, as before the field existed");
  const c = confirmed(appends(fork, "c", 2));
  assert.equal(compareRecords(a, c), 0, "same order, both confirmed: a true conflict");
  assert.notEqual(a.head, c.head);
  // An overwrite (version bump) of a confirmed record vs appends confirmed on the old version.
  const tomb = confirmed(tombstoneOf(a, 50));
  assert.ok(compareRecords(tomb, b) > 0);
  assert.deepEqual(confirmedOf(tombstoneOf(b, 50)), orderOf(b), "a tombstone keeps its base's");
});

Deno.test("reconcile: records from before the field load and count as confirmed through themselves", () => {
  const fork = forkPoint();
  const { confirmed: _c, ...legacy } = appends(fork, "old", 3);
  const bytes = encode(legacy);
  const back = decodeMeta(bytes);
  assert.equal(back.confirmed, undefined);
  assert.deepEqual(confirmedOf(back), { version: 1, appendSeq: 4 });
  // Beats a longer unconfirmed tail forked before it, loses to a history confirmed further.
  assert.ok(compareRecords(back, appends(fork, "new", 6)) > 0);
  assert.ok(compareRecords(confirmed(appends(fork, "new", 6)), back) > 0);
  // Building on it stamps that point explicitly.
  const after = appendMeta(back, [piece("x")], 99);
  assert.deepEqual(after.record.confirmed, { version: 1, appendSeq: 4 });
  assert.deepEqual(applyOp(back, after.op!).confirmed, { version: 1, appendSeq: 4 });
  // Old summaries (no field) compare the same way as their records.
  const { confirmed: _s, ...oldSummary } = summaryOf(back);
  assert.equal(compareRecords(oldSummary, summaryOf(back)), 0);
  // The user-facing stat never shows the field.
  assert.equal("confirmed" in statOf(summaryOf(fork)), false);
});

Deno.test("reconcile: the confirmed point is not part of a record's identity", () => {
  const rec = createMeta(null, { path: "/o/x", fileId: "f2", blockBytes: 64, blocks: [], nowMs: 1 })
    .record;
  assert.deepEqual(rec.confirmed, UNCONFIRMED, "a new file has nothing confirmed");
  assert.equal(freshHead(rec), freshHead(confirmed(rec)));
  assert.equal(sealed(confirmed(rec)).head, rec.head);
});

Deno.test("node store: takes the confirmed history over an unconfirmed tail, never lowers a mark", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dfs_order_" });
  const store = await NodeStore.open({ path: `${dir}/kv` });
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
      return "ok";
    } catch (e) {
      return e instanceof ElasticoreError ? e.code : String(e);
    }
  };
  try {
    const fork = forkPoint("/o/s");
    const minority = appends(fork, "min", 6);
    const majority = confirmed(appends(fork, "maj", 2));
    await store.putMeta(fork.path, minority);
    await store.putMeta(fork.path, majority); // shorter, but confirmed further: replaces it
    assert.equal((await store.getMeta(fork.path))!.head, majority.head);
    assert.equal(await code(store.putMeta(fork.path, minority)), "dfs_stale_version");
    // The same record with a lower mark (a late copy) is taken without lowering the mark.
    const unmarked = { ...majority, confirmed: fork.confirmed };
    assert.equal(await code(store.putMeta(fork.path, unmarked)), "ok");
    assert.deepEqual((await store.getMeta(fork.path))!.confirmed, orderOf(majority));
    // Equal order and mark, other history: a conflict, as before.
    const other = confirmed(appends(fork, "oth", 2));
    assert.equal(await code(store.putMeta(fork.path, other)), "dfs_meta_conflict");
    // A mark applies only to exactly the stored state.
    const next = appends(majority, "n", 1);
    await store.putMeta(fork.path, next);
    assert.equal(await store.markMeta(fork.path, orderOf(majority), majority.head!), null);
    assert.equal(await store.markMeta(fork.path, orderOf(next), other.head!), null);
    const marked = await store.markMeta(fork.path, orderOf(next), next.head!);
    assert.deepEqual(marked?.confirmed, orderOf(next));
    assert.deepEqual((await store.getMeta(fork.path))!.confirmed, orderOf(next));
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reconcile: two unacknowledged records of one order converge on the head tie-break", async () => {
  const fork = forkPoint("/o/tie");
  const a = appends(fork, "a", 1); // (1, 2), confirmed (1, 1): never acknowledged
  const b = appends(fork, "b", 1); // the same order, another history
  assert.equal(compareRecords(a, b), 0);
  const [lo, hi] = (a.head ?? "") < (b.head ?? "") ? [a, b] : [b, a];
  assert.ok(winsOver(hi, lo) && !winsOver(lo, hi), "only the higher head replaces");
  // Acknowledged at that order (confirmed through it): never replaced by one of the same order.
  assert.ok(!winsOver(hi, confirmed(lo)));
  // A history confirmed further replaces an unacknowledged one of the same order.
  assert.ok(winsOver(confirmed(lo), hi));
  const dir = await Deno.makeTempDir();
  const store = await NodeStore.open({ path: `${dir}/s.kv` });
  try {
    await store.putMeta("/o/tie", lo);
    assert.equal((await store.putMeta("/o/tie", hi)).head, hi.head, "replaced by the tie-break");
    await assert.rejects(
      store.putMeta("/o/tie", lo),
      (e) => e instanceof ElasticoreError && e.code === "dfs_meta_conflict",
    );
    await store.putMeta("/o/tie", confirmed(lo));
    assert.equal((await store.getMeta("/o/tie"))?.head, lo.head, "the acknowledged one wins");
    await assert.rejects(
      store.putMeta("/o/tie", hi),
      (e) => e instanceof ElasticoreError && e.code === "dfs_meta_conflict",
    );
    // Summaries carry the head, so anti-entropy sees the difference.
    assert.equal(summaryOf(hi).head, hi.head);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
