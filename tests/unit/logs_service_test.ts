/**
 * A node's log service on its own: `--since` filtering against a reference
 * computed line by line, reply size limits, tail (latest lines, follow
 * cursors across rotation, filters), line parsing helpers, and the CLI's
 * output format.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { ElasticoreError } from "../../lib/errors.ts";
import { generateLogFiles } from "../../lib/logs/generate.ts";
import { lineTs, parseLevel, parseSince, toTailLine } from "../../lib/logs/lines.ts";
import { LogService, toReply } from "../../lib/logs/service.ts";
import { formatGrep, formatTailLine } from "../../lib/cli/logs.ts";
import { MAX_LINE_CHARS, MAX_REPLY_UNITS } from "../../proto/logs.ts";

const dir = await Deno.makeTempDir({ prefix: "ec-logs-service-" });
const [gen] = await generateLogFiles(dir, {
  seed: 5,
  nodes: 1,
  bytesPerNode: 600_000,
  rotateBytes: 150_000,
});
const service = new LogService({ nodeId: gen.node, dataDir: gen.dataDir });

/** Every line of the node as [file, lineNo, text]. */
async function allLines(files: string[]): Promise<[string, number, string][]> {
  const out: [string, number, string][] = [];
  for (const f of files) {
    const text = await Deno.readTextFile(f);
    text.replace(/\n$/, "").split("\n").forEach((t, i) => out.push([basename(f), i + 1, t]));
  }
  return out;
}

Deno.test("logs service: --since keeps exactly the matching lines at or after the time", async () => {
  const lines = await allLines(gen.files);
  // A time inside the second file, so files before it are skipped and one straddles.
  const mid = lines[Math.floor(lines.length * 0.4)];
  const since = lineTs(mid[2])! + 1;
  for (const pattern of ["appended entries", "ERROR"]) {
    const ignoreCase = pattern === "ERROR";
    const expected = lines.filter(([, , t]) =>
      lineTs(t)! >= since &&
      (ignoreCase ? t.toLowerCase().includes(pattern.toLowerCase()) : t.includes(pattern))
    );
    assert.ok(expected.length > 20, `${pattern}: ${expected.length}`);
    const r = await service.grep({ pattern, ignoreCase, since, maxMatches: 100_000 });
    assert.equal(r.truncated, false);
    assert.deepEqual(
      r.matches.map((m) => [m.file, m.line, m.text]),
      expected,
    );
    assert.ok(r.filesScanned < gen.files.length, "files wholly before --since are not read");
    const c = await service.grep({ pattern, ignoreCase, since, count: true });
    assert.equal(c.total, expected.length);
    for (const fc of c.counts) {
      assert.equal(fc.count, expected.filter(([f]) => f === fc.file).length, fc.file);
    }
  }
  // A time after every line: nothing; before every line: the same as no --since.
  const late = await service.grep({ pattern: "appended", since: Date.UTC(2030, 0) });
  assert.equal(late.total, 0);
  const early = await service.grep({ pattern: "appended", since: 0, maxMatches: 100_000 });
  const plain = await service.grep({ pattern: "appended", maxMatches: 100_000 });
  assert.deepEqual(early.matches, plain.matches);
});

Deno.test("logs service: replies cut long lines and stop at the reply size budget", () => {
  const long = "z".repeat(MAX_LINE_CHARS + 10);
  const r = toReply(
    "n",
    {
      matches: [{ file: "/d/logs/node.jsonl", line: 1, text: long }],
      counts: [],
      truncated: false,
      filesScanned: 1,
      bytesScanned: 1,
      errors: [],
    },
    false,
    3,
  );
  assert.equal(r.matches[0].text.length, MAX_LINE_CHARS);
  assert.equal(r.matches[0].cut, true);
  assert.equal(r.matches[0].file, "node.jsonl");
  assert.equal(r.truncated, false);
  const many = Array.from({ length: 100 }, (_, i) => ({
    file: "node.jsonl",
    line: i + 1,
    text: "q".repeat(MAX_LINE_CHARS),
  }));
  const big = toReply(
    "n",
    {
      matches: many,
      counts: [],
      truncated: false,
      filesScanned: 1,
      bytesScanned: 1,
      errors: [],
    },
    false,
    3,
  );
  assert.equal(big.truncatedBy, "replyBytes");
  assert.ok(big.matches.length < 100 && big.matches.length >= 60);
  assert.ok(big.matches.reduce((a, m) => a + m.text.length, 0) <= MAX_REPLY_UNITS);
});

