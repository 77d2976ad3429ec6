/**
 * DFS-11 (the CI chaos test of 27f7481, seed 1): after the heal, reads of an append log through
 * two nodes returned 40 bytes, through the five others 100. A node reads a record from the first
 * RF successors it takes to be live, and passes over the ones it suspects after failed calls;
 * those two had passed over the path's owners and found a stale copy on a fall-back node. An
 * acknowledged change is on a majority of the path's quorum owners (DFS-9), so a read asks them
 * too, suspected or not.
 *
 * Six in-process nodes, RF 3; the path's ring order is s0 .. s5.
 */
import assert from "node:assert/strict";
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";
import { metadataKey } from "../../lib/dfs/ring/id.ts";

const enc = new TextEncoder();

Deno.test("dfs node: a read asks the path's owners even when it suspects them, so a stale copy elsewhere is not served", async () => {
  const c = await DfsTestCluster.start({ ids: ["n1", "n2", "n3", "n4", "n5", "n6"] });
  const path = "/owners/read.log";
  const text = async (id: string) => await new Response((await c.node(id).get(path)).body).text();
  try {
    await c.settled();
    const s = await c.node("n1").locate(metadataKey(path), 3);
    assert.equal(s.length, 6);
    await c.node(s[0]).append(path, enc.encode("first\n"));
    const stale = await c.node(s[0]).localMeta(path);
    assert.ok(stale);
    await c.node(s[0]).append(path, enc.encode("second\n"));
    // s3, a fall-back holder once, still has the record of the first append.
    await c.node(s[3]).storeMeta(stale);
    // s4 suspects the three owners (failed calls; nobody declared them dead).
    for (const o of s.slice(0, 3)) c.node(s[4]).suspect(o);
    assert.equal(await text(s[4]), "first\nsecond\n", `read through ${s[4]}`);
    const st = await c.node(s[4]).stat(path);
    assert.equal(st.size, "first\nsecond\n".length);
  } finally {
    await c.close();
  }
});
