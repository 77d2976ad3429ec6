/**
 * A file of many small appended pieces (a log) reads back whole and in
 * order while the reader keeps many blocks in flight, and ranged reads
 * across piece boundaries still start and end in the right places.
 */
import assert from "node:assert/strict";
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";

async function text(s: ReadableStream<Uint8Array>): Promise<string> {
  return new TextDecoder().decode(await new Response(s).arrayBuffer());
}

Deno.test("dfs: a 300-piece appended file reads whole and in order through every node", async () => {
  const c = await DfsTestCluster.start({ blockBytes: 64 * 1024 });
  try {
    await c.settled();
    const ids = [...c.nodes.keys()];
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) {
      const line = `line-${i.toString().padStart(4, "0")}\n`;
      lines.push(line);
      // Sequential appends: one piece (one block) each.
      await c.node(ids[i % ids.length]).append("/log/many.txt", new TextEncoder().encode(line));
    }
    const want = lines.join("");
    for (const id of ids) {
      const t0 = performance.now();
      const got = await text((await c.node(id).get("/log/many.txt")).body);
      assert.equal(got, want, `read through ${id}`);
      console.log(`${id}: 300 pieces in ${(performance.now() - t0).toFixed(0)} ms`);
    }
    const r = await c.node(ids[0]).get("/log/many.txt", { offset: 5, length: 1000 });
    assert.equal(await text(r.body), want.slice(5, 1005));
  } finally {
    await c.close();
  }
});
