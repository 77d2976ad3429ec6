/**
 * Block ids of appends carry a nonce per planning attempt: a batch that
 * failed after storing its blocks and the batch that replaces it use the
 * same block numbers but different ids, so a replica still holding the
 * failed batch's block never refuses the new one as "different content".
 */
import assert from "node:assert/strict";
import {
  appendMeta,
  applyOp,
  blockIdFor,
  blockNoOf,
  createMeta,
  isBlockOf,
  newBlockNonce,
  validateMeta,
} from "../../lib/dfs/file_meta.ts";
import { planMerge } from "../../lib/dfs/file_layout.ts";

const SHA = "a".repeat(64);
const SHB = "b".repeat(64);

Deno.test("append block ids: same number, different nonce per attempt; both apply", () => {
  const { record } = createMeta(null, {
    path: "/f",
    fileId: "F1",
    blockBytes: 1024,
    blocks: [],
    nowMs: 1,
  });
  const n1 = newBlockNonce();
  const n2 = newBlockNonce();
  assert.notEqual(n1, n2);
  assert.match(n1, /^[0-9a-z]{1,16}$/);
  const failed = appendMeta(record, [{ size: 10, checksum: SHA }], 2, n1);
  const retry = appendMeta(record, [{ size: 12, checksum: SHB }], 3, n2);
  const [a] = failed.op!.blocks;
  const [b] = retry.op!.blocks;
  assert.notEqual(a.id, b.id, "the retry must not reuse the failed attempt's block id");
  assert.equal(blockNoOf(a.id), 0);
  assert.equal(blockNoOf(b.id), 0);
  // A replica applies the retry's op on the record the failed attempt never changed.
  const applied = applyOp(record, retry.op!);
  validateMeta(applied);
  assert.equal(applied.blocks[0].id, b.id);
  // Ids without a nonce (records written before) stay valid.
  const old = appendMeta(record, [{ size: 5, checksum: SHA }], 4);
  assert.equal(old.op!.blocks[0].id, blockIdFor("/f", "F1", 0));
  validateMeta(applyOp(record, old.op!));
});

Deno.test("isBlockOf: the number, file incarnation and path must match; junk suffixes refused", () => {
  const base = blockIdFor("/f", "F1", 3);
  assert.ok(isBlockOf(base, "/f", "F1", 3));
  assert.ok(isBlockOf(`${base}.k2x9`, "/f", "F1", 3));
  assert.ok(!isBlockOf(`${base}.K!`, "/f", "F1", 3));
  assert.ok(!isBlockOf(`${base}.a.b`, "/f", "F1", 3));
  assert.ok(!isBlockOf(blockIdFor("/f", "F2", 3, "x"), "/f", "F1", 3));
  assert.ok(!isBlockOf(blockIdFor("/g", "F1", 3, "x"), "/f", "F1", 3));
  assert.ok(!isBlockOf(blockIdFor("/f", "F1", 4, "x"), "/f", "F1", 3));
  assert.equal(blockNoOf(`${base}.a.b`), -1);
  assert.equal(blockNoOf(`${base}.${"z".repeat(17)}`), -1);
});

Deno.test("merge targets carry the nonce too", () => {
  let rec = createMeta(null, { path: "/m", fileId: "M1", blockBytes: 64, blocks: [], nowMs: 1 })
    .record;
  for (let i = 0; i < 3; i++) {
    rec = appendMeta(rec, [{ size: 10, checksum: SHA }], 2 + i, newBlockNonce()).record;
  }
  const plan = planMerge(rec, "nn1")!;
  assert.ok(plan.targets.every((t) => t.id.endsWith(".nn1") && blockNoOf(t.id) === t.blockNo));
});
