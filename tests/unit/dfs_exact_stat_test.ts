/**
 * `stat(path, { allReplicas: true })`: the size an idempotent retry (the stream sink commit)
 * must check. An append whose outcome was unknown may sit on one metadata replica only; a
 * read that settles for the replicas that answered would miss it and make the retry append
 * the same bytes twice.
 */
import assert from "node:assert/strict";
import { appendMeta } from "../../lib/dfs/file_meta.ts";
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";
import { metadataKey } from "../../lib/dfs/ring/id.ts";
import { sha256Hex } from "../../lib/dfs/store/checksum.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { sortByRingId } from "../../lib/dfs/ring/invariants.ts";
import { ringIdOf } from "../../lib/dfs/ring/id.ts";

function owners(ids: string[], key: bigint, rf: number): string[] {
  const ring = sortByRingId(ids);
  const i = ring.findIndex((id) => ringIdOf(id) >= key);
  const start = i < 0 ? 0 : i;
  return Array.from({ length: rf }, (_, k) => ring[(start + k) % ring.length]);
}

Deno.test("dfs stat: every replica must answer for an exact size", async () => {
  const c = await DfsTestCluster.start({ ids: ["n1", "n2", "n3", "n4"] });
  try {
    await c.settled();
    const path = "/sink/out.ndjson";
    await c.node("n1").put(path, new TextEncoder().encode("a\n"));
    const reps = owners([...c.nodes.keys()], metadataKey(path), 3);
    const reader = [...c.nodes.keys()].find((n) => !reps.includes(n)) ?? reps[0];
    const holder = reps.find((n) => n !== reader)!;
    // What an append that timed out after reaching one replica leaves: a newer record there.
    const base = (await c.node(holder).localMeta(path))!;
    const tail = appendMeta(base, [{
      size: 2,
      checksum: sha256Hex(new TextEncoder().encode("b\n")),
    }], 5);
    assert.ok(await c.node(holder).storeMeta(tail.record));
    const r = c.node(reader);
    assert.equal((await r.stat(path, { allReplicas: true })).size, 4, "the unknown append counts");
    // The holder stops answering: an exact read refuses to guess.
    r.rpc.faults.set(holder, { cut: true });
    await assert.rejects(
      r.stat(path, { allReplicas: true }),
      (e) => e instanceof ElasticoreError && e.code === "dfs_unavailable",
    );
    r.rpc.faults.clear();
  } finally {
    await c.close();
  }
});
