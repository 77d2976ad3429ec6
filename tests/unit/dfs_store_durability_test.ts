import assert from "node:assert/strict";
import { NodeStore } from "../../lib/dfs/store/node_store.ts";
import { sha256Hex } from "../../lib/dfs/store/checksum.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { blockContent, blockIdOf } from "../integration/fixtures/dfs_store_writer.ts";

const FIXTURE = new URL("../integration/fixtures/dfs_store_writer.ts", import.meta.url).pathname;

/** Runs the writer until it acknowledged `target` blocks (plus a random delay), SIGKILLs it. */
async function writeAndKill(path: string, target: number, extraMs: number): Promise<number[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-P", FIXTURE, path],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const acked: number[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let killed = false;
  const kill = () => {
    if (!killed) {
      killed = true;
      child.kill("SIGKILL");
    }
  };
  const deadline = setTimeout(kill, 30_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) acked.push(Number(l));
      if (acked.length >= target && !killed) setTimeout(kill, extraMs);
    }
  } finally {
    clearTimeout(deadline);
    kill();
    const status = await child.status;
    const err = await new Response(child.stderr).text();
    assert.equal(status.signal, "SIGKILL", `writer exited on its own: ${err}`);
  }
  return acked;
}

Deno.test("node store durability: every acknowledged block survives SIGKILL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dfs_dur_" });
  const path = `${dir}/node.kv`;
  try {
    const seed = Date.now() % 100000;
    const prng = new Prng(seed);
    let all: number[] = [];
    for (let round = 0; round < 2; round++) {
      const acked = await writeAndKill(path, 4 + prng.int(12), prng.int(150));
      assert.ok(acked.length >= 4, `seed ${seed} round ${round}: ${acked.length} acknowledged`);
      all = acked; // each round restarts numbering at 0 and rewrites the same ids
      const store = await NodeStore.open({ path, cacheBytes: 0, memoryTierBytes: 0 });
      try {
        for (const n of all) {
          const got = await store.getBlock(blockIdOf(n), 1);
          const want = blockContent(n);
          assert.equal(got.length, want.length, `seed ${seed}: block ${n}`);
          assert.equal(sha256Hex(got), sha256Hex(want), `seed ${seed}: block ${n} content`);
        }
        // Whatever else was written before the kill is either complete or absent.
        for (const info of [...store.blocks()]) {
          const got = await store.getBlock(info.id, info.version);
          assert.equal(sha256Hex(got), info.sha256);
        }
      } finally {
        store.close();
      }
    }
    const kv = await Deno.openKv(path);
    try {
      let intents = 0;
      for await (const _ of kv.list({ prefix: ["bi"] })) intents++;
      assert.equal(intents, 0, "interrupted writes were cleaned up on open");
    } finally {
      kv.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
