import assert from "node:assert/strict";
import {
  CheckpointCoordinator,
  type CoordinatorEffect,
} from "../../lib/stream/checkpoint/coordinator.ts";
import { BarrierAligner } from "../../lib/stream/checkpoint/aligner.ts";
import { TransactionalSink } from "../../lib/stream/checkpoint/sink.ts";
import { checkSequences } from "../../lib/stream/sequences.ts";
import { MessageRegistry } from "../../proto/codec.ts";
import { decodeFrame, encodeFrame, FrameKind } from "../../proto/codec.ts";
import { streamMessages } from "../../proto/stream.ts";

const tasks = ["s0", "a0", "b0"];
function coord(extra: Partial<ConstructorParameters<typeof CheckpointCoordinator>[0]> = {}) {
  return new CheckpointCoordinator({
    tasks,
    sources: ["s0"],
    intervalTicks: 2,
    timeoutTicks: 5,
    ...extra,
  });
}
function types(e: CoordinatorEffect[]): string[] {
  return e.map((x) => x.type);
}
function ackAll(c: CheckpointCoordinator, id: number, who = tasks) {
  for (const t of who) {
    c.step({
      type: "ack",
      checkpointId: id,
      taskId: t,
      ack: { stateHandle: `${t}@${id}`, sourceOffsets: t === "s0" ? { s0: id * 10 } : undefined },
    });
  }
}

Deno.test("coordinator: triggers on the interval and completes when every task acked", () => {
  const c = coord();
  c.tick();
  assert.deepEqual(c.ready(), []);
  c.tick();
  assert.deepEqual(c.ready(), [{ type: "trigger", checkpointId: 1, sources: ["s0"] }]);
  ackAll(c, 1, ["s0", "a0"]);
  ackAll(c, 1, ["a0"]); // duplicate ack
  assert.deepEqual(c.ready(), []);
  ackAll(c, 1, ["b0"]);
  const [done] = c.ready();
  assert.equal(done.type, "complete");
  assert.equal(c.latestCompleted?.id, 1);
  assert.deepEqual(c.latestCompleted?.sourceOffsets, { s0: 10 });
  assert.deepEqual(c.latestCompleted?.states, { s0: "s0@1", a0: "a0@1", b0: "b0@1" });
  ackAll(c, 1); // late acks of a completed checkpoint are ignored
  assert.deepEqual(c.ready(), []);
});

Deno.test("coordinator: timeout aborts, a later checkpoint succeeds, old ones are discarded", () => {
  const c = coord({ retain: 1 });
  c.tick();
  c.tick();
  c.ready();
  ackAll(c, 1, ["s0"]);
  for (let i = 0; i < 5; i++) c.tick();
  const eff = c.ready();
  assert.deepEqual(types(eff), ["abort", "discard", "trigger"]);
  assert.deepEqual(eff[0], { type: "abort", checkpointId: 1, reason: "timeout" });
  assert.equal(c.stats.timedOut, 1);
  ackAll(c, 2);
  assert.deepEqual(types(c.ready()), ["complete"]);
  c.step({ type: "trigger" });
  ackAll(c, 3);
  const e3 = c.ready();
  assert.deepEqual(types(e3), ["trigger", "complete", "discard"]);
  assert.deepEqual(e3[2], {
    type: "discard",
    checkpointId: 2,
    stateHandles: ["s0@2", "a0@2", "b0@2"],
  });
});

Deno.test("coordinator: concurrency limit, subsumption and decline", () => {
  const c = coord({ maxConcurrent: 2, timeoutTicks: 100 });
  for (let i = 0; i < 8; i++) c.tick();
  assert.deepEqual(c.pendingIds, [1, 2]);
  assert.ok(c.stats.postponed > 0);
  ackAll(c, 2);
  const eff = c.ready();
  assert.ok(eff.some((e) => e.type === "abort" && e.checkpointId === 1));
  assert.equal(c.latestCompleted?.id, 2);
  c.step({ type: "trigger" });
  c.step({ type: "decline", checkpointId: 3, taskId: "a0", reason: "busy" });
  assert.deepEqual(c.pendingIds, []);
});

Deno.test("coordinator: a task failure aborts pending checkpoints and restores the latest", () => {
  const c = coord({ timeoutTicks: 100 });
  c.tick();
  c.tick();
  ackAll(c, 1);
  c.tick();
  c.tick();
  c.ready();
  assert.deepEqual(c.pendingIds, [2]);
  c.step({ type: "taskFailed", taskId: "a0", reason: "crash" });
  const eff = c.ready();
  assert.deepEqual(types(eff), ["abort", "restore"]);
  const restore = eff[1];
  assert.ok(restore.type === "restore" && restore.checkpoint?.id === 1 && restore.attempt === 1);
  for (let i = 0; i < 10; i++) c.tick();
  assert.deepEqual(c.ready(), [], "no triggers while restoring");
  ackAll(c, 2);
  assert.deepEqual(c.ready(), [], "stale acks ignored");
  c.step({ type: "restored", attempt: 1 });
  c.tick();
  c.tick();
  assert.deepEqual(c.ready(), [{ type: "trigger", checkpointId: 3, sources: ["s0"] }]);
  const fresh = coord();
  fresh.step({ type: "taskFailed", taskId: "s0", reason: "x" });
  assert.deepEqual(fresh.ready(), [{ type: "restore", attempt: 1, checkpoint: null }]);
  const failover = coord({ recovered: { completed: [c.latestCompleted!], nextCheckpointId: 2 } });
  assert.equal(failover.nextCheckpointId, 2);
  assert.throws(() => coord({ sources: ["zz"] }), RangeError);
});

