/**
 * The log shipper with an in-memory sink: per-hour paths, the persisted
 * position across restarts and rotation, bounded batches, sink failures
 * (nothing lost, nothing duplicated), an append the sink applied but
 * reported failed (exactly that run duplicated), backoff and the
 * background loop.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ElasticoreError } from "../../lib/errors.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";
import { hourPath, LogShipper, type LogSink } from "../../lib/logs/shipper.ts";

class MemSink implements LogSink {
  readonly appends: { path: string; text: string }[] = [];
  calls = 0;
  /** Calls (1-based) that fail without applying. */
  failAt = new Set<number>();
  /** Calls that apply, then report failure. */
  applyThenFail = new Set<number>();
  failAll = false;

  append(path: string, bytes: Uint8Array): Promise<void> {
    this.calls++;
    if (this.failAll || this.failAt.has(this.calls)) {
      return Promise.reject(new Error(`sink down (call ${this.calls})`));
    }
    this.appends.push({ path, text: new TextDecoder().decode(bytes) });
    if (this.applyThenFail.has(this.calls)) {
      return Promise.reject(new Error(`timeout after apply (call ${this.calls})`));
    }
    return Promise.resolve();
  }

  /** Every shipped line, in append order. */
  lines(): string[] {
    return this.appends.flatMap((a) => a.text.split("\n").filter((l) => l.length > 0));
  }

  /** Shipped lines of one path. */
  linesOf(path: string): string[] {
    return this.appends.filter((a) => a.path === path).flatMap((a) =>
      a.text.split("\n").filter((l) => l.length > 0)
    );
  }
}

const H = Date.UTC(2026, 10, 21, 8);

function makeLines(from: number, n: number, stepMs: number, tag: string): string[] {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      ts: new Date(from + i * stepMs).toISOString(),
      level: "info",
      node: "n1",
      subsystem: "raft",
      msg: `${tag} ${i} ${"x".repeat(i % 50)}`,
    }));
}

async function setup(): Promise<{ dataDir: string; logDir: string }> {
  const dataDir = await Deno.makeTempDir({ prefix: "ec-shipper-" });
  const logDir = join(dataDir, "logs");
  await Deno.mkdir(logDir, { recursive: true });
  return { dataDir, logDir };
}

const write = (path: string, lines: string[]) =>
  Deno.writeTextFile(path, lines.map((l) => l + "\n").join(""), { append: true });

