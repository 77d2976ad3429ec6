import assert from "node:assert/strict";
import { FingerTable, peerOf, reconcile } from "../../lib/dfs/ring/fingers.ts";
import { fingerStart, hashToRingId, inOpen } from "../../lib/dfs/ring/id.ts";
import { sortByRingId, trueSuccessor } from "../../lib/dfs/ring/invariants.ts";

const members = sortByRingId(Array.from({ length: 30 }, (_, i) => `f${i}`));

Deno.test("reconcile prepends the successor, drops the last entry, keeps ring order", () => {
  const self = peerOf(members[0]);
  const head = peerOf(members[1]);
  const out = reconcile(self, head, [members[2], members[3], members[4]], 3);
  assert.deepEqual(out.map((p) => p.id), members.slice(1, 4));
});

Deno.test("reconcile stops at self, skips repeats, out-of-order and suspected entries", () => {
  const self = peerOf(members[0]);
  const head = peerOf(members[1]);
  // A small ring: the successor's list wraps around to self.
  assert.deepEqual(
    reconcile(self, head, [members[2], members[0], members[1]], 5).map((p) => p.id),
    [members[1], members[2]],
  );
  assert.deepEqual(
    reconcile(self, head, [members[3], members[2], members[3], members[4]], 5).map((p) => p.id),
    [members[1], members[3], members[4]],
  );
  assert.deepEqual(
    reconcile(self, head, [members[2], members[3]], 5, (id) => id === members[2]).map((p) => p.id),
    [members[1], members[3]],
  );
  assert.deepEqual(reconcile(self, self, [members[1]], 3), []);
});

Deno.test("fillFrom computes every finger as the successor of self + 2^i", () => {
  const me = peerOf(members[4]);
  const t = new FingerTable(me);
  t.fillFrom(members.map(peerOf));
  for (let i = 0; i < 64; i++) {
    const want = trueSuccessor(members, fingerStart(me.rid, i));
    assert.equal(t.get(i)?.id ?? null, want === me.id ? null : want, `finger ${i}`);
  }
});

Deno.test("set fills following fingers covered by the same owner, remove forgets a node", () => {
  const me = peerOf(members[0]);
  const owner = peerOf(members[1]);
  const t = new FingerTable(me);
  t.set(0, owner);
  // Every finger whose start lies in (self, owner] has that owner; the others stay unknown.
  for (let i = 0; i < 64; i++) {
    const covered = !inOpen(owner.rid, me.rid, fingerStart(me.rid, i));
    assert.equal(t.get(i)?.id ?? null, covered ? owner.id : null, `finger ${i}`);
  }
  t.remove(members[1]);
  assert.ok(t.ids().every((x) => x === null));
});

Deno.test("closestPreceding picks the known node nearest before the key", () => {
  const me = peerOf(members[0]);
  const t = new FingerTable(me);
  t.fillFrom(members.map(peerOf));
  for (let k = 0; k < 50; k++) {
    const key = hashToRingId(`key${k}`);
    const got = t.closestPreceding(key, [], () => true);
    const known = new Set(t.ids().filter((x): x is string => x !== null));
    let best: string | null = null;
    for (const id of known) {
      if (!inOpen(peerOf(id).rid, me.rid, key)) continue;
      if (best === null || inOpen(peerOf(id).rid, peerOf(best).rid, key)) best = id;
    }
    assert.equal(got?.id ?? null, best);
    // Excluding the best moves to the next best (never to a node past the key).
    if (got) {
      const alt = t.closestPreceding(key, [], (p) => p.id !== got.id);
      if (alt) assert.ok(inOpen(alt.rid, me.rid, got.rid));
    }
  }
});

Deno.test("due sets fingers inside (self, successor] for free and asks for the rest", () => {
  const me = peerOf(members[0]);
  const succ = peerOf(members[1]);
  const t = new FingerTable(me);
  const due = t.due(succ, 64, () => false);
  for (let i = 0; i < 64; i++) {
    const start = fingerStart(me.rid, i);
    const local = !inOpen(start, succ.rid, me.rid) || start === succ.rid;
    if (local) assert.equal(t.get(i)?.id, succ.id);
    assert.equal(due.includes(i), !local, `finger ${i}`);
  }
  // A budget bounds the lookups per round.
  assert.ok(new FingerTable(me).due(succ, 2, () => false).length <= 2);
});
