import assert from "node:assert/strict";
import { decode } from "@msgpack/msgpack";
import { decodeFrame, encodeFrame, FrameKind, MessageRegistry } from "../../proto/codec.ts";
import { type RaftMessage, raftMessages, raftWireType } from "../../proto/raft.ts";
import {
  applyConfChange,
  ConfChangeError,
  decodeConfEntry,
  encodeConfEntry,
} from "../../lib/raft/confchange.ts";
import { RaftLog } from "../../lib/raft/log.ts";
import { Progress, quorumIndex, tallyVotes } from "../../lib/raft/progress.ts";
import { RaftDiskStorage } from "../../lib/raft/storage.ts";
import { type Entry, RaftInvariantError } from "../../lib/raft/types.ts";
import { SimDisk } from "../../lib/sim/disk.ts";

const ent = (index: number, term: number): Entry => ({
  index,
  term,
  kind: "normal",
  data: new Uint8Array([index]),
});

function logWith(terms: number[], commit = 0): RaftLog {
  return new RaftLog({
    hardState: { term: 9, vote: "", commit },
    snapshot: { index: 0, term: 0, voters: ["a"], learners: [], data: new Uint8Array(0) },
    entries: terms.map((t, i) => ent(i + 1, t)),
  });
}

Deno.test("raft log: maybeAppend keeps matching entries and truncates at the first conflict", () => {
  const log = logWith([1, 1, 2, 2, 2]);
  assert.equal(log.maybeAppend(5, 1, 0, [ent(6, 3)]), -1, "prev term mismatch is a reject");
  assert.equal(log.maybeAppend(2, 1, 3, [ent(3, 2), ent(4, 3)]), 4);
  assert.equal(log.lastIndex(), 4, "entry 5 (term 2) went with the conflict at 4");
  assert.equal(log.term(4), 3);
  assert.equal(log.committed, 3);
  assert.equal(log.maybeAppend(1, 1, 3, [ent(2, 1)]), 2, "an old duplicate changes nothing");
  assert.equal(log.lastIndex(), 4);
  assert.throws(
    () => log.maybeAppend(1, 1, 3, [ent(2, 5)]),
    RaftInvariantError,
    "overwriting a committed entry is a broken invariant",
  );
});

Deno.test("raft log: indexes compare as numbers, and the back-off hint skips whole terms", () => {
  const terms = Array.from({ length: 120 }, (_, i) => (i < 9 ? 1 : i < 100 ? 4 : 6));
  const log = logWith(terms);
  assert.equal(log.lastIndex(), 120);
  assert.ok(log.isUpToDate(120, 6));
  assert.ok(!log.isUpToDate(99, 6), "index 99 < 120 numerically (not as strings)");
  assert.ok(log.isUpToDate(10, 7));
  assert.deepEqual(log.findConflictByTerm(120, 5), [100, 4]);
  assert.deepEqual(log.findConflictByTerm(120, 3), [9, 1]);
  assert.deepEqual(log.findConflictByTerm(120, 0), [0, 0]);
});

Deno.test("raft log: slice, stability, compaction and the configuration at an index", () => {
  const log = logWith([1, 1, 1, 1, 1], 0);
  assert.deepEqual(log.slice(2, 2, 1 << 20).map((e) => e.index), [2, 3]);
  assert.deepEqual(log.slice(2, 10, 1).map((e) => e.index), [2], "at least one entry");
  log.append([{
    index: 6,
    term: 2,
    kind: "conf",
    data: encodeConfEntry(
      { op: "add_learner", node: "b" },
      { voters: ["a"], learners: ["b"] },
    ),
  }]);
  assert.deepEqual(log.unstableEntries().map((e) => e.index), [6]);
  log.stableTo(6, 2);
  assert.equal(log.unstableEntries().length, 0);
  assert.deepEqual(log.confAt(5), { voters: ["a"], learners: [] });
  assert.deepEqual(log.confAt(6), { voters: ["a"], learners: ["b"] });
  log.commitTo(6);
  assert.throws(() => log.compact(4, new Uint8Array(0)), RaftInvariantError, "not applied yet");
  log.applied = 6;
  const snap = log.compact(6, new Uint8Array([1]));
  assert.deepEqual([snap.index, snap.term, snap.learners], [6, 2, ["b"]]);
  assert.equal(log.firstIndex(), 7);
  assert.equal(log.term(5), undefined);
  assert.deepEqual(log.confAt(6), { voters: ["a"], learners: ["b"] });
});

Deno.test("raft progress: probe, replicate with a bounded window, stale rejections", () => {
  const pr = new Progress(11, false, 2);
  assert.equal(pr.isPaused(), false);
  pr.probeSent = true;
  assert.equal(pr.isPaused(), true, "probe: one append at a time");
  assert.equal(pr.maybeDecrTo(9, 3), false, "a rejection of an append we did not send is stale");
  assert.equal(pr.maybeDecrTo(10, 3), true);
  assert.equal(pr.next, 4, "jumps to the follower's hint");
  assert.ok(pr.maybeUpdate(5));
  pr.becomeReplicate();
  pr.inflights.add(7);
  pr.inflights.add(9);
  assert.equal(pr.isPaused(), true, "window full");
  pr.inflights.freeLE(7);
  assert.equal(pr.isPaused(), false);
  assert.equal(pr.maybeDecrTo(4, 0), false, "rejection below match is stale");
  assert.equal(quorumIndex(["a", "b", "c"], (id) => ({ a: 10, b: 3, c: 7 })[id] ?? 0), 7);
  assert.equal(quorumIndex(["a", "b", "c", "d"], (id) => ({ a: 10, b: 3, c: 7, d: 1 })[id]!), 3);
  const conf = { voters: ["a", "b", "c"], learners: ["d"] };
  assert.equal(tallyVotes(conf, new Map([["a", true], ["d", true]])), "pending");
  assert.equal(tallyVotes(conf, new Map([["a", true], ["b", true]])), "won");
  assert.equal(tallyVotes(conf, new Map([["b", false], ["c", false]])), "lost");
});

