import assert from "node:assert/strict";
import { join } from "node:path";
import { Wal } from "../../lib/raft/wal/wal.ts";
import type { WalEntry } from "../../lib/raft/wal/records.ts";
import { ElasticoreError } from "../../lib/errors.ts";

const enc = new TextEncoder();
function entries(from: number, to: number, term = 1): WalEntry[] {
  const out: WalEntry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, type: 0, data: enc.encode(`e${i}t${term}`) });
  }
  return out;
}

Deno.test("wal: entries and hard state survive reopen; later writes replace conflicting suffixes", async () => {
  const dir = await Deno.makeTempDir();
  const { wal } = await Wal.open(dir);
  await wal.append({ entries: entries(1, 10), hardState: { term: 1, vote: "m1", commit: 5 } });
  await wal.append({ entries: entries(6, 8, 2), hardState: { term: 2, vote: "m2", commit: 7 } });
  await wal.close();
  const { wal: w2, state } = await Wal.open(dir);
  assert.deepEqual(state.hardState, { term: 2, vote: "m2", commit: 7 });
  assert.deepEqual(state.entries.map((e) => [e.index, e.term]), [
    [1, 1],
    [2, 1],
    [3, 1],
    [4, 1],
    [5, 1],
    [6, 2],
    [7, 2],
    [8, 2],
  ]);
  assert.equal(new TextDecoder().decode(state.entries[6].data), "e7t2");
  await w2.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("wal: concurrent appends share syncs (group commit)", async () => {
  const dir = await Deno.makeTempDir();
  const { wal } = await Wal.open(dir);
  const ps: Promise<void>[] = [];
  for (let i = 1; i <= 500; i++) ps.push(wal.append({ entries: entries(i, i) }));
  await Promise.all(ps);
  assert.ok(wal.stats.syncs < 500, `expected batching, got ${wal.stats.syncs} syncs`);
  await wal.close();
  const { wal: w2, state } = await Wal.open(dir);
  assert.equal(state.entries.length, 500);
  await w2.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("wal: a torn tail is cut off; corruption in the middle is an error", async () => {
  const dir = await Deno.makeTempDir();
  const { wal } = await Wal.open(dir);
  await wal.append({ entries: entries(1, 3) });
  await wal.append({ entries: entries(4, 6) });
  await wal.close();
  const seg = join(dir, "wal-0000000001.log");
  const good = await Deno.readFile(seg);
  // Torn: half of a third record.
  const torn = new Uint8Array(good.length + 9);
  torn.set(good);
  torn.set([0, 0, 0, 50, 1, 2, 3, 4, 5], good.length);
  await Deno.writeFile(seg, torn);
  const r1 = await Wal.open(dir);
  assert.equal(r1.state.entries.length, 6);
  await r1.wal.close();
  assert.equal((await Deno.stat(seg)).size, good.length, "torn bytes truncated");
  // Corrupt: flip a byte inside the first record, with a valid record after it.
  const bad = good.slice();
  bad[12] ^= 0xff;
  await Deno.writeFile(seg, bad);
  await assert.rejects(
    () => Wal.open(dir),
    (e: unknown) => e instanceof ElasticoreError && e.code === "wal_corrupt",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("wal: snapshots compact old segments and replay with the retained entries", async () => {
  const dir = await Deno.makeTempDir();
  const { wal } = await Wal.open(dir);
  await wal.append({ entries: entries(1, 100), hardState: { term: 1, vote: "m1", commit: 90 } });
  await wal.saveSnapshot(
    { index: 80, term: 1, data: enc.encode("state@80") },
    { term: 1, vote: "m1", commit: 90 },
    entries(81, 100),
  );
  await wal.append({ entries: entries(101, 105) });
  await wal.close();
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(names, ["snap-0000000000000080.snap", "wal-0000000002.log"]);
  const { wal: w2, state } = await Wal.open(dir);
  assert.equal(state.snapshot?.index, 80);
  assert.equal(new TextDecoder().decode(state.snapshot?.data), "state@80");
  assert.equal(state.entries[0].index, 81);
  assert.equal(state.entries.at(-1)?.index, 105);
  await w2.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("wal: kill -9 during appends loses no acknowledged entry", async () => {
  const dir = await Deno.makeTempDir();
  const fixture = new URL("../integration/fixtures/wal_writer.ts", import.meta.url).pathname;
  for (let round = 0; round < 3; round++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-P", fixture, dir],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    let acked = 0;
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const killAfter = 200 + Math.floor(Math.random() * 300);
    const deadline = Date.now() + 15_000;
    let buf = "";
    let killed = false;
    let start = 0;
    while (Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) if (l) acked = Math.max(acked, Number(l));
      if (acked > 0 && start === 0) start = Date.now();
      if (!killed && start && Date.now() - start > killAfter) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
    await reader.cancel().catch(() => {});
    await child.status;
    assert.ok(killed && acked > 0, `round ${round}: writer made no progress`);
    const { wal, state } = await Wal.open(dir);
    const last = state.entries.at(-1)?.index ?? 0;
    assert.ok(last >= acked, `round ${round}: acknowledged ${acked} but only ${last} survived`);
    for (let i = 0; i < state.entries.length; i++) assert.equal(state.entries[i].index, i + 1);
    await wal.close();
  }
  await Deno.remove(dir, { recursive: true });
});
