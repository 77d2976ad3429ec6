import assert from "node:assert/strict";
import { NodeStore } from "../../lib/dfs/store/node_store.ts";
import { diffDigests } from "../../lib/dfs/store/digest.ts";
import { DfsChecksumError } from "../../lib/dfs/store/errors.ts";
import { appendMeta, createMeta, splitSizes } from "../../lib/dfs/file_meta.ts";
import { sha256Hex } from "../../lib/dfs/store/checksum.ts";
import { hashToRingId, ringIdToHex } from "../../lib/dfs/ring/id.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";
import { ElasticoreError } from "../../lib/errors.ts";

function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 131 + seed * 7) & 0xff;
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dfs_node_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const codeOf = (e: unknown) => (e instanceof ElasticoreError ? e.code : String(e));

Deno.test("node store: reads go through the cache, memory tier and disk tier", async () => {
  await withDir(async (dir) => {
    const metrics = new MetricsRegistry();
    const store = await NodeStore.open({
      path: `${dir}/n.kv`,
      metrics,
      memoryTierBytes: 100_000,
      cacheBytes: 1_000_000,
    });
    try {
      const a = bytes(70_000, 1);
      const b = bytes(70_000, 2);
      await store.putBlock("a", 1, a);
      await store.putBlock("b", 1, b); // the memory tier keeps only the most recent (b)
      assert.deepEqual(await store.getBlock("b", 1), b); // memory tier
      assert.deepEqual(await store.getBlock("a", 1), a); // disk, then cached
      assert.deepEqual(await store.getBlock("a", 1), a); // cache
      const part = await store.getBlock("a", 1, { offset: 65_530, length: 10 });
      assert.deepEqual(part, a.slice(65_530, 65_540));
      const got = await store.getBlock("a", 1);
      got[0] ^= 0xff; // the caller owns what it gets: the cache is unaffected
      assert.deepEqual(await store.getBlock("a", 1), a);
      const text = metrics.render();
      assert.match(text, /elasticore_dfs_block_reads_total\{source="disk"\} 1/);
      assert.match(text, /elasticore_dfs_block_reads_total\{source="memory"\} 1/);
      assert.match(text, /elasticore_dfs_block_reads_total\{source="cache"\} 4/);
      assert.match(text, /elasticore_dfs_stored_bytes 140000/);
      await assert.rejects(
        store.getBlock("a", 2),
        (e: unknown) => codeOf(e) === "dfs_block_not_found",
      );
      // A new version invalidates cached copies: v1 is never served again.
      const a2 = bytes(100, 3);
      await store.putBlock("a", 2, a2);
      assert.deepEqual(await store.getBlock("a", 2), a2);
      await assert.rejects(
        store.getBlock("a", 1),
        (e: unknown) => codeOf(e) === "dfs_block_not_found",
      );
      assert.ok(store.hasBlock("a", 2) && !store.hasBlock("a", 1));
      assert.equal(store.stats().usedBytes, 70_100);
      assert.equal(await store.deleteBlock("a"), true);
      assert.equal(store.hasBlock("a"), false);
      await assert.rejects(
        store.getBlock("a", 2),
        (e: unknown) => codeOf(e) === "dfs_block_not_found",
      );
      assert.equal(store.stats().usedBytes, 70_000);
    } finally {
      store.close();
    }
  });
});

