import assert from "node:assert/strict";
import { NodeStore } from "../../lib/dfs/store/node_store.ts";
import { LruCache } from "../../lib/dfs/store/lru_cache.ts";
import { MemoryTier } from "../../lib/dfs/store/memory_tier.ts";
import { sha256Hex } from "../../lib/dfs/store/checksum.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";

function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 131 + seed * 7) & 0xff;
  return out;
}

async function withStore(
  opts: { cacheBytes: number; memoryTierBytes: number },
  fn: (store: NodeStore, metrics: MetricsRegistry) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dfs_verified_" });
  const metrics = new MetricsRegistry();
  const store = await NodeStore.open({ path: `${dir}/s.kv`, metrics, ...opts });
  try {
    await fn(store, metrics);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function reads(metrics: MetricsRegistry, source: string): number {
  const m = new RegExp(`elasticore_dfs_block_reads_total\\{source="${source}"\\} (\\d+)`)
    .exec(metrics.render());
  return m ? Number(m[1]) : 0;
}

Deno.test("lru cache: entries carry the SHA-256 they were verified against", () => {
  const c = new LruCache({ maxBytes: 100 });
  c.set("a", 1, new Uint8Array(10), "aa");
  c.set("b", 1, new Uint8Array(10));
  assert.equal(c.lookup("a", 1)?.sha256, "aa");
  assert.equal(c.lookup("b", 1)?.sha256, undefined);
  assert.equal(c.stats().hits, 2, "a lookup counts as a hit");
  c.markVerified("b", 2, "bb"); // another version: no effect
  assert.equal(c.verifiedSha256("b", 1), undefined);
  c.markVerified("b", 1, "bb");
  assert.equal(c.verifiedSha256("b", 1), "bb");
  assert.equal(c.verifiedSha256("b", 2), undefined);
  c.set("a", 2, new Uint8Array(10)); // a new version drops the old one and its mark
  assert.equal(c.lookup("a", 2)?.sha256, undefined);
  assert.equal(c.lookup("a", 1), undefined);
  const t = new MemoryTier({ maxBytes: 100 });
  t.keep("h", 1, new Uint8Array(5), "hh");
  assert.equal(t.lookup("h", 1)?.sha256, "hh");
  t.keep("g", 1, new Uint8Array(5));
  t.markVerified("g", 1, "gg");
  assert.equal(t.lookup("g", 1)?.sha256, "gg");
});

Deno.test("node store: verified reads from disk, cache and memory tier", async () => {
  await withStore({ cacheBytes: 1 << 20, memoryTierBytes: 200_000 }, async (store, metrics) => {
    const a = bytes(150_000, 1);
    const b = bytes(150_000, 2);
    await store.putBlock("a", 1, a);
    await store.putBlock("b", 1, b); // the memory tier keeps only b
    const shaA = sha256Hex(a);
    const shaB = sha256Hex(b);

    // Disk: the wrong checksum is refused and nothing enters the cache.
    assert.equal(await store.getVerifiedBlock("a", 1, shaB), null);
    assert.equal(store.stats().cache.entries, 0);
    assert.deepEqual(await store.getVerifiedBlock("a", 1, shaA), a);
    assert.equal(reads(metrics, "disk"), 1);
    assert.equal(store.stats().cache.entries, 1);
    // Cache hit: served, and still refused under another checksum.
    const got = await store.getVerifiedBlock("a", 1, shaA);
    assert.deepEqual(got, a);
    assert.equal(await store.getVerifiedBlock("a", 1, shaB), null);
    assert.equal(reads(metrics, "cache"), 1);
    got![0] ^= 0xff; // the caller owns what it gets
    assert.deepEqual(await store.getVerifiedBlock("a", 1, shaA), a);

    // Memory tier hit.
    assert.deepEqual(await store.getVerifiedBlock("b", 1, shaB), b);
    assert.equal(await store.getVerifiedBlock("b", 1, shaA), null);
    assert.equal(reads(metrics, "memory"), 1);

    // Plain reads (no expectation) fill the cache unmarked; a verified read hashes it once.
    const c = bytes(70_000, 3);
    await store.putBlock("c", 1, c);
    await store.putBlock("d", 1, bytes(150_000, 4)); // pushes c out of the memory tier
    assert.deepEqual(await store.getBlock("c", 1), c);
    assert.equal(await store.getVerifiedBlock("c", 1, shaA), null);
    assert.deepEqual(await store.getVerifiedBlock("c", 1, sha256Hex(c)), c);
    assert.equal(await store.getVerifiedBlock("c", 1, shaA), null);
    await assert.rejects(store.getVerifiedBlock("c", 2, sha256Hex(c)), /not/);
  });
});

Deno.test("node store: the memory tier's copy is the content written to disk", async () => {
  await withStore({ cacheBytes: 0, memoryTierBytes: 1 << 20 }, async (store, metrics) => {
    const a = bytes(100_000, 5);
    const put = store.putBlock("a", 1, a);
    // A caller reusing its buffer while the write is in flight: whichever content was taken,
    // the hot copy, the disk copy and the recorded SHA-256 agree.
    setTimeout(() => a.fill(0), 0);
    const info = await put;
    const hot = await store.getVerifiedBlock("a", 1, info.sha256);
    assert.equal(reads(metrics, "memory"), 1);
    assert.ok(hot);
    assert.equal(sha256Hex(hot), info.sha256);
    await store.putBlock("z", 1, bytes(1 << 20, 6)); // evicts a from the memory tier
    assert.deepEqual(await store.getVerifiedBlock("a", 1, info.sha256), hot);
    assert.equal(reads(metrics, "disk"), 1);
  });
});