Deno.test("aligner: blocks channels that delivered the barrier until all have", () => {
  const a = new BarrierAligner<string>(["x", "y"]);
  assert.deepEqual(a.push("x", { kind: "record", value: "x1" }), [{
    type: "record",
    channel: "x",
    value: "x1",
  }]);
  assert.deepEqual(a.push("x", { kind: "barrier", checkpointId: 1 }), []);
  assert.ok(a.isBlocked("x"));
  assert.deepEqual(a.push("x", { kind: "record", value: "x2" }), []);
  assert.equal(a.buffered, 1);
  assert.deepEqual(a.push("y", { kind: "record", value: "y1" }), [{
    type: "record",
    channel: "y",
    value: "y1",
  }]);
  assert.deepEqual(a.push("y", { kind: "barrier", checkpointId: 1 }), [
    { type: "checkpoint", checkpointId: 1 },
    { type: "record", channel: "x", value: "x2" },
  ]);
  assert.equal(a.lastFinished, 1);
  assert.deepEqual(a.push("y", { kind: "barrier", checkpointId: 1 }), [], "duplicate ignored");
});

Deno.test("aligner: a newer barrier aborts a checkpoint whose barrier was lost", () => {
  const a = new BarrierAligner<string>(["x", "y"]);
  a.push("x", { kind: "barrier", checkpointId: 1 });
  a.push("x", { kind: "record", value: "x1" });
  a.push("x", { kind: "barrier", checkpointId: 2 });
  assert.deepEqual(a.push("y", { kind: "barrier", checkpointId: 2 }), [
    { type: "abort", checkpointId: 1 },
    { type: "record", channel: "x", value: "x1" },
    { type: "checkpoint", checkpointId: 2 },
  ]);
  const b = new BarrierAligner<string>(["x", "y"]);
  b.push("x", { kind: "barrier", checkpointId: 5 });
  b.push("x", { kind: "record", value: "held" });
  assert.deepEqual(b.abort(5), [
    { type: "abort", checkpointId: 5 },
    { type: "record", channel: "x", value: "held" },
  ]);
  assert.deepEqual(b.push("y", { kind: "barrier", checkpointId: 5 }), [], "aborted id ignored");
  assert.deepEqual(b.push("y", { kind: "barrier", checkpointId: 4 }), [], "stale id ignored");
  assert.deepEqual(b.push("y", { kind: "end" }), []);
  assert.deepEqual(b.push("x", { kind: "barrier", checkpointId: 6 }), [{
    type: "checkpoint",
    checkpointId: 6,
  }]);
  assert.deepEqual(b.push("x", { kind: "end" }), [{ type: "end" }]);
  assert.throws(() => b.push("q", { kind: "end" }), RangeError);
});

Deno.test("transactional sink: commit on completion, idempotent, restore discards", () => {
  const written: number[][] = [];
  const s = new TransactionalSink<number>((r) => written.push([...r]));
  s.write(1);
  s.write(2);
  s.preCommit(1);
  s.write(3);
  s.preCommit(2);
  s.write(4);
  assert.deepEqual(s.committed, []);
  assert.equal(s.commit(1), 2);
  assert.equal(s.commit(1), 0);
  assert.deepEqual(s.committed, [1, 2]);
  s.restore(1);
  assert.deepEqual(s.stagedIds, []);
  assert.equal(s.openCount, 0);
  s.write(3);
  s.preCommit(3);
  s.restore(2); // 3 was staged after the restored checkpoint
  assert.deepEqual(s.stagedIds, []);
  s.write(5);
  s.preCommit(4);
  assert.equal(s.commit(4), 1);
  assert.deepEqual(s.committed, [1, 2, 5]);
  assert.deepEqual(written, [[1, 2], [5]]);
});

Deno.test("checkSequences finds gaps, repeats and short keys", () => {
  const ok = checkSequences([{ key: "a", value: 1 }, { key: "b", value: 1 }, {
    key: "a",
    value: 2,
  }]);
  assert.ok(ok.ok);
  assert.equal(ok.keys, 2);
  const bad = checkSequences(
    [{ key: "a", value: 1 }, { key: "a", value: 1 }, { key: "a", value: 3 }, {
      key: "c",
      value: 1,
    }],
    { expectLast: new Map([["a", 4], ["b", 1]]) },
  );
  assert.equal(bad.ok, false);
  assert.deepEqual(bad.problems, [
    "key a: expected 2, got 1 (repeat)",
    "key a: expected 2, got 3 (gap)",
    "key a: ended at 3, expected 4",
    "key b: ended at 0, expected 1",
    "unexpected key c",
  ]);
});

Deno.test("proto: stream messages register and round-trip; bad bodies are rejected", () => {
  const reg = new MessageRegistry().register(streamMessages);
  const body = {
    job: "j",
    attempt: 1,
    from: "a0",
    to: "b1",
    seq: 4,
    records: [{ k: "x", n: 2 }],
    barrier: 3,
  };
  const f = encodeFrame({ kind: FrameKind.Message, id: 0, type: "stream.batch", body });
  const d = decodeFrame(f, reg);
  assert.ok(d.ok);
  assert.deepEqual(d.value.body, body);
  const bad = encodeFrame({
    kind: FrameKind.Message,
    id: 0,
    type: "stream.batch",
    body: { ...body, records: [{ k: { nested: 1 } }] },
  });
  const r = decodeFrame(bad, reg);
  assert.ok(!r.ok && r.error.code === "bad_field");
  assert.ok(reg.types().includes("stream.ack"));
});
