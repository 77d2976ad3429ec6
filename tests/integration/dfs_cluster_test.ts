/**
 * The DFS as 6 real processes (`fixtures/dfs_node.ts`) at RF 3, driven over HTTPS:
 * concurrent appends through different nodes, a large file surviving `kill -9` of two of its
 * holders, and a joining node receiving its share. `ELASTICORE_LONG=1` uses a 200 MB file.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { blockNoOf, type FileMeta } from "../../lib/dfs/file_meta.ts";
import { blockKey, inOpenClosed, ringIdOf } from "../../lib/dfs/ring/id.ts";
import { sortByRingId } from "../../lib/dfs/ring/invariants.ts";
import { DfsProc, freePort, TEST_TOKEN, writeDfsIdentities } from "./fixtures/dfs_node.ts";

const LONG = Deno.env.get("ELASTICORE_LONG") === "1";
const FILE_BYTES = LONG ? 200_000_000 : 32 * 1024 * 1024;
const BLOCK_BYTES = 1024 * 1024;

function content(size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, Math.floor(size / 4));
  let x = 2463534242;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return out;
}

function sha(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function waitRing(procs: DfsProc[], timeoutMs = 20_000): Promise<void> {
  const ring = sortByRingId(procs.map((p) => p.id));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = true;
    for (const p of procs) {
      const r = await p.command("ring");
      const at = ring.indexOf(p.id);
      const pred = ring[(at - 1 + ring.length) % ring.length];
      const succ = ring[(at + 1) % ring.length];
      const succs = r.succs as string[];
      if (!r.member || r.pred !== pred || succs[0] !== succ || succs.length < ring.length - 1) {
        ok = false;
      }
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error("the ring did not settle");
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test({
  name: "dfs: 6 processes — appends, kill -9 of two holders, a node joining",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "dfs_it_" });
    const ids = ["d1", "d2", "d3", "d4", "d5", "d6"];
    await writeDfsIdentities(`${root}/ids`, [...ids, "d7"]);
    const ca = await Deno.readTextFile(`${root}/ids/ca.pem`);
    const http = Deno.createHttpClient({ caCerts: [ca] });
    const ports = new Map(ids.map((id) => [id, { rpc: freePort(), api: freePort() }]));
    const members = ids.map((id) => `${id}=127.0.0.1:${ports.get(id)!.rpc}`);
    const procs = new Map<string, DfsProc>();
    const flags = { rf: 3, "block-bytes": BLOCK_BYTES, "tick-ms": 100 };
    const api = (id: string, path: string, init: RequestInit = {}) =>
      fetch(`${procs.get(id)!.api}${path}`, {
        ...init,
        client: http,
        headers: { authorization: `Bearer ${TEST_TOKEN}`, ...init.headers },
      });
    const live = () => [...procs.values()];
    try {
      await Promise.all(ids.map(async (id) => {
        procs.set(
          id,
          await DfsProc.spawn({
            id,
            idsDir: `${root}/ids`,
            data: `${root}/${id}`,
            rpcPort: ports.get(id)!.rpc,
            apiPort: ports.get(id)!.api,
            members,
            flags,
          }),
        );
      }));
      await waitRing(live());

      await t.step("five clients append 1,000 records each through different nodes", async () => {
        const writers = ["d1", "d2", "d3", "d4", "d5"];
        const n = 1000;
        await Promise.all(writers.map(async (via, w) => {
          for (let i = 0; i < n; i++) {
            const res = await api(via, "/v1/fs/logs/events?append", {
              method: "PUT",
              body: `c${w}-${String(i).padStart(4, "0")}\n`,
            });
            assert.equal(res.status, 200, await res.text());
          }
        }));
        const res = await api("d6", "/v1/fs/logs/events");
        const lines = (await res.text()).split("\n").filter(Boolean);
        assert.equal(lines.length, writers.length * n);
        assert.equal(new Set(lines).size, lines.length, "every record exactly once");
        for (let w = 0; w < writers.length; w++) {
          const mine = lines.filter((l) => l.startsWith(`c${w}-`)).map((l) => Number(l.slice(3)));
          assert.deepEqual(mine, Array.from({ length: n }, (_, i) => i), `client ${w} order`);
        }
        const recs: FileMeta[] = [];
        for (const p of live()) {
          const r = (await p.command("meta /logs/events")).record as FileMeta | null;
          if (r) recs.push(r);
        }
        assert.equal(recs.length, 3, "the record is on RF replicas");
        for (const r of recs.slice(1)) {
          assert.equal(r.appendSeq, recs[0].appendSeq);
          assert.deepEqual(r.blocks.map((b) => b.id), recs[0].blocks.map((b) => b.id));
        }
      });

      const data = content(FILE_BYTES);
      const digest = sha(data);
      let fileRec: FileMeta | null = null;
      await t.step(`put ${FILE_BYTES} bytes, kill -9 two holders, read it back`, async () => {
        const res = await api("d1", "/v1/fs/big/file.bin", { method: "PUT", body: data });
        assert.equal(res.status, 201, await res.text());
        for (const p of live()) {
          const r = (await p.command("meta /big/file.bin")).record as FileMeta | null;
          if (r) fileRec = r;
        }
        const rec = fileRec!;
        const ours = new Set(rec.blocks.map((b) => b.id));
        const held = new Map<string, number>();
        for (const p of live()) {
          const blocks = (await p.command("blocks")).blocks as string[];
          held.set(p.id, blocks.filter((b) => ours.has(b)).length);
        }
        const victims = [...held].filter(([id]) => id !== "d6")
          .sort((a, b) => b[1] - a[1]).slice(0, 2).map(([id]) => id);
        assert.ok(victims.every((v) => held.get(v)! > 0));
        for (const v of victims) {
          const p = procs.get(v)!;
          p.kill();
          await p.child.status;
          procs.delete(v);
        }
        for (const p of live()) for (const v of victims) await p.command(`dead ${v}`);
        const got = await api("d6", "/v1/fs/big/file.bin");
        assert.equal(got.status, 200);
        const h = createHash("sha256");
        for await (const chunk of got.body!) h.update(chunk);
        assert.equal(h.digest("hex"), digest, "sha256 of the file read after the crashes");

        // Repair restores RF copies of every block on the survivors.
        await waitRing(live());
        for (let round = 0; round < 2; round++) {
          for (const p of live()) await p.command("repair", 60_000);
        }
        const counts = new Map<string, number>();
        for (const p of live()) {
          for (const b of (await p.command("blocks")).blocks as string[]) {
            if (ours.has(b)) counts.set(b, (counts.get(b) ?? 0) + 1);
          }
        }
        for (const b of ours) {
          assert.ok((counts.get(b) ?? 0) >= 3, `${b} has ${counts.get(b)} copies`);
        }
      });

      await t.step("a joining node receives the blocks it now owns", async () => {
        const port = { rpc: freePort(), api: freePort() };
        const via = live().map((p) => `${p.id}=${p.rpc}`);
        const d7 = await DfsProc.spawn({
          id: "d7",
          idsDir: `${root}/ids`,
          data: `${root}/d7`,
          rpcPort: port.rpc,
          apiPort: port.api,
          members: via,
          join: true,
          flags,
        });
        procs.set("d7", d7);
        for (const p of live()) if (p !== d7) await p.command(`joined d7 ${d7.rpc}`);
        await waitRing(live());
        for (let round = 0; round < 2; round++) {
          for (const p of live()) await p.command("repair", 60_000);
        }
        const ring = sortByRingId(live().map((p) => p.id));
        const pred = ring[(ring.indexOf("d7") - 1 + ring.length) % ring.length];
        const rec = fileRec!;
        const owned = rec.blocks.filter((b) =>
          inOpenClosed(blockKey(rec.path, blockNoOf(b.id)), ringIdOf(pred), ringIdOf("d7"))
        );
        const mine = new Set((await d7.command("blocks")).blocks as string[]);
        for (const b of owned) assert.ok(mine.has(b.id), `d7 holds ${b.id}`);
        const got = await api("d7", "/v1/fs/big/file.bin", {
          headers: { range: `bytes=1000-${1000 + BLOCK_BYTES}` },
        });
        assert.equal(got.status, 206);
        assert.equal(
          sha(new Uint8Array(await got.arrayBuffer())),
          sha(data.subarray(1000, 1001 + BLOCK_BYTES)),
        );
      });
    } finally {
      await Promise.all(live().map((p) => p.close()));
      http.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
