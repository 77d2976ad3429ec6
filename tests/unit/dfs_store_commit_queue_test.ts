import assert from "node:assert/strict";
import { CommitQueue, mutation } from "../../lib/dfs/store/kv_batch.ts";
import { CHUNK_BYTES, KvBlockStore } from "../../lib/dfs/store/kv_blocks.ts";

async function withKv(fn: (kv: Deno.Kv) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(kv);
  } finally {
    kv.close();
  }
}

const set = (name: string) => [mutation(["q", name], 1, 8)];

Deno.test("commit queue: a free slot goes to the oldest writer", async () => {
  await withKv(async (kv) => {
    const q = new CommitQueue(kv, 1);
    const order: string[] = [];
    const submit = (seq: number, name: string) =>
      q.submit(seq, set(name)).then(() => {
        order.push(name);
      });
    // "a" takes the only slot at once; the others wait and go lowest sequence first.
    await Promise.all([submit(5, "a"), submit(9, "b"), submit(7, "c"), submit(3, "d")]);
    assert.deepEqual(order, ["a", "d", "c", "b"]);
    // Commit order as Deno KV saw it (versionstamps increase with commits).
    const stamps = await Promise.all(["a", "d", "c", "b"].map(async (n) => {
      return (await kv.get(["q", n])).versionstamp!;
    }));
    assert.deepEqual([...stamps].sort(), stamps);
  });
});

Deno.test("commit queue: a failed commit rejects its submitter only", async () => {
  await withKv(async (kv) => {
    const q = new CommitQueue(kv, 2);
    const tooLarge = Array.from(
      { length: 13 },
      (_, i) => mutation(["big", i], new Uint8Array(CHUNK_BYTES), CHUNK_BYTES),
    );
    const results = await Promise.allSettled([
      q.submit(1, tooLarge),
      q.submit(2, set("x")),
      q.submit(3, set("y")),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "fulfilled", "fulfilled"]);
    assert.equal((await kv.get(["q", "y"])).value, 1);
  });
});

Deno.test("kv blocks: blocks written at once complete one by one, not interleaved", async () => {
  await withKv(async (kv) => {
    const store = new KvBlockStore(kv, { pipeline: 1 });
    const size = 40 * CHUNK_BYTES; // four atomics each
    const ids = ["p", "q", "r"];
    const done: string[] = [];
    // Chunks of each other block committed when the first block completed. Which block is
    // ordered first depends on when each write's header read returns (under load, not the
    // call order), so the check is on the order they actually completed in.
    const atFirst = new Map<string, number>();
    await Promise.all(
      ids.map((id, i) =>
        store.put(id, 1, new Uint8Array(size).fill(i + 1)).then(async () => {
          done.push(id);
          if (done.length !== 1) return;
          for (const other of ids.filter((o) => o !== id)) {
            let n = 0;
            for await (const _ of kv.list({ prefix: ["b", other] })) n++;
            atFirst.set(other, n);
          }
        })
      ),
    );
    assert.equal(done.length, 3);
    // Interleaved, the last block would have most of its chunks committed by then.
    assert.equal(atFirst.get(done[2]), 0, `chunks of ${done[2]} when ${done[0]} completed`);
    for (const [i, id] of ids.entries()) {
      assert.deepEqual((await store.read(id))?.bytes, new Uint8Array(size).fill(i + 1));
    }
  });
});

Deno.test("commit queue: a writer's last batch follows all its others", async () => {
  await withKv(async (kv) => {
    const q = new CommitQueue(kv, 3);
    await Promise.all([
      q.write(1, [set("a1"), set("a2"), set("a3"), set("alast")]),
      q.write(2, [set("b1"), set("blast")]),
      q.write(3, [set("conly")]),
    ]);
    const stamp = async (n: string) => (await kv.get(["q", n])).versionstamp!;
    for (const n of ["a1", "a2", "a3"]) assert.ok(await stamp(n) < await stamp("alast"));
    assert.ok(await stamp("b1") < await stamp("blast"));
    assert.ok(await stamp("conly"));
    const tooLarge = Array.from(
      { length: 13 },
      (_, i) => mutation(["big", i], new Uint8Array(CHUNK_BYTES), CHUNK_BYTES),
    );
    await assert.rejects(q.write(4, [set("d1"), tooLarge, set("dlast")]), /too large/);
    assert.equal((await kv.get(["q", "dlast"])).value, null, "no header after a failed batch");
    assert.equal((await kv.get(["q", "d1"])).value, 1);
  });
});
