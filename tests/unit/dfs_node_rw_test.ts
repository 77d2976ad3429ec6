import assert from "node:assert/strict";
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { blockNoOf } from "../../lib/dfs/file_meta.ts";
import { blockKey, metadataKey } from "../../lib/dfs/ring/id.ts";

function content(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed || 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function bytesOf(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

async function rejects(p: Promise<unknown>, code: string, status?: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ElasticoreError, `expected ElasticoreError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (status !== undefined) assert.equal(e.status, status);
    return true;
  });
}

Deno.test("dfs node: put, get, range, stat, ls, overwrite, rm across 4 nodes (RF 3)", async () => {
  const c = await DfsTestCluster.start({ blockBytes: 64 * 1024 });
  try {
    await c.settled();
    const n1 = c.node("n1");
    const data = content(300 * 1024 + 17, 7);
    const stat = await n1.put("/data/a.bin", data);
    assert.equal(stat.size, data.length);
    assert.equal(stat.blocks, 5);
    assert.equal(stat.version, 1);

    // Read back through every node, whole and by ranges crossing block boundaries.
    for (const id of ["n1", "n2", "n3", "n4"]) {
      const r = await c.node(id).get("data/a.bin");
      assert.deepEqual(await bytesOf(r.body), data, `read through ${id}`);
    }
    const r = await c.node("n3").get("/data/a.bin", { offset: 65_000, length: 70_000 });
    assert.equal(r.length, 70_000);
    assert.deepEqual(await bytesOf(r.body), data.subarray(65_000, 135_000));
    const tail = await c.node("n2").get("/data/a.bin", { offset: data.length - 10 });
    assert.deepEqual(await bytesOf(tail.body), data.subarray(data.length - 10));
    await rejects(c.node("n2").get("/data/a.bin", { offset: data.length }), "fs_bad_range", 416);

    // Every block and the record are on exactly RF = 3 nodes, the key's successors.
    const rec = (await n1.readMeta("/data/a.bin"))!;
    for (const b of rec.blocks) {
      const holders = [...c.nodes.keys()].filter((id) => c.node(id).store.hasBlock(b.id));
      const expect = await n1.locate(blockKey("/data/a.bin", blockNoOf(b.id)));
      assert.deepEqual(holders.sort(), expect.slice(0, 3).sort(), `holders of ${b.id}`);
    }
    const metaHolders = [];
    for (const id of c.nodes.keys()) {
      if (await c.node(id).localMeta("/data/a.bin")) metaHolders.push(id);
    }
    const expectMeta = await n1.locate(metadataKey("/data/a.bin"));
    assert.deepEqual(metaHolders.sort(), expectMeta.slice(0, 3).sort());

    // Create refuses to overwrite; overwrite bumps the version and replaces the content.
    await rejects(c.node("n2").put("/data/a.bin", content(10, 1)), "fs_exists", 409);
    const v2 = await c.node("n4").put("/data/a.bin", content(1000, 2), { overwrite: true });
    assert.equal(v2.version, 2);
    assert.deepEqual(await bytesOf((await n1.get("/data/a.bin")).body), content(1000, 2));
    // The old blocks are deleted (in the background).
    const old = new Set(rec.blocks.map((b) => b.id));
    for (let i = 0; i < 100; i++) {
      const left = [...c.nodes.values()].some((n) => n.node.localBlocks().some((b) => old.has(b)));
      if (!left) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    for (const n of c.nodes.values()) {
      assert.ok(!n.node.localBlocks().some((b) => old.has(b)), "old blocks deleted");
    }

    // Empty files, ls by prefix, stat.
    await c.node("n3").put("/data/empty", new Uint8Array(0));
    assert.equal((await bytesOf((await n1.get("/data/empty")).body)).length, 0);
    await n1.put("/other/x", content(5, 3));
    const ls = await c.node("n2").list("/data/");
    assert.deepEqual(ls.map((f) => f.path), ["/data/a.bin", "/data/empty"]);
    assert.equal((await c.node("n4").stat("/other/x")).size, 5);

    // rm: tombstone, then gone everywhere; a new file at the path gets a higher version.
    const del = await c.node("n2").remove("/data/a.bin");
    assert.equal(del.version, 3);
    await rejects(n1.stat("/data/a.bin"), "fs_not_found", 404);
    await rejects(n1.get("/data/a.bin"), "fs_not_found", 404);
    await rejects(n1.remove("/data/a.bin"), "fs_not_found", 404);
    assert.deepEqual((await n1.list("/data/")).map((f) => f.path), ["/data/empty"]);
    const again = await n1.put("/data/a.bin", content(3, 4));
    assert.equal(again.version, 4);
  } finally {
    await c.close();
  }
});

Deno.test("dfs node: bad paths and quota are refused with nothing written", async () => {
  const c = await DfsTestCluster.start({ blockBytes: 64 * 1024, quotaBytes: 256 * 1024 });
  try {
    await c.settled();
    const n1 = c.node("n1");
    for (const bad of ["", "/", "/a/../b", "/a//b", "/a/\u0001", "/" + "x".repeat(300)]) {
      await rejects(n1.put(bad, content(1, 1)), "fs_invalid_path", 400);
    }
    await rejects(n1.stat("/a/./b"), "fs_invalid_path", 400);
    // 400 KiB at RF 3 on 4 nodes: at least one node would exceed its 256 KiB quota.
    await rejects(n1.put("/big", content(400 * 1024, 5)), "dfs_quota_exceeded", 413);
    await rejects(n1.stat("/big"), "fs_not_found");
    for (let i = 0; i < 100; i++) {
      if ([...c.nodes.values()].every((n) => n.node.localBlocks().length === 0)) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    for (const n of c.nodes.values()) {
      assert.deepEqual(n.node.localBlocks(), [], `no block left on ${n.node.self}`);
    }
    // A file that fits still works.
    await n1.put("/small", content(1000, 6));
    assert.equal((await c.node("n3").stat("/small")).size, 1000);
  } finally {
    await c.close();
  }
});
