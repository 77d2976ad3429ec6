import assert from "node:assert/strict";
import {
  appendMeta,
  applyOp,
  type BlockContent,
  blockIdFor,
  blockNoOf,
  commitMerge,
  createMeta,
  decodeMeta,
  decodeOp,
  encodeMeta,
  encodeOp,
  FILE_META_SCHEMAS,
  type FileMeta,
  type MetaOp,
  overwriteMeta,
  splitSizes,
  statMeta,
} from "../../lib/dfs/file_meta.ts";
import { isCompact, locate, planMerge } from "../../lib/dfs/file_layout.ts";
import { ReplicaApplier } from "../../lib/dfs/store/replica_applier.ts";
import { sha256Hex } from "../../lib/dfs/store/checksum.ts";
import { blockKey, ringIdToHex } from "../../lib/dfs/ring/id.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { ElasticoreError } from "../../lib/errors.ts";

const BS = 100;
const sum = (n: number) => sha256Hex(new TextEncoder().encode(String(n)));
const content = (sizes: number[]): BlockContent[] =>
  sizes.map((size, i) => ({ size, checksum: sum(size * 1000 + i) }));
const code = (fn: () => unknown): string => {
  try {
    fn();
    return "ok";
  } catch (e) {
    return e instanceof ElasticoreError ? e.code : String(e);
  }
};

function newFile(size = 250): FileMeta {
  return createMeta(null, {
    path: "/data/a.csv",
    fileId: "f1",
    blockBytes: BS,
    blocks: content(splitSizes(size, BS)),
    nowMs: 1000,
  }).record;
}

Deno.test("file meta: create lays out full-size blocks with placement-derived ids", () => {
  const rec = newFile(250);
  assert.equal(rec.size, 250);
  assert.equal(rec.version, 1);
  assert.equal(rec.appendSeq, 0);
  assert.deepEqual(rec.blocks.map((b) => b.size), [100, 100, 50]);
  assert.equal(rec.blocks[2].id, blockIdFor("/data/a.csv", "f1", 2));
  assert.ok(rec.blocks[2].id.startsWith(ringIdToHex(blockKey("/data/a.csv", 2))));
  assert.equal(blockNoOf(rec.blocks[2].id), 2);
  assert.equal(rec.nextBlockNo, 3);
  assert.deepEqual(decodeMeta(encodeMeta(rec)), rec);
  assert.ok(FILE_META_SCHEMAS["dfs.file_meta"].parse(rec));
  const empty = newFile(0);
  assert.deepEqual([empty.size, empty.blocks.length], [0, 0]);
});

Deno.test("file meta: create refuses to overwrite; overwrite bumps the version", () => {
  const rec = newFile(250);
  const again = { path: rec.path, fileId: "f2", blockBytes: BS, blocks: content([10]), nowMs: 5 };
  assert.equal(code(() => createMeta(rec, again)), "dfs_exists");
  const { record, op, obsolete } = createMeta(rec, { ...again, overwrite: true, nowMs: 2000 });
  assert.equal(record.version, 2);
  assert.equal(record.size, 10);
  assert.equal(record.appendSeq, 1);
  assert.equal(record.fileId, "f1", "an overwrite keeps the incarnation");
  assert.equal(record.createdMs, 1000);
  assert.equal(record.modifiedMs, 2000);
  assert.equal(blockNoOf(record.blocks[0].id), 3, "block numbers are never reused");
  assert.equal(record.blocks[0].version, 2);
  assert.equal(op?.kind, "overwrite");
  assert.deepEqual(obsolete, rec.blocks);
});

Deno.test("file meta: bad input gets typed errors naming what is wrong", () => {
  const base = { path: "/p", fileId: "f", blockBytes: BS, nowMs: 1 };
  assert.equal(
    code(() => createMeta(null, { ...base, blocks: content([50, 100]) })),
    "dfs_bad_meta",
  );
  assert.equal(code(() => createMeta(null, { ...base, blocks: content([101]) })), "dfs_bad_meta");
  assert.equal(
    code(() => createMeta(null, { ...base, blocks: [{ size: 5, checksum: "xyz" }] })),
    "dfs_bad_meta",
  );
  assert.equal(
    code(() => createMeta(null, { ...base, fileId: "a b", blocks: [] })),
    "dfs_bad_meta",
  );
  assert.equal(code(() => appendMeta(newFile(), [], 5)), "dfs_bad_meta");
  assert.equal(code(() => decodeMeta(new Uint8Array([0xc1]))), "dfs_bad_meta");
  const bad = { ...newFile(), size: 7 };
  assert.equal(code(() => decodeMeta(encodeMeta(bad))), "dfs_bad_meta");
  const { op } = appendMeta(newFile(), content([5]), 2);
  assert.ok(op);
  assert.equal(code(() => applyOp(newFile(), { ...op, seq: 3 })), "dfs_meta_order");
  assert.equal(
    code(() => applyOp(newFile(), { ...op, blocks: [{ ...op.blocks[0], id: "x" }] })),
    "dfs_bad_meta",
  );
  assert.deepEqual(decodeOp(encodeOp(op)), op);
});

