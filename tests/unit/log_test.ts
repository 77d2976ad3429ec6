import assert from "node:assert/strict";
import { join } from "node:path";
import type { LogRecord } from "@logtape/logtape";
import { buildConfig } from "../../lib/config/mod.ts";
import {
  formatConsoleLine,
  formatJsonLine,
  getLogger,
  getRotatingFileSink,
  setupLogging,
} from "../../lib/log/mod.ts";
import { rotatedName } from "../../lib/log/file_sink.ts";

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ec-log-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function record(i: number, props: Record<string, unknown> = {}): LogRecord {
  return {
    category: ["elasticore", "raft"],
    level: "info",
    message: [`record ${String(i).padStart(3, "0")}`],
    rawMessage: `record ${i}`,
    timestamp: Date.UTC(2030, 0, 1, 0, 0, 0, i),
    properties: props,
  };
}

function readLines(path: string): Record<string, unknown>[] {
  return Deno.readTextFileSync(path).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("log: JSON line format is stable", () => {
  const r: LogRecord = {
    category: ["elasticore", "raft"],
    level: "warning",
    message: ["term ", 3, " from ", "m2", ""],
    rawMessage: "term {term} from {peer}",
    timestamp: Date.UTC(2030, 0, 2, 3, 4, 5, 678),
    properties: { term: 3, peer: "m2", msg: "shadowed", big: 12n, err: new Error("boom") },
  };
  const line = formatJsonLine(r, "m1");
  assert.ok(line.endsWith("}\n"));
  const obj = JSON.parse(line);
  assert.deepEqual(Object.keys(obj).slice(0, 5), ["ts", "level", "node", "subsystem", "msg"]);
  assert.equal(obj.ts, "2030-01-02T03:04:05.678Z");
  assert.equal(obj.level, "warning");
  assert.equal(obj.node, "m1");
  assert.equal(obj.subsystem, "raft");
  assert.equal(obj.msg, "term 3 from m2");
  assert.equal(obj.term, 3);
  assert.equal(obj._msg, "shadowed", "a property named like a fixed key gets a _ prefix");
  assert.equal(obj.big, "12");
  assert.equal(obj.err.message, "boom");
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const c = JSON.parse(formatJsonLine({ ...r, properties: { cyclic } }, "m1"));
  assert.deepEqual(c.cyclic, { a: 1, self: "[circular]" });
});

Deno.test("log: console format shows time, level, subsystem, message and props", () => {
  const line = formatConsoleLine(record(1, { term: 3, peer: "m 2" }), false);
  assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}raft +record 001 term=3 peer="m 2"\n$/);
  assert.ok(formatConsoleLine(record(1), true).includes("\x1b[32mINFO"));
});

Deno.test("log: file sink buffers, then writes JSON lines on flush and dispose", async () => {
  await withDir((dir) => {
    const sink = getRotatingFileSink({
      dir: join(dir, "logs"),
      format: (r) => formatJsonLine(r, "m1"),
      maxBytes: 1 << 20,
      maxAgeMs: 0,
      filesKept: 3,
      flushIntervalMs: 60000,
    });
    sink(record(1));
    assert.equal(readLinesOrEmpty(sink.path).length, 0, "buffered, not yet written");
    sink.flush();
    assert.equal(readLines(sink.path).length, 1);
    sink(record(2));
    sink[Symbol.dispose]();
    const lines = readLines(sink.path);
    assert.deepEqual(lines.map((l) => l.msg), ["record 001", "record 002"]);
    sink(record(3));
    assert.equal(readLines(sink.path).length, 2, "records after dispose are dropped");
  });
});

