/**
 * Issue #6, DFS-9 (chaos seed 3413): a node that could not reach a path's ring owners (it
 * suspected them after failed calls, SWIM had not declared them dead) put itself first,
 * acted as the metadata primary, reloaded the record from the nodes it could reach (none
 * of which held the acknowledged history), and acknowledged an append on three fall-back
 * nodes. A second history; the owners' one, confirmed further, later replaced it and the
 * append was lost.
 *
 * The primary now needs a majority of the path's quorum owners (its first RF successors among
 * every known member, dead ones included for a grace period) to answer its reload and to take
 * every change. A second replay showed why the set must not move with failures: with owners
 * taken among live members, an append acknowledged on two owners while a third was dead was
 * missed by a primary that heard from the third (back again) and one other.
 *
 * A read must ask the owners too (DFS-11): an acknowledged change is on a majority of them, not
 * necessarily on the nodes a reader takes for the first live successors.
 *
 * Six in-process nodes, RF 3; the path's ring order is s0 .. s5.
 */
import assert from "node:assert/strict";
import { type DfsTestCluster, withSixNodes } from "../../lib/dfs/node_testing.ts";
import { codeOf } from "../../lib/dfs/node_errors.ts";
import { metadataKey } from "../../lib/dfs/ring/id.ts";

const enc = new TextEncoder();

function cut(c: DfsTestCluster, a: string, b: string, on: boolean): void {
  if (on) {
    c.node(a).rpc.faults.set(b, { cut: true });
    c.node(b).rpc.faults.set(a, { cut: true });
  } else {
    c.node(a).rpc.faults.clear(b);
    c.node(b).rpc.faults.clear(a);
  }
}

Deno.test("dfs node: a node cut off from a path's owners cannot order a second history", async () => {
  const path = "/owners/log";
  await withSixNodes(path, async (c, s, text) => {
    await c.node(s[0]).append(path, enc.encode("first\n"));

    // s3 loses its links to the three owners; it suspects them, nobody declared them dead.
    const x = s[3];
    for (const o of s.slice(0, 3)) {
      cut(c, x, o, true);
      c.node(x).suspect(o);
    }
    const err = await c.node(x).append(path, enc.encode("second\n")).then(() => null, (e) => e);
    assert.ok(err, "the append through the cut-off node is not acknowledged");
    assert.equal(codeOf(err), "dfs_unavailable", String(err));
    assert.match(String(err), /owners/);

    for (const o of s.slice(0, 3)) cut(c, x, o, false);
    await c.node(x).append(path, enc.encode("third\n"));
    for (const id of c.nodes.keys()) {
      const got = await text(id);
      assert.ok(got.startsWith("first\n"), `read through ${id}: ${JSON.stringify(got)}`);
      assert.ok(got.endsWith("third\n"), `read through ${id}: ${JSON.stringify(got)}`);
    }
  });
});

Deno.test("dfs node: appends go on while one owner is unreachable", async () => {
  const path = "/owners/one-down";
  await withSixNodes(path, async (c, s, text) => {
    await c.node(s[0]).append(path, enc.encode("a\n"));
    cut(c, s[0], s[2], true);
    c.node(s[0]).suspect(s[2]);
    await c.node(s[0]).append(path, enc.encode("b\n"));
    const rec = await c.node(s[3]).localMeta(path);
    assert.equal(rec?.appendSeq, 2, "the fall-back replica took the append");
    cut(c, s[0], s[2], false);
    await c.node(s[0]).append(path, enc.encode("c\n"));
    assert.equal(await text(s[2]), "a\nb\nc\n");
  });
});

Deno.test("dfs node: a path's quorum owners stay put while an owner is dead", async () => {
  const path = "/owners/dead";
  const key = metadataKey(path);
  await withSixNodes(path, async (c, s) => {
    assert.deepEqual(c.node(s[0]).quorumOwners(key), s.slice(0, 3));
    await c.node(s[0]).append(path, enc.encode("a\n"));
    // s1 crashes: everyone declares it dead; the owners do not move, so s3 (now among the
    // live replicas) does not count towards a majority.
    cut(c, s[0], s[1], true);
    for (const id of c.nodes.keys()) if (id !== s[1]) c.node(id).memberDead(s[1]);
    assert.deepEqual(c.node(s[0]).quorumOwners(key), s.slice(0, 3));
    assert.equal((await c.node(s[0]).locate(key, 0))[2], s[3], "s3 replaces s1 as a replica");
    await c.node(s[0]).append(path, enc.encode("b\n")); // on s0 s2 s3: two owners
    // s2 is cut off from s0 too: one owner left, nothing is acknowledged.
    cut(c, s[0], s[2], true);
    c.node(s[0]).suspect(s[2]);
    const err = await c.node(s[0]).append(path, enc.encode("c\n")).then(() => null, (e) => e);
    assert.equal(codeOf(err), "dfs_unavailable", String(err));
  });
});

Deno.test("dfs node: a read asks the path's owners even when it suspects them, so a stale copy elsewhere is not served", async () => {
  // DFS-11 (the CI chaos schedule of 27f7481): reads through two nodes that suspected all
  // three owners after failed calls found an old copy on a fall-back holder.
  const path = "/owners/read.log";
  await withSixNodes(path, async (c, s, text) => {
    await c.node(s[0]).append(path, enc.encode("first\n"));
    const stale = await c.node(s[0]).localMeta(path);
    assert.ok(stale);
    await c.node(s[0]).append(path, enc.encode("second\n"));
    // s3, a fall-back holder once, still has the record of the first append.
    await c.node(s[3]).storeMeta(stale);
    // s4 suspects the three owners (failed calls; nobody declared them dead).
    for (const o of s.slice(0, 3)) c.node(s[4]).suspect(o);
    assert.equal(await text(s[4]), "first\nsecond\n", `read through ${s[4]}`);
    assert.equal((await c.node(s[4]).stat(path)).size, "first\nsecond\n".length);
  });
});