Deno.test("raft conf changes: validation and entry encoding", () => {
  const cs = { voters: ["a", "b"], learners: [] };
  const plus = applyConfChange(cs, { op: "add_learner", node: "c" });
  assert.deepEqual(plus, { voters: ["a", "b"], learners: ["c"] });
  assert.deepEqual(applyConfChange(plus, { op: "promote", node: "c" }).voters, ["a", "b", "c"]);
  assert.throws(() => applyConfChange(cs, { op: "add_learner", node: "a" }), ConfChangeError);
  assert.throws(() => applyConfChange(cs, { op: "remove", node: "z" }), /not a member/);
  assert.throws(
    () => applyConfChange({ voters: ["a"], learners: [] }, { op: "remove", node: "a" }),
    /last voter/,
  );
  const data = encodeConfEntry({ op: "add_learner", node: "c" }, plus);
  assert.deepEqual(decodeConfEntry(data).learners, ["c"]);
  assert.throws(() => decodeConfEntry(new Uint8Array([0xc1])), ConfChangeError);
});

Deno.test("raft wire: every message type round-trips through the codec and bad ones are rejected", () => {
  const reg = new MessageRegistry().register(raftMessages);
  const e = ent(3, 2);
  const msgs: RaftMessage[] = [
    { type: "vote", from: "a", to: "b", term: 3, lastIndex: 9, lastTerm: 2, transfer: true },
    { type: "prevote", from: "a", to: "b", term: 3, lastIndex: 9, lastTerm: 2 },
    { type: "vote_resp", from: "b", to: "a", term: 3, reject: false },
    { type: "prevote_resp", from: "b", to: "a", term: 3, reject: true },
    {
      type: "append",
      from: "a",
      to: "b",
      term: 3,
      prevIndex: 2,
      prevTerm: 2,
      entries: [e],
      commit: 2,
    },
    {
      type: "append_resp",
      from: "b",
      to: "a",
      term: 3,
      index: 2,
      reject: true,
      hintIndex: 1,
      hintTerm: 1,
    },
    { type: "heartbeat", from: "a", to: "b", term: 3, commit: 2, ctx: new Uint8Array([1]) },
    { type: "heartbeat_resp", from: "b", to: "a", term: 3 },
    {
      type: "snapshot",
      from: "a",
      to: "b",
      term: 3,
      snapshot: { index: 5, term: 2, voters: ["a"], learners: [], data: new Uint8Array([9]) },
    },
    { type: "timeout_now", from: "a", to: "b", term: 3 },
    { type: "read_index", from: "b", to: "a", term: 3, ctx: new Uint8Array([4]) },
    {
      type: "read_index_resp",
      from: "a",
      to: "b",
      term: 3,
      index: 7,
      ctx: new Uint8Array([4]),
      reject: false,
    },
  ];
  assert.equal(new Set(msgs.map((m) => m.type)).size, Object.keys(raftMessages).length);
  for (const m of msgs) {
    const frame = encodeFrame({ kind: FrameKind.Message, id: 0, type: raftWireType(m), body: m });
    const r = decodeFrame(frame, reg);
    assert.ok(r.ok, `${m.type} decodes`);
    if (r.ok) assert.deepEqual(r.value.body, m);
  }
  const bad = encodeFrame({
    kind: FrameKind.Message,
    id: 0,
    type: "raft.append",
    body: { ...msgs[4], prevIndex: -1 },
  });
  const r = decodeFrame(bad, reg);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, "bad_field");
  assert.ok(Array.isArray(decode(bad.subarray(4))));
});

Deno.test("raft storage: Readies persisted on a SimDisk survive a crash only once synced", () => {
  const disk = new SimDisk<unknown>();
  const st = new RaftDiskStorage(disk);
  st.bootstrap(["a", "b", "c"]);
  st.save({
    entries: [ent(1, 1), ent(2, 1)],
    hardState: { term: 1, vote: "a", commit: 1 },
    committed: [],
    messages: [],
    readStates: [],
  });
  st.sync();
  st.save({
    entries: [ent(2, 2), ent(3, 2)],
    hardState: { term: 2, vote: "b", commit: 1 },
    committed: [],
    messages: [],
    readStates: [],
  });
  assert.deepEqual(new RaftDiskStorage(disk).load().entries.map((e) => e.term), [1, 2, 2]);
  disk.crash();
  const after = new RaftDiskStorage(disk).load();
  assert.deepEqual(after.entries.map((e) => [e.index, e.term]), [[1, 1], [2, 1]]);
  assert.deepEqual(after.hardState, { term: 1, vote: "a", commit: 1 });
  assert.deepEqual(after.snapshot.voters, ["a", "b", "c"]);
});
