/**
 * Exactly-once pieces of the runtime: credit-based flow control bounds the
 * records in flight; the sink commit is idempotent (a crash between append
 * and record, or a torn append, never duplicates output); and an in-process
 * job whose worker disappears mid-run still commits every key's sequence
 * exactly once.
 */
import assert from "node:assert/strict";
import { checkSequences } from "../../lib/stream/sequences.ts";
import { InputChannel, OutputChannel, rowsToRecords } from "../../lib/stream/runtime/channels.ts";
import { commitManifest, type Manifest, metaKeys } from "../../lib/stream/runtime/commit.ts";
import { LocalDirFs } from "../../lib/stream/runtime/fs.ts";
import { MemoryMetaStore } from "../../lib/stream/runtime/meta.ts";
import type { StreamData } from "../../lib/stream/runtime/messages.ts";
import { startLocalStreamCluster } from "../../lib/stream/runtime/testing.ts";
import { validateJobSpec } from "../../lib/stream/spec.ts";

Deno.test("credits bound the records in flight; a slow receiver gets everything in order", async () => {
  const WINDOW = 64;
  const queue: StreamData[] = [];
  let wake: (() => void) | null = null;
  const out = new OutputChannel(
    { job: "j", attempt: 1, from: "s0.0", to: "s1.0" },
    (msg) => {
      queue.push(msg);
      wake?.();
      return Promise.resolve();
    },
    WINDOW,
    16,
  );
  const input = new InputChannel("s0.0", WINDOW, (n) => out.credit(n));
  let peak = 0;
  const received: number[] = [];
  const consumer = (async () => {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      const msg = queue.shift()!;
      assert.ok(input.accept(msg.seq), `sequence ${msg.seq}`);
      peak = Math.max(peak, out.inFlight);
      for (const r of rowsToRecords(msg.cols, msg.rows)) received.push(Number(r.i));
      await new Promise((r) => setTimeout(r, 1));
      input.processed(msg.rows.length, queue.length === 0);
      if (msg.end) return;
    }
  })();
  for (let i = 0; i < 2000; i++) {
    if (out.push({ i })) await out.flush();
  }
  await out.end();
  await consumer;
  assert.deepEqual(received, Array.from({ length: 2000 }, (_, i) => i));
  assert.ok(peak <= WINDOW, `in flight ${peak} > ${WINDOW}`);
  assert.equal(out.maxInFlight, WINDOW, "the sender should have used its whole window");
});