Deno.test("logs service: bad requests are typed errors", async () => {
  await assert.rejects(
    service.grep({ pattern: "a".repeat(600) }),
    (e: unknown) => e instanceof ElasticoreError && e.code === "logs_pattern_rejected",
  );
  await assert.rejects(
    service.grep({ pattern: "x", maxMatches: 0 }),
    (e: unknown) => e instanceof ElasticoreError && e.code === "logs_bad_request",
  );
  await assert.rejects(
    service.tail({ limit: 5000 }),
    (e: unknown) => e instanceof ElasticoreError && e.code === "logs_bad_request",
  );
  await assert.rejects(
    service.tail({ level: "loud" }),
    (e: unknown) => e instanceof ElasticoreError && e.code === "logs_bad_level",
  );
});

Deno.test("logs service: tail gives the latest lines, then follows across rotation", async () => {
  const tdir = await Deno.makeTempDir({ prefix: "ec-logs-tail-" });
  try {
    const [g] = await generateLogFiles(tdir, {
      seed: 9,
      nodes: 1,
      bytesPerNode: 200_000,
      rotateBytes: 50_000,
    });
    const svc = new LogService({ nodeId: g.node, dataDir: g.dataDir });
    const lines = (await allLines(g.files)).map(([, , t]) => JSON.parse(t));
    const latest = await svc.tail({ limit: 25 });
    assert.deepEqual(latest.lines.map((l) => l.msg), lines.slice(-25).map((l) => l.msg));
    assert.equal(latest.lines[0].node, g.node);
    // More lines than the newest file holds come from older files too.
    const many = await svc.tail({ limit: 1000 });
    assert.deepEqual(many.lines.map((l) => l.ts), lines.slice(-1000).map((l) => l.ts));
    const warn = await svc.tail({ limit: 1000, level: "warn", subsystems: ["raft"] });
    assert.deepEqual(
      warn.lines.map((l) => l.msg),
      lines.filter((l) => ["warn", "error", "fatal"].includes(l.level) && l.subsystem === "raft")
        .slice(-1000).map((l) => l.msg),
    );

    const logDir = join(g.dataDir, "logs");
    const mk = (i: number) =>
      JSON.stringify({
        ts: new Date(Date.UTC(2027, 0, 1, 0, 0, i)).toISOString(),
        level: "info",
        node: g.node,
        subsystem: "api",
        msg: `follow ${i}`,
        extra: i,
      }) + "\n";
    await Deno.writeTextFile(join(logDir, "node.jsonl"), mk(1) + mk(2), { append: true });
    // A partial line is not returned until it is complete.
    await Deno.writeTextFile(join(logDir, "node.jsonl"), mk(3).slice(0, 20), { append: true });
    const a = await svc.tail({ cursor: latest.cursor });
    assert.deepEqual(a.lines.map((l) => l.msg), ["follow 1", "follow 2"]);
    assert.equal(a.lines[0].extra, '{"extra":1}');
    await Deno.writeTextFile(join(logDir, "node.jsonl"), mk(3).slice(20) + mk(4), { append: true });
    await Deno.rename(join(logDir, "node.jsonl"), join(logDir, "node-20270101T000010000Z.jsonl"));
    await Deno.writeTextFile(join(logDir, "node.jsonl"), mk(5) + mk(6) + mk(7));
    const b = await svc.tail({ cursor: a.cursor, limit: 3 });
    assert.deepEqual(b.lines.map((l) => l.msg), ["follow 3", "follow 4", "follow 5"]);
    assert.equal(b.more, true);
    const c = await svc.tail({ cursor: b.cursor, limit: 3 });
    assert.deepEqual(c.lines.map((l) => l.msg), ["follow 6", "follow 7"]);
    assert.equal(c.more, false);
    assert.deepEqual((await svc.tail({ cursor: c.cursor })).lines, []);
    // A cursor whose file is gone restarts at the oldest file.
    const gone = await svc.tail({ cursor: "1:0", limit: 2 });
    assert.deepEqual(gone.lines.map((l) => l.ts), lines.slice(0, 2).map((l) => l.ts));
  } finally {
    await Deno.remove(tdir, { recursive: true });
  }
});

