import assert from "node:assert/strict";
import { LruCache } from "../../lib/dfs/store/lru_cache.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";

const b = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

Deno.test("lru cache: byte bound and least-recently-used eviction order", () => {
  const c = new LruCache({ maxBytes: 100 });
  c.set("a", 1, b(40));
  c.set("b", 1, b(40));
  assert.ok(c.get("a", 1), "a becomes most recent");
  c.set("c", 1, b(40)); // 120 > 100: evicts b, the least recent
  assert.equal(c.bytes, 80);
  assert.equal(c.has("b", 1), false);
  assert.equal(c.has("a", 1), true);
  assert.equal(c.has("c", 1), true);
  c.set("d", 1, b(70)); // evicts a then c
  assert.deepEqual([c.has("a", 1), c.has("c", 1), c.has("d", 1)], [false, false, true]);
  assert.ok(c.bytes <= 100);
  assert.equal(c.stats().evictions, 3);
  assert.equal(c.set("huge", 1, b(101)), false, "an entry larger than the bound is not cached");
  assert.equal(c.has("d", 1), true);
});

Deno.test("lru cache: version invalidation never serves an older version", () => {
  const c = new LruCache({ maxBytes: 1000 });
  c.set("x", 1, b(10, 1));
  assert.equal(c.get("x", 2), undefined, "a read for v2 misses on v1");
  assert.equal(c.has("x", 1), false, "the older version was dropped");
  c.set("x", 3, b(10, 3));
  assert.equal(c.set("x", 2, b(10, 2)), false, "an older version never replaces a newer one");
  assert.deepEqual(c.get("x", 3), b(10, 3));
  assert.equal(c.get("x", 2), undefined, "a read for an older version misses, keeps v3");
  assert.equal(c.has("x", 3), true);
  c.set("x", 4, b(20, 4));
  assert.equal(c.bytes, 20, "replacing a version adjusts the byte count");
  c.invalidate("x");
  assert.equal(c.size, 0);
  assert.equal(c.bytes, 0);
});

Deno.test("lru cache: hit, miss, eviction counters and metrics", () => {
  const r = new MetricsRegistry();
  const c = new LruCache({ maxBytes: 30, metrics: r, name: "read" });
  c.set("a", 1, b(10));
  c.get("a", 1);
  c.get("a", 1);
  c.get("zz", 1);
  c.set("b", 1, b(25));
  const s = c.stats();
  assert.deepEqual([s.hits, s.misses, s.evictions, s.entries, s.bytes], [2, 1, 1, 1, 25]);
  const text = r.render();
  assert.match(text, /elasticore_dfs_cache_hits_total\{cache="read"\} 2/);
  assert.match(text, /elasticore_dfs_cache_misses_total\{cache="read"\} 1/);
  assert.match(text, /elasticore_dfs_cache_evictions_total\{cache="read"\} 1/);
  assert.match(text, /elasticore_dfs_cache_bytes\{cache="read"\} 25/);
});

Deno.test("lru cache: resize evicts down to the new bound; operations stay O(1)", () => {
  const c = new LruCache({ maxBytes: 1 << 30 });
  const n = 100_000;
  const buf = b(8);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) c.set(`k${i}`, 1, buf);
  for (let i = 0; i < n; i++) c.get(`k${(i * 7919) % n}`, 1);
  c.resize(80); // evicts 99,990 entries from the least recent end
  const ms = performance.now() - t0;
  assert.ok(ms < 1500, `300k operations took ${ms} ms`);
  assert.equal(c.size, 10);
  assert.equal(c.bytes, 80);
});