function readLinesOrEmpty(path: string): unknown[] {
  try {
    return readLines(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

Deno.test("log: a full buffer is flushed without waiting for the interval", async () => {
  await withDir((dir) => {
    const sink = getRotatingFileSink({
      dir,
      format: (r) => formatJsonLine(r, "m1"),
      maxBytes: 1 << 20,
      maxAgeMs: 0,
      filesKept: 1,
      bufferBytes: 500,
      flushIntervalMs: 60000,
    });
    try {
      for (let i = 0; i < 10; i++) sink(record(i));
      assert.ok(readLines(sink.path).length >= 5);
    } finally {
      sink[Symbol.dispose]();
    }
  });
});

Deno.test("log: rotation by size keeps files under the limit and only files_kept old ones", async () => {
  await withDir((dir) => {
    let now = Date.UTC(2030, 0, 1);
    const sink = getRotatingFileSink({
      dir,
      format: (r) => formatJsonLine(r, "m1"),
      maxBytes: 400,
      maxAgeMs: 0,
      filesKept: 2,
      bufferBytes: 1000,
      flushIntervalMs: 60000,
      now: () => now,
    });
    for (let i = 0; i < 60; i++) {
      sink(record(i));
      if (i % 7 === 0) {
        sink.flush();
        now += 1000;
      }
    }
    sink[Symbol.dispose]();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.equal(names.length, 3, names.join(","));
    assert.ok(names.includes("node.jsonl"));
    const rotated = names.filter((n) => n !== "node.jsonl");
    for (const n of rotated) {
      assert.match(n, /^node-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z\.jsonl$/);
    }
    for (const n of names) assert.ok(Deno.statSync(join(dir, n)).size <= 400, n);
    // The kept files are the newest: together they end with the last record, in order.
    const msgs = [...rotated, "node.jsonl"].flatMap((n) =>
      readLines(join(dir, n)).map((l) => l.msg)
    );
    const first = Number(String(msgs[0]).slice(7));
    assert.deepEqual(
      msgs,
      Array.from({ length: 60 - first }, (_, k) => `record ${String(first + k).padStart(3, "0")}`),
    );
    assert.ok(first > 0, "older files were deleted");
  });
});

Deno.test("log: rotation by age", async () => {
  await withDir((dir) => {
    let now = Date.UTC(2030, 0, 1);
    const sink = getRotatingFileSink({
      dir,
      format: (r) => formatJsonLine(r, "m1"),
      maxBytes: 1 << 20,
      maxAgeMs: 60000,
      filesKept: 5,
      flushIntervalMs: 60000,
      now: () => now,
    });
    sink(record(1));
    sink.flush();
    now += 59000;
    sink(record(2));
    sink.flush();
    assert.equal([...Deno.readDirSync(dir)].length, 1, "not old enough yet");
    now += 2000;
    sink(record(3));
    sink[Symbol.dispose]();
    const old = rotatedName("node", now);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [old, "node.jsonl"]);
    assert.deepEqual(readLines(join(dir, old)).map((l) => l.msg), ["record 001", "record 002"]);
    assert.deepEqual(readLines(join(dir, "node.jsonl")).map((l) => l.msg), ["record 003"]);
  });
});

Deno.test("log: setupLogging applies per-subsystem levels and writes <data_dir>/logs", async () => {
  await withDir(async (dir) => {
    const config = buildConfig({
      env: {},
      cwd: dir,
      flags: { id: "m7", set: ["logs.level=warning", "logs.levels=raft=debug,api=error"] },
    });
    const logging = await setupLogging(config, { console: false });
    try {
      assert.equal(logging.dir, join(dir, "data", "m7", "logs"));
      getLogger("raft").debug("raft debug {n}", { n: 1 });
      getLogger("raft").trace("raft trace");
      getLogger("swim").info("swim info");
      getLogger("swim").warn("swim warning");
      getLogger("api").warn("api warning");
      getLogger("api").error("api error");
    } finally {
      await logging.close();
    }
    const lines = readLines(join(logging.dir, "node.jsonl"));
    assert.deepEqual(lines.map((l) => `${l.subsystem}:${l.level}:${l.msg}`), [
      "raft:debug:raft debug 1",
      "swim:warning:swim warning",
      "api:error:api error",
    ]);
    assert.ok(lines.every((l) => l.node === "m7"));
    assert.equal(lines[0].n, 1);
  });
});
