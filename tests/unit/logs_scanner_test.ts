import assert from "node:assert/strict";
import { join } from "node:path";
import { listLogFiles } from "../../lib/logs/files.ts";
import { generateLogFiles, RARE_STRINGS } from "../../lib/logs/generate.ts";
import type { GrepRequest } from "../../lib/logs/pattern.ts";
import { scanBytes, scanLogs, type ScanResult } from "../../lib/logs/scanner.ts";
import { ElasticoreError } from "../../lib/errors.ts";

/** Runs GNU grep (C.UTF-8) and returns its output lines. */
async function grep(args: string[], files: string[]): Promise<string[]> {
  const out = await new Deno.Command("grep", {
    args: [...args, "--", ...files],
    env: { LC_ALL: "C.UTF-8" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code > 1) throw new Error(`grep failed: ${new TextDecoder().decode(out.stderr)}`);
  const text = new TextDecoder().decode(out.stdout);
  return text === "" ? [] : text.replace(/\n$/, "").split("\n");
}

function grepArgs(req: GrepRequest): string[] {
  return [
    req.regex ? "-E" : "-F",
    ...(req.ignoreCase ? ["-i"] : []),
    req.count ? "-c" : "-n",
    "-e",
    req.pattern,
  ];
}

/** Our result in grep's output format (with -H file prefix, as grep prints for many files). */
function asGrepLines(r: ScanResult, count: boolean): string[] {
  return count
    ? r.counts.map((c) => `${c.file}:${c.count}`)
    : r.matches.map((m) => `${m.file}:${m.line}:${m.text}`);
}

async function assertSameAsGrep(
  files: string[],
  req: GrepRequest,
  opts: { chunkSize?: number } = {},
): Promise<number> {
  const ours = await scanLogs(files, req, { maxMatches: 1_000_000, ...opts });
  assert.equal(ours.truncated, false);
  const theirs = await grep(["-H", ...grepArgs(req)], files);
  const mine = asGrepLines(ours, req.count ?? false);
  assert.equal(mine.length, theirs.length, `line count for ${JSON.stringify(req)}`);
  for (let i = 0; i < mine.length; i++) {
    if (mine[i] !== theirs[i]) {
      assert.fail(
        `${JSON.stringify(req)} differs at ${i}:\n ours: ${mine[i]}\n grep: ${theirs[i]}`,
      );
    }
  }
  return req.count ? ours.counts.reduce((a, c) => a + c.count, 0) : ours.matches.length;
}

const dir = await Deno.makeTempDir({ prefix: "elasticore-logs-test-" });
const nodes = await generateLogFiles(dir, {
  seed: 7,
  nodes: 4,
  bytesPerNode: 900_000,
  rotateBytes: 300_000,
});
const files = nodes.flatMap((n) => n.files);

const CASES: Array<{ req: GrepRequest; min: number; max?: number }> = [
  { req: { pattern: "appended entries" }, min: 1000 },
  { req: { pattern: RARE_STRINGS[0] }, min: 1, max: 100 },
  { req: { pattern: "no such string anywhere" }, min: 0, max: 0 },
  { req: { pattern: '"level":"error"' }, min: 100 },
  { req: { pattern: "ERROR", ignoreCase: true }, min: 100 },
  { req: { pattern: "Checksum Mismatch", ignoreCase: true }, min: 1 },
  { req: { pattern: "KULLANICI", ignoreCase: true }, min: 1 },
  { req: { pattern: "größe", ignoreCase: true }, min: 1 },
  { req: { pattern: "ÉTÉ", ignoreCase: true }, min: 1 },
  { req: { pattern: "ζωή", ignoreCase: true }, min: 1 },
  { req: { pattern: "иван" }, min: 0, max: 0 },
  { req: { pattern: "Иван" }, min: 1 },
  { req: { pattern: "🚀" }, min: 1 },
  { req: { pattern: "blk_[0-9a-f]{3}ff", regex: true }, min: 1 },
  { req: { pattern: '"term":[0-9]+\\b', regex: true }, min: 100 },
  { req: { pattern: "at term [0-9]+$", regex: true }, min: 0 },
  { req: { pattern: '^\\{"ts":"[^"]*","level":"(warn|fatal)"', regex: true }, min: 10 },
  { req: { pattern: "(get|put) /v1/fs/.*[ée]", regex: true, ignoreCase: true }, min: 1 },
  { req: { pattern: "\\<w[0-9]\\> alive$", regex: true }, min: 0 },
  { req: { pattern: "[[:digit:]]{6}\\}$", regex: true }, min: 1 },
  { req: { pattern: "Sign_(Type|Post) .*Telespar", regex: true }, min: 1 },
  { req: { pattern: "[[:upper:]]{2}[[:alpha:]]+", regex: true }, min: 1 },
  { req: { pattern: "kullanıcı|Ζωή", regex: true, ignoreCase: true }, min: 1 },
];

Deno.test("logs scanner: matches and counts equal GNU grep on generated logs", async () => {
  for (const { req, min, max } of CASES) {
    const n = await assertSameAsGrep(files, req);
    assert.ok(n >= min && n <= (max ?? Infinity), `${JSON.stringify(req)}: ${n} matches`);
    await assertSameAsGrep(files, { ...req, count: true });
  }
});

Deno.test("logs scanner: small chunks (matches across chunk boundaries) equal GNU grep", async () => {
  for (const { req } of CASES.slice(0, 9)) {
    await assertSameAsGrep(files, req, { chunkSize: 4096 });
  }
  await assertSameAsGrep(files, CASES[14].req, { chunkSize: 4096 });
});

Deno.test("logs scanner: a pattern straddling the chunk boundary is found", async () => {
  const chunk = 4096;
  const needle = "STRADDLE-the-boundary";
  const pad = "x".repeat(chunk - 10);
  const file = join(dir, "straddle.jsonl");
  await Deno.writeTextFile(file, `first\n${pad.slice(6)}${needle}tail\nlast ${needle}\n`);
  const r = await scanLogs([file], { pattern: needle }, { chunkSize: chunk });
  assert.deepEqual(r.matches.map((m) => m.line), [2, 3]);
  assert.equal(r.matches[0].text, `${pad.slice(6)}${needle}tail`);
  await assertSameAsGrep([file], { pattern: needle }, { chunkSize: chunk });
  await assertSameAsGrep([file], { pattern: "the-bound", ignoreCase: true }, { chunkSize: chunk });
  await assertSameAsGrep([file], { pattern: "E-t.e-b", regex: true }, { chunkSize: chunk });
});

Deno.test("logs scanner: long lines grow the buffer; over maxLineBytes is an error", async () => {
  const file = join(dir, "long.jsonl");
  await Deno.writeTextFile(file, `a\n${"y".repeat(20_000)}needle\nb needle\n`);
  const r = await scanLogs([file], { pattern: "needle" }, { chunkSize: 4096 });
  assert.deepEqual(r.matches.map((m) => m.line), [2, 3]);
  await assert.rejects(
    scanLogs([file], { pattern: "needle" }, { chunkSize: 4096, maxLineBytes: 8192 }),
    (e: unknown) => e instanceof ElasticoreError && e.code === "logs_line_too_long",
  );
});

Deno.test("logs scanner: last line without newline, empty files, CRLF, empty lines", async () => {
  const noNl = join(dir, "nonl.jsonl");
  const empty = join(dir, "empty.jsonl");
  const crlf = join(dir, "crlf.jsonl");
  await Deno.writeTextFile(noNl, "alpha\nbeta\ngamma match");
  await Deno.writeTextFile(empty, "");
  await Deno.writeTextFile(crlf, "one match\r\ntwo\r\n\r\nthree MATCH\r\n");
  const all = [noNl, empty, crlf];
  for (
    const req of [
      { pattern: "match" },
      { pattern: "MATCH", ignoreCase: true },
      { pattern: "match$", regex: true },
      { pattern: "match.$", regex: true },
      { pattern: "^$", regex: true },
      { pattern: "^.?$", regex: true },
      { pattern: "" },
      { pattern: "a$", regex: true },
    ] satisfies GrepRequest[]
  ) {
    await assertSameAsGrep(all, req);
    await assertSameAsGrep(all, { ...req, count: true });
  }
  const r = await scanLogs([noNl], { pattern: "gamma" });
  assert.deepEqual(r.matches, [{ file: noNl, line: 3, text: "gamma match" }]);
  const c = await scanLogs([empty, crlf], { pattern: "match", count: true });
  assert.deepEqual(c.counts.map((x) => x.count), [0, 1]);
  assert.equal((await scanLogs([crlf], { pattern: "one" })).matches[0].text, "one match\r");
});

Deno.test("logs scanner: hostile regexes are rejected with logs_pattern_rejected", async () => {
  for (const pattern of ["(a+)+$", "(a|aa)*b", "(x*)*", ".*.*.*=", "(a)\\1", "(?=a)", "a{1000}"]) {
    await assert.rejects(
      scanLogs(files, { pattern, regex: true }),
      (e: unknown) => e instanceof ElasticoreError && e.code === "logs_pattern_rejected",
      pattern,
    );
  }
  assert.throws(
    () => scanBytes(new Uint8Array(0), { pattern: "a".repeat(513) }),
    (e: unknown) => e instanceof ElasticoreError && e.code === "logs_pattern_rejected",
  );
});

Deno.test("logs scanner: the deadline truncates the scan", async () => {
  let t = 0;
  const now = () => (t += 10);
  const r = await scanLogs(files, { pattern: "appended" }, { deadline: 35, now, chunkSize: 65536 });
  assert.equal(r.truncated, true);
  assert.equal(r.truncatedBy, "deadline");
  assert.ok(r.matches.length > 0);
  const full = await scanLogs(files, { pattern: "appended" }, { maxMatches: 1e6 });
  assert.ok(r.matches.length < full.matches.length);
  assert.deepEqual(r.matches, full.matches.slice(0, r.matches.length));
  const past = await scanLogs(files, { pattern: "appended" }, { deadline: 0 });
  assert.equal(past.truncatedBy, "deadline");
  assert.equal(past.filesScanned, 0);
});

Deno.test("logs scanner: maxMatches truncates; missing files are reported, not fatal", async () => {
  const r = await scanLogs(files, { pattern: "appended" }, { maxMatches: 5 });
  assert.equal(r.matches.length, 5);
  assert.equal(r.truncated, true);
  assert.equal(r.truncatedBy, "maxMatches");
  const exact = await scanLogs([files[0]], { pattern: RARE_STRINGS[0] }, { maxMatches: 1e6 });
  const limited = await scanLogs([files[0]], { pattern: RARE_STRINGS[0] }, {
    maxMatches: exact.matches.length,
  });
  assert.equal(limited.truncated, false);
  const gone = join(dir, "rotated-away.jsonl");
  const m = await scanLogs([gone, files[0]], { pattern: "appended", count: true });
  assert.equal(m.errors.length, 1);
  assert.equal(m.errors[0].code, "logs_file_missing");
  assert.equal(m.counts.length, 1);
  assert.ok(m.counts[0].count > 0);
});

Deno.test("logs scanner: listLogFiles orders rotated files oldest first, active last", async () => {
  for (const n of nodes) {
    assert.ok(n.files.length >= 3);
    assert.deepEqual(await listLogFiles(n.dataDir), n.files);
  }
  const d = await Deno.makeTempDir({ prefix: "elasticore-logs-test-" });
  try {
    assert.deepEqual(await listLogFiles(d), []);
    await Deno.mkdir(join(d, "logs"));
    for (
      const f of ["node-100.jsonl", "node-99.jsonl", "node.jsonl", "other.txt", "node-1000.jsonl"]
    ) {
      await Deno.writeTextFile(join(d, "logs", f), "");
    }
    assert.deepEqual(
      (await listLogFiles(d)).map((f) => f.slice(d.length + 6)),
      ["node-99.jsonl", "node-100.jsonl", "node-1000.jsonl", "node.jsonl"],
    );
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("logs scanner: -i lines that match only through ſ or ı are found", async () => {
  const file = join(dir, "exotic.jsonl");
  const filler = "padding line\n".repeat(400);
  await Deno.writeTextFile(
    file,
    `${filler}CHECKſUM one\n${filler}checksum two\nKULLANICI kullanıcı\n${filler}ſ ı\n`,
  );
  for (const pattern of ["checksum", "KULLANICI", "s ı", "S I"]) {
    await assertSameAsGrep([file], { pattern, ignoreCase: true }, { chunkSize: 4096 });
    await assertSameAsGrep([file], { pattern, ignoreCase: true, count: true });
  }
  const r = await scanLogs([file], { pattern: "checksum", ignoreCase: true });
  assert.deepEqual(r.matches.map((m) => m.text), ["CHECKſUM one", "checksum two"]);
});

Deno.test("logs scanner: generator is deterministic", async () => {
  const other = await Deno.makeTempDir({ prefix: "elasticore-logs-test-" });
  try {
    const again = await generateLogFiles(other, { seed: 7, nodes: 1, bytesPerNode: 50_000 });
    const first = await generateLogFiles(join(other, "b"), {
      seed: 7,
      nodes: 1,
      bytesPerNode: 50_000,
    });
    assert.deepEqual(
      await Deno.readFile(again[0].files[0]),
      await Deno.readFile(first[0].files[0]),
    );
    const lines = (await Deno.readTextFile(again[0].files[0])).trimEnd().split("\n");
    for (const line of lines) {
      const rec = JSON.parse(line);
      assert.equal(typeof rec.ts, "string");
      assert.ok(["debug", "info", "warn", "error", "fatal"].includes(rec.level));
      assert.equal(rec.node, "m1");
    }
  } finally {
    await Deno.remove(other, { recursive: true });
  }
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch {
    // already gone
  }
});
