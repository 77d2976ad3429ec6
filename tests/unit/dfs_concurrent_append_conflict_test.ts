/**
 * DFS-7 (fixed): under load, with no fault injected, one of 5,000 concurrent appends was
 * answered 503 "op N of /logs/events reached 1 of 3 replicas: a replica holds a conflicting
 * record".
 *
 * Mechanism built here. Which node acts as a path's metadata primary is decided by each node
 * from its own view: `DfsNode.#toPrimary` sends to the first of `locate()`, which places
 * suspected nodes last (`node_ring.ts` `#locateOnce`), and the node that receives
 * `dfs.append_bytes` serves it as primary without checking that it is the first replica in
 * its own view (`node_serve.ts`). A suspicion needs no fault: one call that outlived its
 * deadline (the 3 s `dfs.meta_get` of a reload, `node_meta_sync.ts:93`; a read, `node.ts:332`;
 * a block write, `node_blocks.ts:182`) suspects the loaded primary P for 5 s, and P keeps
 * serving everyone else. So:
 *
 * 1. P orders appends; its cache holds the record (seq n).
 * 2. Q (an owner that suspects P) takes an append, acts as primary, reloads (a majority of
 *    the quorum owners answers: Q and R), and writes op n+1 to its first three live
 *    candidates Q, R and a fall-back node: P is not among them. Q, R are a majority of the
 *    owners, so the op is confirmed, marked and acknowledged.
 * 3. P, still within `KNOWN_TTL_MS`, orders its next batch as op n+1 on its cached record.
 *    `toReplicas` runs `putOn(self)` on P's own store first: it holds seq n and takes it
 *    (reached 1). Q and R hold Q's op n+1 confirmed through itself (acknowledged), so their
 *    stores refuse P's record (`replacesAtSameOrder`): conflict, reached 1 of 3, and since a
 *    replica took it the batch is "maybe stored" and its appenders get the 503 instead of a
 *    re-plan on the reloaded record.
 *
 * The test injects no fault. The loaded primary is modelled by a slow handler: P answers Q's
 * `dfs.meta_get` after 3.2 s (same answer, later). One other node takes P for suspected (what
 * one late reply to it, or a ring successor list that dropped P after three stabilize
 * replies later than 5 ticks, `ring/node.ts:474-490`, leaves behind) and so forwards its
 * client's append to Q; Q suspects P by itself when P's reply misses the reload's 3 s
 * deadline. Expected: every append acknowledged (P's re-planned on the reloaded record).
 *
 * Fix (`toReplicas`, `node_meta_sync.ts`): a primary writes its own copy after the other
 * replicas answered, and not at all when one refused as conflicting, so P's stale op reaches
 * no replica and is re-planned.
 */
import assert from "node:assert/strict";
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";
import { metadataKey } from "../../lib/dfs/ring/id.ts";
import { codeOf } from "../../lib/dfs/node_errors.ts";
import type { FileMeta } from "../../lib/dfs/file_meta.ts";

const enc = new TextEncoder();

Deno.test("DFS-7: a primary's append is not refused as conflicting after a slow reply made another owner act as primary", async () => {
  const c = await DfsTestCluster.start({ blockBytes: 4096 });
  try {
    await c.settled();
    const path = "/logs/events";
    const ring = await c.node("n1").locate(metadataKey(path), 1);
    assert.equal(ring.length, 4);
    const [p, q, r, other] = ring;

    // 1. The primary P orders the first append (a client on the fourth node); P caches it.
    await c.node(other).append(path, enc.encode("a\n"));
    assert.equal((await c.node(p).localMeta(path))?.appendSeq, 1);

    // P, loaded, answers Q's record reads late (the same handler as node_serve.ts, delayed).
    c.node(p).rpc.handle("dfs.meta_get", async (body, hctx) => {
      if (hctx.peer === q) await new Promise((res) => setTimeout(res, 3200));
      return { record: await c.node(p).localMeta((body as { path: string }).path) };
    });

    // 2. The fourth node's view skips P: its client's append goes to Q, which acts as
    //    primary; P's reply misses the reload's deadline, so Q places P last and writes its
    //    op to Q, R and the fall-back node. Acknowledged: Q and R are a majority of owners.
    c.node(other).suspect(p);
    const viaQ = await c.node(other).append(path, enc.encode("b\n"));
    assert.equal(viaQ.size, 4, "the append through Q is acknowledged");
    const seq = async (id: string) => ((await c.node(id).localMeta(path)) as FileMeta).appendSeq;
    assert.deepEqual([await seq(p), await seq(q), await seq(r)], [1, 2, 2], "P missed Q's op");

    // 3. P's next append, from its own client: P's cached record (seq 1) is still fresh.
    let err: unknown = null;
    try {
      await c.node(p).append(path, enc.encode("c\n"));
    } catch (e) {
      err = e;
    }
    assert.equal(
      err,
      null,
      `P's append was refused: ${codeOf(err)}: ${err instanceof Error ? err.message : err}`,
    );
    const text = await new Response((await c.node(other).get(path)).body).text();
    assert.equal(text, "a\nb\nc\n", "every acknowledged append once");
  } finally {
    await c.close();
  }
});
