import assert from "node:assert/strict";
import { ElasticoreError } from "../../lib/errors.ts";
import {
  checkPath,
  InvalidPathError,
  joinPath,
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  normalizePath,
  parentPath,
  type PathProblem,
  pathSegments,
} from "../../lib/dfs/paths.ts";

function rejects(input: unknown, problem: PathProblem, segment?: string): InvalidPathError {
  const r = checkPath(input);
  assert.equal(r.ok, false, `expected ${JSON.stringify(input)} to be rejected`);
  if (r.ok) throw new Error("unreachable");
  assert.ok(r.error instanceof ElasticoreError);
  assert.equal(r.error.code, "fs_invalid_path");
  assert.equal(r.error.status, 400);
  assert.equal(r.error.problem, problem, r.error.message);
  if (segment !== undefined) assert.equal(r.error.segment, segment);
  return r.error;
}

Deno.test("valid paths normalize to one absolute form", () => {
  assert.equal(normalizePath("/a/b/c"), "/a/b/c");
  assert.equal(normalizePath("a/b/c"), "/a/b/c");
  assert.equal(normalizePath("/a/b/"), "/a/b");
  assert.equal(normalizePath("a"), "/a");
  assert.equal(normalizePath("/"), "/");
  assert.equal(normalizePath("/data/TrafficSigns_1000.csv"), "/data/TrafficSigns_1000.csv");
  assert.equal(normalizePath("/a/...b/.c/c."), "/a/...b/.c/c.");
  assert.equal(normalizePath("/ü/日本/😀"), "/ü/日本/😀");
});

Deno.test("normalization is NFC and idempotent", () => {
  const decomposed = "/cafe\u0301";
  const composed = "/caf\u00e9";
  assert.equal(normalizePath(decomposed), composed);
  assert.equal(normalizePath(normalizePath(decomposed)), composed);
});

Deno.test("dot, dot-dot and empty segments are rejected with the segment named", () => {
  rejects("/a/../b", "dotdot_segment", "..");
  rejects("..", "dotdot_segment", "..");
  rejects("/a/./b", "dot_segment", ".");
  rejects("./a", "dot_segment", ".");
  rejects("/a//b", "empty_segment", "");
  rejects("//", "empty_segment");
  rejects("/a/b//", "empty_segment");
  rejects("", "empty");
  const e = rejects("/x/../y", "dotdot_segment");
  assert.match(e.message, /'\.\.'/);
  assert.match(e.toLine(), /^error\[fs_invalid_path\]/);
});

Deno.test("control characters, NUL and backslashes are rejected", () => {
  rejects("/a/b\u0000c", "nul", "b\u0000c");
  rejects("/a/\u0001", "control_character", "\u0001");
  rejects("/a\u001f/b", "control_character", "a\u001f");
  rejects("/a/\u007f", "control_character", "\u007f");
  rejects("/a\nb", "control_character");
  rejects("/a\\b", "backslash", "a\\b");
  rejects("C:\\dir", "backslash");
  const e = rejects("/ok/bad\u0007name", "control_character");
  assert.match(e.message, /U\+0007/);
  assert.match(e.message, /bad/);
});

Deno.test("names over 255 bytes and paths over 4096 bytes are rejected", () => {
  const okName = "n".repeat(MAX_NAME_BYTES);
  assert.equal(normalizePath(`/${okName}`), `/${okName}`);
  rejects(`/${"n".repeat(MAX_NAME_BYTES + 1)}`, "name_too_long");
  // 128 three-byte characters are 384 bytes: too long although only 128 code units.
  rejects(`/${"日".repeat(128)}`, "name_too_long");
  const segs = Array.from({ length: 16 }, () => "x".repeat(255));
  const exact = `/${segs.join("/")}`; // 16 * 256 = 4096 bytes
  assert.equal(new TextEncoder().encode(exact).byteLength, MAX_PATH_BYTES);
  assert.equal(normalizePath(exact), exact);
  rejects(`${exact}/y`, "path_too_long");
  rejects("/a".repeat(20000), "path_too_long");
});

Deno.test("non-strings and invalid Unicode are rejected", () => {
  rejects(42, "not_a_string");
  rejects(null, "not_a_string");
  rejects("/a\ud800b", "invalid_unicode");
  rejects("/a\udc00", "invalid_unicode");
});

Deno.test("segments, parent and join helpers", () => {
  assert.deepEqual(pathSegments("a/b/c"), ["a", "b", "c"]);
  assert.deepEqual(pathSegments("/"), []);
  assert.equal(parentPath("/a/b/c"), "/a/b");
  assert.equal(parentPath("/a"), "/");
  assert.equal(parentPath("/"), "/");
  assert.equal(joinPath("/a", "b"), "/a/b");
  assert.equal(joinPath("/", "b"), "/b");
  assert.throws(() => joinPath("/a", "b/c"), InvalidPathError);
  assert.throws(() => joinPath("/a", ".."), InvalidPathError);
});
