import assert from "node:assert/strict";
import { CHUNK_BYTES, KvBlockStore } from "../../lib/dfs/store/kv_blocks.ts";
import { DfsChecksumError } from "../../lib/dfs/store/errors.ts";
import { sha256Hex } from "../../lib/dfs/store/checksum.ts";
import { ElasticoreError } from "../../lib/errors.ts";

const KIB = 1024;

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function withKv(fn: (kv: Deno.Kv, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dfs_kv_" });
  const path = `${dir}/store.kv`;
  const kv = await Deno.openKv(path);
  try {
    await fn(kv, path);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function countKeys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix })) n++;
  return n;
}

Deno.test("kv blocks: chunking round-trips blocks of boundary sizes", async () => {
  await withKv(async (kv) => {
    const store = new KvBlockStore(kv);
    const sizes = [0, 1, 64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 5 * 1024 * KIB];
    for (const [i, size] of sizes.entries()) {
      const data = pattern(size, i + 1);
      const info = await store.put(`blk-${size}`, 1, data);
      assert.equal(info.size, size);
      assert.equal(info.sha256, sha256Hex(data));
      assert.equal(await countKeys(kv, ["b", `blk-${size}`]), Math.ceil(size / CHUNK_BYTES));
      const got = await store.read(`blk-${size}`, 1);
      assert.ok(got);
      assert.deepEqual(got.bytes, data, `size ${size}`);
      assert.equal(got.info.version, 1);
    }
    assert.equal(await countKeys(kv, ["bi"]), 0, "no write intents left");
    const ids = [];
    for await (const info of store.list()) ids.push(info.id);
    assert.equal(ids.length, sizes.length);
  });
});

Deno.test("kv blocks: byte ranges read only what is asked, across chunk boundaries", async () => {
  await withKv(async (kv) => {
    const store = new KvBlockStore(kv);
    const data = pattern(3 * CHUNK_BYTES + 100, 7);
    await store.put("r", 4, data);
    const cases: Array<[number, number | undefined]> = [
      [0, 10],
      [CHUNK_BYTES - 5, 10],
      [CHUNK_BYTES, CHUNK_BYTES],
      [100, 2 * CHUNK_BYTES + 50],
      [3 * CHUNK_BYTES + 90, 1000],
      [data.length, 5],
      [12345, undefined],
      [5, 0],
    ];
    for (const [offset, length] of cases) {
      const got = await store.read("r", 4, { offset, length });
      const end = length === undefined ? data.length : Math.min(data.length, offset + length);
      assert.deepEqual(got?.bytes, data.slice(offset, end), `range ${offset}+${length}`);
    }
    await assert.rejects(
      store.read("r", 4, { offset: data.length + 1, length: 1 }),
      (e: unknown) => e instanceof ElasticoreError && e.code === "dfs_bad_request",
    );
    // A range read of a chunk that is not corrupt succeeds even if another chunk is corrupt.
    const bad = new Uint8Array(CHUNK_BYTES);
    await kv.set(["b", "r", 4, 2], bad);
    const ok = await store.read("r", 4, { offset: 0, length: CHUNK_BYTES });
    assert.deepEqual(ok?.bytes, data.slice(0, CHUNK_BYTES));
    await assert.rejects(
      store.read("r", 4, { offset: 2 * CHUNK_BYTES, length: 1 }),
      DfsChecksumError,
    );
  });
});

Deno.test("kv blocks: a corrupted chunk is detected on read and reported", async () => {
  await withKv(async (kv) => {
    const reported: DfsChecksumError[] = [];
    const store = new KvBlockStore(kv, { onCorrupt: (e) => reported.push(e) });
    const data = pattern(2 * CHUNK_BYTES + 7, 3);
    await store.put("c", 2, data);
    const entry = await kv.get<Uint8Array>(["b", "c", 2, 1]);
    assert.ok(entry.value instanceof Uint8Array);
    const flipped = entry.value.slice();
    flipped[100] ^= 0x01;
    await kv.set(["b", "c", 2, 1], flipped);
    const err = await store.read("c", 2).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof DfsChecksumError);
    assert.equal(err.code, "dfs_checksum");
    assert.equal(err.blockId, "c");
    assert.equal(err.chunk, 1);
    assert.equal(reported.length, 1);
    assert.deepEqual(store.corruptBlocks(), new Map([["c", 2]]));
    // A shortened chunk and a missing chunk are corrupt too.
    await kv.set(["b", "c", 2, 1], entry.value.slice(0, 10));
    await assert.rejects(store.read("c", 2), DfsChecksumError);
    await kv.delete(["b", "c", 2, 1]);
    await assert.rejects(store.read("c", 2), DfsChecksumError);
    // Repair: writing a good copy of the same version clears the report.
    await store.put("c", 2, data);
    assert.deepEqual((await store.read("c", 2))?.bytes, data);
    assert.equal(store.corruptBlocks().size, 0);
  });
});

Deno.test("kv blocks: a corrupted header is detected", async () => {
  await withKv(async (kv) => {
    const store = new KvBlockStore(kv);
    await store.put("h", 1, pattern(1000, 1));
    await kv.set(["bh", "h"], { version: 1, size: "x" });
    await assert.rejects(store.read("h", 1), DfsChecksumError);
    // A write over a corrupt header replaces it and collects the old chunks.
    await store.put("h", 2, pattern(10, 2));
    assert.deepEqual((await store.read("h", 2))?.bytes, pattern(10, 2));
    assert.equal(await countKeys(kv, ["b", "h"]), 1);
  });
});

