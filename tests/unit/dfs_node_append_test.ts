import assert from "node:assert/strict";
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";

const enc = new TextEncoder();

async function text(s: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(s).text();
}

Deno.test("dfs node: concurrent appends through every node are ordered once by the primary", async () => {
  const c = await DfsTestCluster.start({ blockBytes: 4096 });
  try {
    await c.settled();
    const ids = [...c.nodes.keys()];
    const perWriter = 60;
    await Promise.all(ids.map(async (id, w) => {
      for (let i = 0; i < perWriter; i++) {
        await c.node(id).append("/log/events", enc.encode(`w${w}-r${i}\n`));
      }
    }));
    const body = await text((await c.node("n2").get("/log/events")).body);
    const lines = body.split("\n").filter(Boolean);
    assert.equal(lines.length, ids.length * perWriter);
    assert.equal(new Set(lines).size, lines.length, "every record exactly once");
    for (let w = 0; w < ids.length; w++) {
      const mine = lines.filter((l) => l.startsWith(`w${w}-`)).map((l) => Number(l.split("-r")[1]));
      assert.deepEqual(mine, Array.from({ length: perWriter }, (_, i) => i), `writer ${w} order`);
    }
    // Every metadata replica lists the same pieces in the same order.
    const holders = [];
    for (const id of ids) {
      const rec = await c.node(id).localMeta("/log/events");
      if (rec) holders.push(rec);
    }
    assert.equal(holders.length, 3);
    for (const r of holders.slice(1)) {
      assert.deepEqual(r.blocks, holders[0].blocks);
      assert.equal(r.appendSeq, holders[0].appendSeq);
    }
    const stat = await c.node("n1").stat("/log/events");
    assert.ok(stat.pieces > 0);

    // Merge compacts the pieces into full blocks (version bump), content unchanged.
    const merged = await c.node("n3").merge("/log/events");
    assert.equal(merged.version, stat.version + 1);
    assert.equal(merged.pieces, 0);
    assert.equal(merged.blocks, Math.ceil(merged.size / 4096));
    assert.equal(await text((await c.node("n4").get("/log/events")).body), body);
    // Appends continue after the merge.
    await c.node("n4").append("/log/events", enc.encode("tail\n"));
    assert.equal(await text((await c.node("n1").get("/log/events")).body), body + "tail\n");
    const recs = [];
    for (const id of ids) {
      const rec = await c.node(id).localMeta("/log/events");
      if (rec) recs.push(rec);
    }
    for (const r of recs.slice(1)) assert.deepEqual(r, recs[0]);
  } finally {
    await c.close();
  }
});

Deno.test("dfs node: an append with an expected size applies only at that size", async () => {
  const c = await DfsTestCluster.start({ blockBytes: 4096 });
  try {
    await c.settled();
    const ids = [...c.nodes.keys()];
    const refused = (e: unknown) =>
      e instanceof Error && (e as { code?: string }).code === "dfs_size_precondition";
    // A missing file has 0 bytes.
    await assert.rejects(
      c.node(ids[0]).append("/cond/f", enc.encode("x"), { expectSize: 3 }),
      refused,
    );
    await c.node(ids[0]).append("/cond/f", enc.encode("ab\n"), { expectSize: 0 });
    // Through every node, remote primaries included: 3 bytes now, not 0.
    for (const id of ids) {
      await assert.rejects(
        c.node(id).append("/cond/f", enc.encode("dup\n"), { expectSize: 0 }),
        refused,
      );
    }
    await c.node(ids[1]).append("/cond/f", enc.encode("cd\n"), { expectSize: 3 });
    // Two writers expecting the same size: exactly one wins, whichever is ordered first.
    const r = await Promise.allSettled(
      ids.map((id) => c.node(id).append("/cond/f", enc.encode(`${id}\n`), { expectSize: 6 })),
    );
    assert.equal(r.filter((x) => x.status === "fulfilled").length, 1);
    const body = await text((await c.node(ids[2]).get("/cond/f")).body);
    assert.equal(body.split("\n").filter(Boolean).length, 3);
    assert.ok(body.startsWith("ab\ncd\n"));
    // An overwrite on a size condition: refused over another size, nothing changed.
    const size = (await c.node(ids[0]).stat("/cond/f")).size;
    for (const id of ids) {
      await assert.rejects(
        c.node(id).put("/cond/f", enc.encode("ab\n"), { overwrite: true, expectSize: 3 }),
        refused,
      );
    }
    assert.equal(await text((await c.node(ids[1]).get("/cond/f")).body), body);
    await c.node(ids[1]).put("/cond/f", enc.encode("ab\n"), { overwrite: true, expectSize: size });
    assert.equal(await text((await c.node(ids[0]).get("/cond/f")).body), "ab\n");
  } finally {
    await c.close();
  }
});
