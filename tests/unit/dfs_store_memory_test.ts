import assert from "node:assert/strict";
import { MemoryTier } from "../../lib/dfs/store/memory_tier.ts";
import { ElasticoreError } from "../../lib/errors.ts";

Deno.test("memory tier: hot copies stay within the byte bound (LRU)", () => {
  const t = new MemoryTier({ maxBytes: 100 });
  for (let i = 0; i < 10; i++) t.keep(`b${i}`, 1, new Uint8Array(30));
  assert.ok(t.hotBytes <= 100);
  assert.equal(t.hotBytes, 90);
  assert.ok(t.has("b9", 1));
  assert.ok(!t.has("b0", 1));
  assert.equal(t.get("b9", 2), undefined, "never serves another version");
});

Deno.test("memory tier: writes in flight evict hot copies and wait when the buffer is full", async () => {
  const t = new MemoryTier({ maxBytes: 100, maxWaiting: 2 });
  t.keep("hot", 1, new Uint8Array(80));
  const a = await t.admit(60);
  assert.equal(t.hotBytes, 0, "hot copy evicted to make room for the write buffer");
  assert.ok(t.bufferedBytes + t.hotBytes <= 100);
  const order: string[] = [];
  const pb = t.admit(50).then((tk) => (order.push("b"), tk));
  const pc = t.admit(10).then((tk) => (order.push("c"), tk));
  await Promise.resolve();
  assert.equal(t.waiting, 2, "b waits, and c waits behind it (FIFO)");
  await assert.rejects(
    t.admit(1),
    (e: unknown) => e instanceof ElasticoreError && e.code === "dfs_overloaded",
  );
  a.release();
  a.release(); // idempotent
  const [b, c] = await Promise.all([pb, pc]);
  assert.deepEqual(order, ["b", "c"]);
  assert.equal(t.bufferedBytes, 60);
  b.release();
  c.release();
  assert.equal(t.bufferedBytes, 0);
  const big = await t.admit(500);
  assert.equal(big.bytes, 500, "a write larger than the bound runs alone");
  const after = t.admit(1);
  let admitted = false;
  after.then(() => (admitted = true));
  await Promise.resolve();
  assert.equal(admitted, false);
  big.release();
  (await after).release();
});