Deno.test("sink commit is idempotent across a crash and a torn append", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ec-commit-" });
  try {
    const fs = new LocalDirFs(dir);
    const meta = new MemoryMetaStore();
    const spec = validateJobSpec({
      name: "c",
      source: { kind: "lines", path: "/in" },
      stages: [{ op: "select", columns: ["a"] }],
      sink: { kind: "dfs", path: "/out.ndjson" },
    });
    const enc = new TextEncoder();
    await fs.write("/st/1", enc.encode('{"a":"1"}\n'));
    await fs.write("/st/2", enc.encode('{"a":"2"}\n'));
    await fs.write("/st/3", enc.encode('{"a":"3"}\n'));
    const m = (id: number, files: [number, string][]): Manifest => ({
      id,
      at: "",
      durationMs: 0,
      states: {},
      offsets: {},
      staged: { "s0.0": files.map(([i, p]) => ({ id: i, path: p, bytes: 10 })) },
    });
    assert.equal(await commitManifest(fs, meta, "j", spec, m(1, [[1, "/st/1"]])), 10);
    // A crash after the append but before the record moved: the append is not repeated.
    await fs.append("/out.ndjson", enc.encode('{"a":"2"}\n'));
    await commitManifest(fs, meta, "j", spec, m(2, [[1, "/st/1"], [2, "/st/2"]]));
    // A torn append of checkpoint 3 is cut off and done again.
    await fs.append("/out.ndjson", enc.encode('{"a"'));
    await commitManifest(fs, meta, "j", spec, m(3, [[3, "/st/3"]]));
    // Committing an old manifest again changes nothing.
    assert.equal(await commitManifest(fs, meta, "j", spec, m(2, [[2, "/st/2"]])), 0);
    const text = new TextDecoder().decode(await fs.read("/out.ndjson"));
    assert.equal(text, '{"a":"1"}\n{"a":"2"}\n{"a":"3"}\n');
    assert.deepEqual((await meta.get(metaKeys.sink("j")))?.value, { committed: 3, bytes: 30 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** NDJSON of `keys` interleaved sequences 1..perKey. */
function sequenceInput(keys: number, perKey: number): string {
  let s = "";
  for (let v = 1; v <= perKey; v++) {
    for (let k = 0; k < keys; k++) s += `{"key":"k${k}","value":${v}}\n`;
  }
  return s;
}

Deno.test("a worker disappearing mid-job: every key's sequence is committed exactly once", async () => {
  const KEYS = 12;
  const PER_KEY = 6000;
  const c = await startLocalStreamCluster({
    workers: 3,
    manager: { heartbeatMs: 100, creditWindow: 512, batchSize: 128 },
  });
  try {
    await c.fs.write("/in/seq.ndjson", new TextEncoder().encode(sequenceInput(KEYS, PER_KEY)));
    const spec = validateJobSpec({
      name: "seq",
      source: { kind: "ndjson", path: "/in/seq.ndjson" },
      stages: [
        { op: "keyBy", column: "key", parallelism: 2 },
        { op: "count", as: "n", parallelism: 3 },
      ],
      sink: { kind: "dfs", path: "/out/seq.ndjson" },
      checkpoint: { intervalMs: 60 },
    });
    const job = await c.manager.submit(spec);
    // Let a few checkpoints complete, then take the worker with the most tasks away.
    const deadline = Date.now() + 20_000;
    while ((await c.manager.get(job.id)).lastCheckpoint === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const view = await c.manager.get(job.id);
    assert.equal(view.state, "running", "the job ended before the failure could be injected");
    const victim = c.workers.findIndex((_, i) => Object.values(view.tasks).includes(`w${i + 1}`));
    c.workers[victim].close();
    await c.nodes[victim + 1].rpc.close();
    const done = await c.manager.wait(job.id, 60_000);
    assert.equal(done.state, "finished", done.error);
    assert.ok(done.restarts >= 1, "the job should have restarted");
    assert.ok(!Object.values(done.tasks).includes(`w${victim + 1}`));
    const out = await c.output(done);
    const expectLast = new Map(Array.from({ length: KEYS }, (_, k) => [`k${k}`, PER_KEY]));
    const rep = checkSequences(out, { valueField: "n", expectLast });
    assert.ok(rep.ok, rep.problems.join("; "));
    assert.equal(out.length, KEYS * PER_KEY);
  } finally {
    await c.stop();
  }
});

Deno.test("a checkpoint that cannot be deleted is left behind; the job goes on", async () => {
  let refused = 0;
  const c = await startLocalStreamCluster({
    workers: 2,
    manager: { heartbeatMs: 100, creditWindow: 64, batchSize: 16 },
    // Every deletion of an old checkpoint fails (a DFS refusal during a failover, seen in CI
    // failing a job at its restart): garbage left behind must not stop or fail the job.
    managerFs: (fs) => ({
      size: (p, o) => fs.size(p, o),
      readRange: (p, off, len) => fs.readRange(p, off, len),
      read: (p) => fs.read(p),
      write: (p, b, o) => fs.write(p, b, o),
      append: (p, b) => fs.append(p, b),
      exists: (p) => fs.exists(p),
      list: (p) => fs.list(p),
      delete(path: string): Promise<void> {
        if (!/^\/_checkpoints\/[^/]+\/\d+$/.test(path)) return fs.delete(path);
        refused++;
        return Promise.reject(new Error(`refused: deleting ${path}`));
      },
    }),
  });
  try {
    await c.fs.write("/in/slow.ndjson", new TextEncoder().encode(sequenceInput(4, 40_000)));
    const done = await c.run({
      name: "undeletable",
      source: { kind: "ndjson", path: "/in/slow.ndjson" },
      stages: [{ op: "keyBy", column: "key" }, { op: "count", as: "n" }],
      sink: { kind: "dfs", path: "/out/undeletable.ndjson" },
      checkpoint: { intervalMs: 20 },
    }, 60_000);
    assert.equal(done.state, "finished", done.error);
    assert.ok(refused > 0, "old checkpoints were to be deleted");
    const out = await c.output(done);
    const rep = checkSequences(out, {
      valueField: "n",
      expectLast: new Map(Array.from({ length: 4 }, (_, k) => [`k${k}`, 40_000])),
    });
    assert.ok(rep.ok, rep.problems.join("; "));
  } finally {
    await c.stop();
  }
});
