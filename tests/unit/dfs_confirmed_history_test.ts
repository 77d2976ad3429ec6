/**
 * Issue #6, the hole left by the write fence: a primary cut off from the Raft majority still
 * stores (unacknowledged) appends on its side's replicas for up to one lease; and since DFS-9
 * a change needs a majority of the path's quorum owners (`RingLocator.quorumOwners`).
 *
 * Six in-process nodes, RF 3. The path's owners are s0 s1 s2 (then s3 s4 s5). The links
 * between {s0, s1, s3} and {s2, s4, s5} are cut (the transport's fault hook) and each side is
 * told the other is dead, as SWIM would; the Raft majority is on the {s2, s4, s5} side. The
 * minority primary s0 holds two owners and keeps its lease (check passes) but its
 * confirmations fail: its 6 appends are stored on s0 s1 s3 and refused. The majority side
 * holds one owner: it acknowledges nothing on this path (before DFS-9 it acknowledged on s2
 * s4 s5, a history the owners s0 s1 never saw). Then the links heal, anti-entropy runs, and
 * every reader must read the same bytes: the acknowledged ones exactly once, the refused ones
 * at most once.
 */
import assert from "node:assert/strict";
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";
import { codeOf } from "../../lib/dfs/node_errors.ts";
import { metadataKey } from "../../lib/dfs/ring/id.ts";
import { LocalFence, type WriteFence } from "../../lib/dfs/write_fence.ts";
import { ElasticoreError } from "../../lib/errors.ts";

/** A fence whose lease always holds and whose confirmations the test switches off. */
class CutFence implements WriteFence {
  ok = true;
  confirm(): Promise<void> {
    if (this.ok) return Promise.resolve();
    const cut = new ElasticoreError("dfs_no_quorum", "cut off", { status: 503 });
    return new LocalFence().confirm(AbortSignal.abort(cut));
  }
  check(): Promise<void> {
    return Promise.resolve(); // within the lease: the primary still stores
  }
  expire(): void {}
}

const enc = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!await fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

Deno.test("dfs node: after a partition heals, unconfirmed appends never displace acknowledged ones", async () => {
  const fences = new Map<string, CutFence>();
  const c = await DfsTestCluster.start({
    ids: ["n1", "n2", "n3", "n4", "n5", "n6"],
    blockBytes: 4096,
    fence: (id) => {
      const f = new CutFence();
      fences.set(id, f);
      return f;
    },
  });
  const path = "/heal/log";
  const key = metadataKey(path);
  const text = async (id: string) => await new Response((await c.node(id).get(path)).body).text();
  try {
    await c.settled();
    const s = await c.node("n1").locate(key, 3);
    assert.equal(s.length, 6);
    const minority = [s[0], s[1], s[3]];
    const majority = [s[2], s[4], s[5]];
    await c.node(s[0]).append(path, enc.encode("base\n"));

    // The cut.
    for (const a of minority) {
      for (const b of majority) {
        c.node(a).rpc.faults.set(b, { cut: true });
        c.node(b).rpc.faults.set(a, { cut: true });
        c.node(a).memberDead(b);
        c.node(b).memberDead(a);
      }
    }
    const placed = async (id: string, want: string[]) =>
      (await c.node(id).locate(key, 0)).slice(0, 3).join() === want.join();
    await waitFor("the minority placement", () => placed(s[0], minority));
    await waitFor("the majority placement", () => placed(s[2], majority));

    // The minority primary stores 6 appends but cannot confirm any.
    for (const id of minority) fences.get(id)!.ok = false;
    for (let i = 0; i < 6; i++) {
      const err = await c.node(s[0]).append(path, enc.encode(`min${i}\n`)).then(
        () => null,
        (e) => e,
      );
      assert.equal(codeOf(err), "dfs_no_quorum", `minority append ${i} is not acknowledged`);
    }
    for (const id of [s[0], s[1]]) {
      const rec = await c.node(id).localMeta(path);
      assert.equal(rec?.appendSeq, 7, `${id} stored the unacknowledged appends`);
    }
    // The Raft majority side holds one of the three owners: it acknowledges nothing here.
    for (let i = 0; i < 2; i++) {
      const err = await c.node(s[2]).append(path, enc.encode(`maj${i}\n`)).then(
        () => null,
        (e) => e,
      );
      assert.equal(codeOf(err), "dfs_unavailable", `majority-side append ${i}: ${err}`);
    }
    assert.equal((await c.node(s[2]).localMeta(path))?.appendSeq, 1);

    // The heal.
    for (const id of c.nodes.keys()) {
      c.node(id).rpc.faults.clear();
      fences.get(id)!.ok = true;
    }
    for (const a of minority) {
      for (const b of majority) {
        c.node(a).memberJoined(b, c.nodes.get(b)!.addr);
        c.node(b).memberJoined(a, c.nodes.get(a)!.addr);
      }
    }
    await c.settled(15_000);
    for (let round = 0; round < 2; round++) {
      for (const id of c.nodes.keys()) await c.node(id).repairNow();
    }

    // Every reader reads the same bytes: "base", then each refused append at most once.
    const seen = await text(s[0]);
    for (const id of c.nodes.keys()) assert.equal(await text(id), seen, `read through ${id}`);
    const lines = seen.split("\n").filter(Boolean);
    assert.equal(lines[0], "base");
    assert.equal(new Set(lines).size, lines.length, `no line twice: ${seen}`);
    assert.ok(lines.every((l) => l === "base" || /^min[0-5]$/.test(l)), seen);
    // The old majority-side primary builds on the owners' history.
    await c.node(s[2]).append(path, enc.encode("after\n"));
    assert.equal(await text(s[4]), seen + "after\n");
  } finally {
    await c.close();
  }
});