Deno.test("kv blocks: a crash mid-write never exposes a partial block", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dfs_kv_" });
  const path = `${dir}/store.kv`;
  try {
    const kv = await Deno.openKv(path);
    const v1 = pattern(2 * CHUNK_BYTES, 11);
    try {
      const store = new KvBlockStore(kv);
      await store.put("x", 1, v1);
      // Simulate a crash while writing v2 of "x" and v1 of "y": chunk batches and intents
      // committed, headers never written.
      const partial = pattern(CHUNK_BYTES, 12);
      for (const [id, version] of [["x", 2], ["y", 1]] as const) {
        await kv.atomic()
          .set(["b", id, version, 0], partial)
          .set(["b", id, version, 1], partial)
          .set(["bi", id, version], { chunks: 20, pages: 0 })
          .commit();
      }
      assert.deepEqual((await store.read("x"))?.bytes, v1, "readers still see v1");
      assert.equal(await store.read("x", 2), null);
      assert.equal(await store.read("y"), null);
      assert.equal(await store.head("y"), null);
    } finally {
      kv.close();
    }
    const kv2 = await Deno.openKv(path);
    try {
      const reopened = new KvBlockStore(kv2);
      assert.equal(await reopened.recover(), 2);
      assert.equal(await countKeys(kv2, ["b", "y"]), 0, "orphan chunks of y collected");
      assert.equal(await countKeys(kv2, ["b", "x", 2]), 0, "orphan chunks of x v2 collected");
      assert.equal(await countKeys(kv2, ["bi"]), 0);
      assert.deepEqual((await reopened.read("x", 1))?.bytes, v1);
    } finally {
      kv2.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kv blocks: versions: newer replaces and collects older, stale and conflicting refused", async () => {
  await withKv(async (kv) => {
    const store = new KvBlockStore(kv);
    const v1 = pattern(CHUNK_BYTES * 3, 1);
    const v2 = pattern(CHUNK_BYTES + 1, 2);
    await store.put("v", 1, v1);
    await store.put("v", 2, v2);
    assert.equal(await store.read("v", 1), null, "v1 is gone");
    assert.deepEqual((await store.read("v", 2))?.bytes, v2);
    assert.equal(await countKeys(kv, ["b", "v", 1]), 0, "old chunks collected");
    assert.equal(await countKeys(kv, ["bi"]), 0);
    const code = (e: unknown) => e instanceof ElasticoreError ? e.code : String(e);
    assert.equal(await store.put("v", 1, v1).then(() => "ok", code), "dfs_stale_version");
    assert.equal(await store.put("v", 2, v1).then(() => "ok", code), "dfs_version_conflict");
    assert.equal((await store.put("v", 2, v2)).version, 2, "same content rewrite is allowed");
    assert.equal(await store.delete("v"), true);
    assert.equal(await store.read("v"), null);
    assert.equal(await countKeys(kv, ["b", "v"]), 0);
    assert.equal(await store.delete("v"), false);
  });
});

Deno.test("kv blocks: large blocks use CRC pages and multi-atomic writes", async () => {
  await withKv(async (kv) => {
    const store = new KvBlockStore(kv, { inlineCrcChunks: 4, crcPageChunks: 8 });
    const data = pattern(20 * CHUNK_BYTES + 3, 9);
    await store.put("big", 1, data);
    assert.equal(await countKeys(kv, ["bc", "big", 1]), 3);
    assert.deepEqual((await store.read("big", 1))?.bytes, data);
    const off = 17 * CHUNK_BYTES + 5;
    assert.deepEqual(
      (await store.read("big", 1, { offset: off, length: 9 }))?.bytes,
      data.slice(off, off + 9),
    );
    await kv.delete(["bc", "big", 1, 2]);
    await assert.rejects(store.read("big", 1), DfsChecksumError);
    await store.put("big", 2, pattern(5, 1));
    assert.equal(await countKeys(kv, ["bc", "big"]), 0);
    assert.equal(await countKeys(kv, ["b", "big", 1]), 0);
  });
});

Deno.test("kv blocks: data survives closing and reopening", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dfs_kv_" });
  const path = `${dir}/store.kv`;
  const blocks = new Map<string, Uint8Array>();
  try {
    const kv = await Deno.openKv(path);
    const store = new KvBlockStore(kv);
    for (let i = 0; i < 5; i++) {
      const data = pattern(i * 50000 + 1, i);
      blocks.set(`id${i}`, data);
      await store.put(`id${i}`, i + 1, data);
    }
    kv.close();
    const kv2 = await Deno.openKv(path);
    try {
      const again = new KvBlockStore(kv2);
      for (const [i, [id, data]] of [...blocks].entries()) {
        assert.deepEqual((await again.read(id, i + 1))?.bytes, data);
      }
    } finally {
      kv2.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kv blocks: SHA-256 verification catches a header whose checksum was altered", async () => {
  await withKv(async (kv) => {
    const strict = new KvBlockStore(kv, { verifySha256: true });
    const data = pattern(3000, 4);
    await strict.put("s", 5, data);
    const h = await kv.get<Record<string, unknown>>(["bh", "s"]);
    assert.ok(h.value);
    await kv.set(["bh", "s"], { ...h.value, sha256: "0".repeat(64) });
    await assert.rejects(strict.read("s", 5), DfsChecksumError);
    const lax = new KvBlockStore(kv);
    assert.deepEqual((await lax.read("s", 5))?.bytes, data, "CRCs alone still pass");
    // The copy is known corrupt, so a good replica may be written over it at the same version.
    await strict.put("s", 5, data);
    assert.deepEqual((await strict.read("s", 5))?.bytes, data);
  });
});