Deno.test("node store: quota refusal writes nothing", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/q.kv`;
    const store = await NodeStore.open({ path, quotaBytes: 200_000 });
    try {
      await store.putBlock("x", 1, bytes(150_000, 1));
      const err = await store.putBlock("y", 1, bytes(60_000, 2)).catch((e) => e);
      assert.equal(codeOf(err), "dfs_quota_exceeded");
      assert.equal((err as ElasticoreError).status, 507);
      assert.equal(store.hasBlock("y"), false);
      assert.equal(store.stats().usedBytes, 150_000);
      // Replacing a block counts only the difference.
      await store.putBlock("x", 2, bytes(190_000, 3));
      assert.equal(store.stats().usedBytes, 190_000);
    } finally {
      store.close();
    }
    const kv = await Deno.openKv(path);
    try {
      let keys = 0;
      for await (const _ of kv.list({ prefix: ["b", "y"] })) keys++;
      for await (const _ of kv.list({ prefix: ["bh", "y"] })) keys++;
      assert.equal(keys, 0, "no chunk or header of the refused block");
    } finally {
      kv.close();
    }
  });
});

Deno.test("node store: metadata records put, get, list, stale refusal, delete", async () => {
  await withDir(async (dir) => {
    const store = await NodeStore.open({ path: `${dir}/m.kv` });
    try {
      const mk = (path: string, size: number) =>
        createMeta(null, {
          path,
          fileId: "f1",
          blockBytes: 64,
          blocks: splitSizes(size, 64).map((s, i) => ({
            size: s,
            checksum: sha256Hex(bytes(s, i)),
          })),
          nowMs: 1,
        }).record;
      const big = mk("/logs/big", 64 * 2000); // a record larger than one 64 KiB KV value
      await store.putMeta("/logs/big", big);
      await store.putMeta("/logs/small", mk("/logs/small", 10));
      await store.putMeta("/other", mk("/other", 10));
      assert.deepEqual(await store.getMeta("/logs/big"), big);
      const next = appendMeta(big, [{ size: 5, checksum: sha256Hex(bytes(5, 9)) }], 2).record;
      await store.putMeta("/logs/big", next);
      assert.deepEqual(await store.getMeta("/logs/big"), next);
      await assert.rejects(
        store.putMeta("/logs/big", big),
        (e: unknown) => codeOf(e) === "dfs_stale_version",
      );
      assert.deepEqual((await store.listMeta("/logs/")).map((m) => m.path), [
        "/logs/big",
        "/logs/small",
      ]);
      assert.equal((await store.listMeta("")).length, 3);
      assert.equal(await store.deleteMeta("/logs/small"), true);
      assert.equal(await store.getMeta("/logs/small"), null);
      assert.throws(
        () => store.putMeta("/x", big),
        (e: unknown) => codeOf(e) === "dfs_bad_request",
      );
    } finally {
      store.close();
    }
  });
});

Deno.test("node store: digest comparison finds exactly the differing blocks", async () => {
  await withDir(async (dir) => {
    const s1 = await NodeStore.open({ path: `${dir}/d1.kv` });
    const s2 = await NodeStore.open({ path: `${dir}/d2.kv` });
    try {
      const keyOf = (i: number) => ringIdToHex(hashToRingId(`blk${i}`));
      for (let i = 0; i < 60; i++) {
        const id = `${keyOf(i)}.f.${i}`;
        await s1.putBlock(id, 1, bytes(100, i));
        if (i === 7) await s2.putBlock(id, 1, bytes(100, 1000)); // different content
        else if (i === 13) await s2.putBlock(id, 2, bytes(100, i)); // different version
        else if (i !== 21) await s2.putBlock(id, 1, bytes(100, i)); // 21 missing on s2
      }
      await s2.putBlock(`${keyOf(99)}.f.99`, 1, bytes(10, 1)); // only on s2
      const want = [7, 13, 21, 99].map((i) => `${keyOf(i)}.${"f"}.${i}`).sort();
      const whole = "0000000000000000";
      const d1 = s1.digest(whole, whole, { buckets: 16 });
      const d2 = s2.digest(whole, whole, { buckets: 16 });
      const first = diffDigests(d1, d2);
      assert.ok(first.buckets.length >= 1 && first.buckets.length <= 4);
      assert.deepEqual(first.needDetail, first.buckets);
      assert.deepEqual(first.blocks, []);
      const e1 = s1.digest(whole, whole, { buckets: 16, detail: first.buckets });
      const e2 = s2.digest(whole, whole, { buckets: 16, detail: first.buckets });
      const second = diffDigests(e1, e2);
      assert.deepEqual(second.blocks, want);
      assert.deepEqual(second.needDetail, []);
      // A sub-range digest covers only the keys inside it.
      const k7 = hashToRingId(`blk7`);
      const sub = [ringIdToHex(k7 - 1n), ringIdToHex(k7)] as const;
      const r1 = s1.digest(sub[0], sub[1], { buckets: 1, detail: "all" });
      const r2 = s2.digest(sub[0], sub[1], { buckets: 1, detail: "all" });
      assert.equal(r1.buckets[0].count, 1);
      assert.deepEqual(diffDigests(r1, r2).blocks, [want[want.indexOf(`${keyOf(7)}.f.7`)]]);
    } finally {
      s1.close();
      s2.close();
    }
  });
});

Deno.test("node store: corrupt blocks are reported; data survives reopening", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/r.kv`;
    const corrupt: string[] = [];
    let store = await NodeStore.open({ path, cacheBytes: 0, memoryTierBytes: 0 });
    const data = bytes(200_000, 5);
    await store.putBlock("keep", 3, data);
    await store.putBlock("bad", 1, bytes(1000, 6));
    store.close();
    const kv = await Deno.openKv(path);
    await kv.set(["b", "bad", 1, 0], new Uint8Array(1000));
    kv.close();
    store = await NodeStore.open({ path, onCorrupt: (e) => corrupt.push(e.blockId) });
    try {
      assert.deepEqual(await store.getBlock("keep", 3), data);
      assert.equal(store.stats().usedBytes, 201_000);
      await assert.rejects(store.getBlock("bad", 1), DfsChecksumError);
      assert.deepEqual(corrupt, ["bad"]);
      assert.deepEqual(store.corruptBlocks(), new Map([["bad", 1]]));
      await store.putBlock("bad", 1, bytes(1000, 6)); // repair from a good replica
      assert.deepEqual(await store.getBlock("bad", 1), bytes(1000, 6));
      assert.equal(store.corruptBlocks().size, 0);
    } finally {
      store.close();
    }
  });
});