Deno.test("logs lines: since syntax, ts of a line, tail line shape, levels", () => {
  const now = Date.UTC(2026, 10, 21, 12);
  assert.equal(parseSince("2026-11-21T09:00:00Z", now), Date.UTC(2026, 10, 21, 9));
  assert.equal(parseSince("1795251600000", now), 1795251600000);
  assert.equal(parseSince("15m", now), now - 15 * 60_000);
  assert.equal(parseSince("2h", now), now - 7_200_000);
  assert.equal(parseSince("1d", now), now - 86_400_000);
  for (const bad of ["yesterday", "15x", "", "2026-13-45"]) {
    assert.throws(
      () => parseSince(bad, now),
      (e: unknown) => e instanceof ElasticoreError && e.code === "logs_bad_since",
      bad,
    );
  }
  assert.equal(lineTs('{"ts":"2026-11-21T08:00:00.000Z","msg":"x"}'), Date.UTC(2026, 10, 21, 8));
  assert.equal(lineTs('{"msg":"x","ts":1000}'), 1000);
  assert.equal(lineTs("plain text"), undefined);
  assert.equal(lineTs('{"ts":"garbage"}'), undefined);
  assert.deepEqual(toTailLine("not json", "m1"), {
    ts: "",
    level: "",
    node: "m1",
    subsystem: "",
    msg: "not json",
  });
  const l = toTailLine(
    '{"ts":"2026-11-21T08:00:00.000Z","level":"warning","node":"w2","subsystem":"swim","msg":"m","peer":"w3"}',
    "m1",
  );
  assert.deepEqual(l, {
    ts: "2026-11-21T08:00:00.000Z",
    level: "warning",
    node: "w2",
    subsystem: "swim",
    msg: "m",
    extra: '{"peer":"w3"}',
  });
  assert.equal(parseLevel("WARN"), "warn");
  assert.throws(() => parseLevel("verbose"), ElasticoreError);
});

Deno.test("logs cli: grep output is node:file:line:text; counts per node and total; warnings", () => {
  const r = {
    matches: [
      { node: "m1", file: "node.jsonl", line: 3, text: "a:b" },
      { node: "w1", file: "node-x.jsonl", line: 10, text: "c" },
    ],
    counts: [],
    nodes: [
      { node: "m1", total: 1, truncated: false, filesScanned: 1, bytesScanned: 9, tookMs: 1 },
      {
        node: "w1",
        total: 1,
        truncated: true,
        truncatedBy: "deadline",
        filesScanned: 1,
        bytesScanned: 9,
        tookMs: 1,
      },
    ],
    total: 2,
    truncated: true,
    partial: true,
    missing: [{ node: "w2", reason: "timeout: no answer within 10000 ms" }],
    errors: [],
    tookMs: 5,
  };
  const g = formatGrep(r, false);
  assert.deepEqual(g.out, ["m1:node.jsonl:3:a:b", "w1:node-x.jsonl:10:c"]);
  assert.deepEqual(g.warnings, [
    "warning: partial answer, missing: w2 (timeout: no answer within 10000 ms)",
    "warning: answer truncated (w1: deadline); narrow the pattern or raise --max",
  ]);
  assert.deepEqual(formatGrep(r, true).out, ["m1:1", "w1:1", "total:2"]);
  assert.equal(
    formatTailLine({
      ts: "2026-11-21T08:00:00.000Z",
      level: "warning",
      node: "w2",
      subsystem: "swim",
      msg: "suspect w3",
    }),
    "2026-11-21T08:00:00.000Z w2 WARN  swim      suspect w3",
  );
});

globalThis.addEventListener("unload", () => {
  Deno.removeSync(dir, { recursive: true });
});