Deno.test("shipper: lines go to per-hour files in order; the position persists; restart ships nothing twice", async () => {
  const { dataDir, logDir } = await setup();
  try {
    // Two hours in a rotated file, a third hour in the active one.
    const a = makeLines(H + 50 * 60_000, 300, 4000, "a"); // 08:50 .. 09:10
    const b = makeLines(H + 2 * 3_600_000 + 1000, 120, 1000, "b"); // 10:00
    await write(join(logDir, "node-2026-11-21T09-10-00.000Z.jsonl"), a);
    await write(join(logDir, "node.jsonl"), b);
    const sink = new MemSink();
    const metrics = new MetricsRegistry();
    const s = new LogShipper({ nodeId: "n1", dataDir, sink, maxBatchBytes: 8192, metrics });
    const st = await s.ship();
    assert.equal(st.lines, 420);
    assert.deepEqual(sink.lines(), [...a, ...b]);
    const byHour = (ls: string[], h: number) =>
      ls.filter((l) =>
        JSON.parse(l).ts.slice(0, 13) === new Date(H + h * 3_600_000).toISOString().slice(0, 13)
      );
    for (const h of [0, 1, 2]) {
      const path = hourPath("n1", H + h * 3_600_000);
      assert.deepEqual(sink.linesOf(path), byHour([...a, ...b], h), path);
    }
    assert.equal(hourPath("n1", H), "/_logs/n1/2026-11-21T08.jsonl");
    assert.ok(sink.appends.every((x) => new TextEncoder().encode(x.text).length <= 8192));
    assert.ok(sink.appends.length >= 6, `${sink.appends.length} appends`);
    const saved = JSON.parse(await Deno.readTextFile(join(logDir, ".shipped")));
    const st2 = await Deno.stat(join(logDir, "node.jsonl"));
    const head = Array.from(
      new TextEncoder().encode(b[0]).subarray(0, 64),
      (x) => x.toString(16).padStart(2, "0"),
    ).join("");
    assert.deepEqual(saved, { file: "node.jsonl", ino: st2.ino, head, offset: st2.size });
    assert.match(metrics.render(), /elasticore_logs_shipped_lines_total 420/);

    // Restart: nothing new, nothing shipped.
    const again = new LogShipper({ nodeId: "n1", dataDir, sink });
    assert.deepEqual(await again.ship(), { appends: 0, lines: 0, bytes: 0 });

    // More lines, then rotation (rename keeps the inode), then a new active file.
    const c = makeLines(H + 2 * 3_600_000 + 200_000, 10, 1000, "c");
    await write(join(logDir, "node.jsonl"), c);
    await Deno.rename(
      join(logDir, "node.jsonl"),
      join(logDir, "node-2026-11-21T10-05-00.000Z.jsonl"),
    );
    const d = makeLines(H + 2 * 3_600_000 + 400_000, 5, 1000, "d");
    await write(join(logDir, "node.jsonl"), d);
    const restarted = new LogShipper({ nodeId: "n1", dataDir, sink });
    assert.equal((await restarted.ship()).lines, 15);
    assert.deepEqual(sink.lines(), [...a, ...b, ...c, ...d]);
    assert.equal(await restarted.backlog(), 0);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("shipper: a failing sink loses nothing and duplicates nothing; backoff doubles to its cap", async () => {
  const { dataDir, logDir } = await setup();
  try {
    const lines = makeLines(H, 400, 10, "f");
    await write(join(logDir, "node.jsonl"), lines);
    const sink = new MemSink();
    sink.failAt = new Set([3, 4]);
    const s = new LogShipper({ nodeId: "n1", dataDir, sink, maxBatchBytes: 4096 });
    await assert.rejects(
      s.ship(),
      (e: unknown) =>
        e instanceof ElasticoreError && e.code === "logs_ship_failed" &&
        e.message.includes("/_logs/n1/2026-11-21T08.jsonl"),
    );
    const shippedBefore = sink.lines().length;
    assert.ok(shippedBefore > 0 && shippedBefore < 400);
    // The position covers exactly what the sink took.
    const pos = s.position!;
    const prefix = lines.slice(0, shippedBefore).map((l) => l + "\n").join("");
    assert.equal(pos.offset, new TextEncoder().encode(prefix).length);
    // A restart (new instance) retries from the persisted position; it fails once more, then works.
    const r = new LogShipper({ nodeId: "n1", dataDir, sink, maxBatchBytes: 4096 });
    await assert.rejects(r.ship());
    await r.ship();
    assert.deepEqual(sink.lines(), lines);

    const b = new LogShipper({
      nodeId: "n1",
      dataDir,
      sink,
      backoffBaseMs: 100,
      backoffMaxMs: 1000,
    });
    assert.deepEqual([0, 1, 2, 3, 4, 5, 40].map((n) => b.backoffMs(n)), [
      0,
      100,
      200,
      400,
      800,
      1000,
      1000,
    ]);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("shipper: an append applied but reported failed is shipped again exactly once", async () => {
  const { dataDir, logDir } = await setup();
  try {
    const lines = makeLines(H, 200, 10, "g");
    await write(join(logDir, "node.jsonl"), lines);
    const sink = new MemSink();
    sink.applyThenFail = new Set([2]);
    const s = new LogShipper({ nodeId: "n1", dataDir, sink, maxBatchBytes: 2048 });
    await assert.rejects(s.ship());
    const firstRun = sink.appends[0].text.split("\n").filter(Boolean).length;
    const secondRun = sink.appends[1].text.split("\n").filter(Boolean).length;
    await s.ship();
    const got = sink.lines();
    assert.equal(got.length, 200 + secondRun);
    // The duplicate is exactly the in-flight run, right after itself.
    const dup = lines.slice(firstRun, firstRun + secondRun);
    assert.deepEqual(got.slice(firstRun, firstRun + secondRun), dup);
    assert.deepEqual(got.slice(firstRun + secondRun, firstRun + 2 * secondRun), dup);
    assert.deepEqual([...new Set(got)], lines);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("shipper: a pruned file restarts at the oldest; a last line without newline; over-long lines are skipped", async () => {
  const { dataDir, logDir } = await setup();
  try {
    const metrics = new MetricsRegistry();
    const old = makeLines(H, 20, 10, "old");
    await write(join(logDir, "node-2026-11-21T08-00-01.000Z.jsonl"), old);
    const sink = new MemSink();
    const s = new LogShipper({ nodeId: "n1", dataDir, sink, metrics, maxLineBytes: 4096 });
    await s.ship();
    // The position is in the rotated file; it gets pruned, newer files appear.
    await Deno.remove(join(logDir, "node-2026-11-21T08-00-01.000Z.jsonl"));
    const mid = makeLines(H + 1000, 3, 10, "mid");
    const long = JSON.stringify({ ts: new Date(H + 2000).toISOString(), msg: "y".repeat(10_000) });
    await Deno.writeTextFile(
      join(logDir, "node-2026-11-21T08-00-02.000Z.jsonl"),
      mid.join("\n") + "\n" + long + "\n" + "tail without newline",
    );
    const now = makeLines(H + 3000, 2, 10, "now");
    await write(join(logDir, "node.jsonl"), now);
    await s.ship();
    assert.deepEqual(sink.lines(), [...old, ...mid, "tail without newline", ...now]);
    // The line without a ts went to the hour of the line before it.
    assert.deepEqual(sink.linesOf(hourPath("n1", H)).slice(-3), ["tail without newline", ...now]);
    const text = metrics.render();
    assert.match(text, /elasticore_logs_ship_resets_total 1/);
    assert.match(text, /elasticore_logs_ship_skipped_bytes_total 10/);
    await s.ship();
    assert.equal(sink.lines().length, 20 + 3 + 1 + 2);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("shipper: the background loop ships new lines, retries after failures, stops cleanly", async () => {
  const { dataDir, logDir } = await setup();
  let shipper: LogShipper | undefined;
  try {
    const sink = new MemSink();
    sink.failAll = true;
    const errors: unknown[] = [];
    const s = new LogShipper({
      nodeId: "n1",
      dataDir,
      sink,
      intervalMs: 50,
      backoffBaseMs: 20,
      backoffMaxMs: 40,
      onError: (e) => errors.push(e),
    });
    shipper = s;
    s.start();
    const lines = makeLines(H, 50, 10, "bg");
    await write(join(logDir, "node.jsonl"), lines);
    const until = async (cond: () => boolean, what: string) => {
      const end = Date.now() + 30_000; // generous: CI machines can be heavily loaded
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await until(() => s.failures >= 3, "three failures");
    assert.ok(errors.length >= 3);
    sink.failAll = false;
    await until(() => sink.lines().length === 50, "the lines");
    const more = makeLines(H + 1000, 5, 10, "bg2");
    await write(join(logDir, "node.jsonl"), more);
    await until(() => sink.lines().length === 55, "the new lines");
    // The count resets once the successful round (which persists its position) returns.
    await until(() => s.failures === 0, "the failure count to reset");
    await s.stop();
    assert.deepEqual(sink.lines(), [...lines, ...more]);
  } finally {
    // Stopped first: a shipper still running (after a failed wait) writes into the directory.
    await shipper?.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