Deno.test("node store: a deleted block is not stored again (a late repair copy is refused)", async () => {
  await withDir(async (dir) => {
    const store = await NodeStore.open({ path: `${dir}/n.kv` });
    try {
      const a = bytes(1000, 3);
      await store.putBlock("gone", 1, a);
      assert.equal(await store.deleteBlock("gone"), true);
      assert.ok(store.wasDeleted("gone"));
      await assert.rejects(store.putBlock("gone", 1, a), (e) => codeOf(e) === "dfs_block_deleted");
      assert.equal(store.hasBlock("gone"), false);
      assert.equal(store.stats().blocks, 0);
      // Other ids are unaffected.
      await store.putBlock("kept", 1, a);
      assert.deepEqual(await store.getBlock("kept", 1), a);
    } finally {
      store.close();
    }
  });
});

Deno.test("node store: a handed-over block is kept as given, a view is copied, a bad SHA-256 refused", async () => {
  await withDir(async (dir) => {
    const store = await NodeStore.open({ path: `${dir}/n.kv`, memoryTierBytes: 1_000_000 });
    try {
      const a = bytes(70_000, 4);
      const sha = sha256Hex(a);
      const info = await store.putBlock("a", 1, a, undefined, { sha256: sha });
      assert.equal(info.sha256, sha); // trusted, recorded in the header
      // The hot copy is the handed-over array itself (the caller gave it away).
      a[0] ^= 0xff;
      assert.equal((await store.getBlock("a", 1))[0], a[0]);

      // A view into a larger buffer is copied (kept, it would pin the rest): the caller's
      // later writes to that buffer do not reach the store.
      const big = bytes(200_000, 5);
      const view = big.subarray(1000, 71_000);
      const want = view.slice();
      await store.putBlock("b", 1, view, undefined, { sha256: sha256Hex(view) });
      big.fill(0);
      assert.deepEqual(await store.getBlock("b", 1), want);

      // Without a hand-over the store copies and hashes itself.
      const c = bytes(5_000, 6);
      const keep = c.slice();
      assert.equal((await store.putBlock("c", 1, c)).sha256, sha256Hex(keep));
      c.fill(1);
      assert.deepEqual(await store.getBlock("c", 1), keep);

      await assert.rejects(
        store.putBlock("d", 1, bytes(10, 7), undefined, { sha256: "not-a-sha" }),
        (e: unknown) => codeOf(e) === "dfs_bad_request",
      );
      assert.equal(store.stats().blocks, 3); // the refused one wrote nothing
    } finally {
      store.close();
    }
  });
});
