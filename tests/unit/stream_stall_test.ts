/**
 * The stall watchdog: a running attempt that stops making progress (here a
 * task blocked forever writing its checkpoint state) is restarted from the
 * last completed checkpoint, and the output is still exactly once.
 */
import assert from "node:assert/strict";
import { checkSequences } from "../../lib/stream/sequences.ts";
import type { StreamFs } from "../../lib/stream/runtime/fs.ts";
import { stallTimeoutMs, StallWatchdog } from "../../lib/stream/runtime/stall_watchdog.ts";
import { startLocalStreamCluster } from "../../lib/stream/runtime/testing.ts";
import { validateJobSpec } from "../../lib/stream/spec.ts";

Deno.test("stall watchdog: fires only after the mark stood still for the timeout", () => {
  const w = new StallWatchdog(1000);
  assert.equal(w.observe("a", 0), false);
  assert.equal(w.observe("a", 999), false);
  assert.equal(w.observe("b", 1500), false, "a new mark starts a new period");
  assert.equal(w.observe("b", 2499), false);
  assert.equal(w.observe("b", 2500), true);
  assert.equal(w.stalledFor(2600), 1100);
  w.reset();
  assert.equal(w.observe("b", 2700), false, "after a reset the same mark starts over");
  assert.equal(w.stalledFor(2800), 100);
  assert.equal(stallTimeoutMs(undefined), 30_000);
  assert.equal(stallTimeoutMs(20_000), 60_000);
  assert.throws(() => new StallWatchdog(0), /must be positive/);
});

/** Wraps `fs` so that the first checkpoint-state write of `victim` never completes. */
function hangFirstStateWrite(fs: StreamFs, hung: { count: number }): StreamFs {
  return {
    size: (p) => fs.size(p),
    readRange: (p, o, n) => fs.readRange(p, o, n),
    read: (p) => fs.read(p),
    write: (p, b, o) => {
      if (p.startsWith("/_checkpoints/") && hung.count === 0) {
        hung.count++;
        return new Promise(() => {}); // storage that never answers
      }
      return fs.write(p, b, o);
    },
    append: (p, b) => fs.append(p, b),
    exists: (p) => fs.exists(p),
    delete: (p) => fs.delete(p),
    list: (p) => fs.list(p),
  };
}

Deno.test("a task blocked forever in a checkpoint write: the attempt restarts, output exactly once", async () => {
  const KEYS = 8;
  const PER_KEY = 4000;
  const hung = { count: 0 };
  const c = await startLocalStreamCluster({
    workers: 2,
    manager: { heartbeatMs: 100, creditWindow: 256, batchSize: 64, stallTimeoutMs: 1500 },
    workerFs: (fs, worker) => worker === "w1" ? hangFirstStateWrite(fs, hung) : fs,
  });
  try {
    let s = "";
    for (let v = 1; v <= PER_KEY; v++) {
      for (let k = 0; k < KEYS; k++) s += `{"key":"k${k}","value":${v}}\n`;
    }
    await c.fs.write("/in/seq.ndjson", new TextEncoder().encode(s));
    const spec = validateJobSpec({
      name: "stall",
      source: { kind: "ndjson", path: "/in/seq.ndjson" },
      stages: [
        { op: "keyBy", column: "key", parallelism: 2 },
        { op: "count", as: "n", parallelism: 2 },
      ],
      sink: { kind: "dfs", path: "/out/stall.ndjson" },
      checkpoint: { intervalMs: 50, timeoutMs: 400 },
    });
    const t0 = Date.now();
    const job = await c.manager.submit(spec);
    const done = await c.manager.wait(job.id, 40_000);
    assert.equal(done.state, "finished", done.error);
    assert.equal(hung.count, 1, "the fault was not injected");
    assert.ok(done.restarts >= 1, "the stalled attempt should have been restarted");
    const out = await c.output(done);
    const expectLast = new Map(Array.from({ length: KEYS }, (_, k) => [`k${k}`, PER_KEY]));
    const rep = checkSequences(out, { valueField: "n", expectLast });
    assert.ok(rep.ok, rep.problems.join("; "));
    assert.equal(out.length, KEYS * PER_KEY);
    console.log(`finished after ${Date.now() - t0} ms with ${done.restarts} restart(s)`);
  } finally {
    await c.stop();
  }
});
