import assert from "node:assert/strict";
import {
  checkRing,
  type MemberView,
  sortByRingId,
  trueSuccessor,
  trueSuccessors,
} from "../../lib/dfs/ring/invariants.ts";
import { ringIdOf } from "../../lib/dfs/ring/id.ts";

const ids = sortByRingId(Array.from({ length: 8 }, (_, i) => `m${i}`));

/** Correct pointers for `members` (sorted by ring id) with lists of length r. */
function correct(members: string[], r: number): MemberView[] {
  const n = members.length;
  return members.map((id, i) => ({
    id,
    predecessor: members[(i - 1 + n) % n],
    successors: Array.from({ length: Math.min(r, n - 1) }, (_, k) => members[(i + k + 1) % n]),
  }));
}

Deno.test("a correct ring passes every check and is stable", () => {
  const c = checkRing(correct(ids, 3), 3);
  assert.deepEqual(c.problems, []);
  assert.equal(c.rings, 1);
  assert.equal(c.ringSize, 8);
  assert.equal(c.stable, true);
});

Deno.test("two rings violate AtMostOneRing", () => {
  const a = ids.filter((_, i) => i % 2 === 0);
  const b = ids.filter((_, i) => i % 2 === 1);
  const c = checkRing([...correct(a, 2), ...correct(b, 2)], 2);
  assert.equal(c.rings, 2);
  assert.ok(c.problems.some((p) => p.startsWith("AtMostOneRing")));
  assert.equal(c.stable, false);
});

Deno.test("a ring that winds twice violates OrderedRing", () => {
  // Every member points two ahead: with 7 members (odd) this is one cycle winding twice.
  const seven = ids.slice(0, 7);
  const views = seven.map((id, i) => ({
    id,
    predecessor: null,
    successors: [seven[(i + 2) % 7]],
  }));
  const c = checkRing(views, 1);
  assert.equal(c.rings, 1);
  assert.ok(c.problems.some((p) => p.startsWith("OrderedRing")), c.problems.join("; "));
});

Deno.test("out-of-order successor lists and misplaced appendages are reported", () => {
  const views = correct(ids, 3);
  views[0] = { ...views[0], successors: [ids[2], ids[1], ids[3]] };
  let c = checkRing(views, 3);
  assert.ok(c.problems.some((p) => p.startsWith("OrderedSuccessorLists")));
  // An appendage pointing into the ring at the wrong place: ids[7] has the largest
  // ring id, so its place is just before ids[0], not before ids[3].
  const ring = correct(ids.slice(0, 7), 2);
  c = checkRing([...ring, { id: ids[7], predecessor: null, successors: [ids[3]] }], 2);
  assert.equal(c.appendages, 1);
  assert.ok(c.problems.some((p) => p.startsWith("ConnectedAppendages")), c.problems.join("; "));
  // Attached at the right place it is a legal (not yet stable) appendage.
  c = checkRing([...ring, { id: ids[7], predecessor: null, successors: [ids[0]] }], 2);
  assert.deepEqual(c.problems, []);
  assert.equal(c.stable, false);
});

Deno.test("a dead entry is skipped when choosing the best successor", () => {
  const views = correct(ids, 3);
  const dead = ids[3];
  const live = views.filter((v) => v.id !== dead);
  // Nobody repaired yet: ring still one ordered cycle through the next live entry.
  const c = checkRing(live, 3);
  assert.deepEqual(c.problems, []);
  assert.equal(c.stable, false, "lists still name the dead member");
});

Deno.test("true successors wrap around the ring", () => {
  const last = ids[ids.length - 1];
  assert.equal(trueSuccessor(ids, ringIdOf(last) + 1n), ids[0]);
  assert.equal(trueSuccessor(ids, ringIdOf(ids[2])), ids[2]);
  assert.deepEqual(trueSuccessors(ids, ringIdOf(last), 3), [last, ids[0], ids[1]]);
  assert.equal(trueSuccessor([], 5n), null);
});