Deno.test("file meta: appends add piece blocks in order; locate and stat see them", () => {
  let rec = newFile(250);
  const a1 = appendMeta(rec, content([30]), 2000);
  rec = a1.record;
  const a2 = appendMeta(rec, content([100, 20]), 3000);
  rec = a2.record;
  assert.equal(rec.size, 400);
  assert.equal(rec.appendSeq, 2);
  assert.equal(rec.version, 1, "appends do not bump the version");
  assert.deepEqual(rec.blocks.map((b) => b.size), [100, 100, 50, 30, 100, 20]);
  assert.deepEqual(rec.blocks.map((b) => blockNoOf(b.id)), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual([a1.op?.seq, a2.op?.seq], [1, 2]);
  const ext = locate(rec, 240, 50);
  assert.deepEqual(
    ext.map((e) => [e.index, e.start, e.end, e.fileOffset]),
    [[2, 40, 50, 240], [3, 0, 30, 250], [4, 0, 10, 280]],
  );
  assert.deepEqual(locate(rec, 390, 100).map((e) => [e.index, e.start, e.end]), [[5, 10, 20]]);
  const st = statMeta(rec);
  assert.deepEqual([st.size, st.blocks, st.pieces, st.appendSeq], [400, 6, 2, 2]);
  assert.equal(isCompact(rec), false);
});

Deno.test("file meta: merge rewrites pieces into full-size blocks and bumps the version", () => {
  let rec = newFile(250);
  rec = appendMeta(rec, content([30]), 2000).record;
  rec = appendMeta(rec, content([70, 45]), 2500).record;
  const plan = planMerge(rec);
  assert.ok(plan);
  assert.deepEqual(plan.targets.map((t) => t.size), [100, 100, 100, 95]);
  assert.deepEqual(plan.targets.map((t) => t.blockNo), [6, 7, 8, 9]);
  // Target 2 holds file bytes 200..300: the rest of block 2 (50), all of piece 3 (30), 20 of 4.
  assert.deepEqual(plan.targets[2].sources.map((s) => [s.index, s.start, s.end]), [
    [2, 0, 50],
    [3, 0, 30],
    [4, 0, 20],
  ]);
  const sums = plan.targets.map((t) => sum(t.blockNo));
  const stale = appendMeta(rec, content([1]), 2600).record;
  assert.equal(code(() => commitMerge(stale, plan, sums, 3000)), "dfs_meta_conflict");
  const { record, op, obsolete } = commitMerge(rec, plan, sums, 3000);
  assert.equal(record.version, 2);
  assert.equal(record.size, 395);
  assert.equal(record.appendSeq, 3);
  assert.equal(op?.kind, "merge");
  assert.equal(obsolete.length, 6);
  assert.equal(isCompact(record), true);
  assert.equal(planMerge(record), null, "nothing left to merge");
  assert.deepEqual(record.blocks.map((b) => b.version), [2, 2, 2, 2]);
  // Appends after a merge continue the block numbering with the new version.
  const after = appendMeta(record, content([5]), 4000).record;
  assert.equal(blockNoOf(after.blocks[4].id), 10);
  assert.equal(after.blocks[4].version, 2);
});

/** A primary history of random appends, overwrites and merges from `rec`. */
function history(prng: Prng, start: FileMeta, n: number): { ops: MetaOp[]; final: FileMeta } {
  let rec = start;
  const ops: MetaOp[] = [];
  for (let i = 0; i < n; i++) {
    const r = prng.int(10);
    let change;
    if (r < 7) {
      const sizes = Array.from({ length: 1 + prng.int(3) }, () => 1 + prng.int(BS));
      change = appendMeta(rec, content(sizes), 1000 + i);
    } else if (r < 8) {
      change = overwriteMeta(rec, content(splitSizes(prng.int(300), BS)), 1000 + i);
    } else {
      const plan = planMerge(rec);
      if (!plan) continue;
      change = commitMerge(rec, plan, plan.targets.map((t) => sum(t.blockNo)), 1000 + i);
    }
    assert.ok(change.op);
    ops.push(change.op);
    rec = change.record;
  }
  return { ops, final: rec };
}

Deno.test("replica applier: random orders with duplicates apply exactly once, in order", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const prng = new Prng(seed);
    const start = newFile(prng.int(400));
    const { ops, final } = history(prng, start, 30 + prng.int(30));
    // Deliveries: every op at least once, some several times, in a random order.
    const deliveries = [...ops];
    for (let i = 0; i < ops.length; i++) if (prng.chance(0.4)) deliveries.push(prng.pick(ops));
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = prng.int(i + 1);
      [deliveries[i], deliveries[j]] = [deliveries[j], deliveries[i]];
    }
    const applier = new ReplicaApplier(start);
    const appliedSeqs: number[] = [];
    let duplicates = 0;
    for (const op of deliveries) {
      const res = applier.deliver(structuredClone(op));
      if (res.status === "duplicate") duplicates++;
      appliedSeqs.push(...res.applied.map((o) => o.seq));
    }
    assert.deepEqual(appliedSeqs, ops.map((o) => o.seq), `seed ${seed}: applied once, in order`);
    assert.equal(duplicates, deliveries.length - ops.length, `seed ${seed}`);
    assert.deepEqual(applier.record, final, `seed ${seed}: replica equals the primary`);
    assert.equal(applier.buffered, 0);
  }
});

Deno.test("replica applier: gaps, window and conflicting duplicates", () => {
  const prng = new Prng(99);
  const start = newFile(100);
  const { ops } = history(prng, start, 10);
  const applier = new ReplicaApplier(start, { window: 5 });
  assert.equal(applier.deliver(ops[2]).status, "buffered");
  assert.equal(applier.deliver(ops[4]).status, "buffered");
  assert.deepEqual(applier.missing(), [1, 2, 4]);
  assert.equal(applier.deliver(ops[2]).status, "duplicate");
  assert.equal(code(() => applier.deliver({ ...ops[2], nowMs: 1 })), "dfs_meta_conflict");
  assert.equal(code(() => applier.deliver(ops[7])), "dfs_meta_backlog");
  assert.equal(applier.deliver(ops[0]).applied.length, 1);
  assert.deepEqual(applier.deliver(ops[1]).applied.map((o) => o.seq), [2, 3]);
  assert.equal(applier.deliver(ops[0]).status, "duplicate");
  assert.equal(applier.appliedSeq, 3);
});
