import assert from "node:assert/strict";
import { Predecessor } from "../../lib/dfs/ring/predecessor.ts";
import { peerOf } from "../../lib/dfs/ring/fingers.ts";
import { sortByRingId } from "../../lib/dfs/ring/invariants.ts";

const [a, b, c, self] = sortByRingId(["pa", "pb", "pc", "pself", "px"].slice(0, 4)).map(peerOf);
const none = () => false;

Deno.test("rectify adopts a notifier when there is no predecessor or it is closer", () => {
  const p = new Predecessor(self, 3);
  assert.equal(p.rectify(a, 0, none), "adopt");
  p.set(a, 0);
  assert.equal(p.rectify(b, 0, none), "adopt", "b lies in (a, self)");
  p.set(c, 0);
  assert.equal(p.rectify(b, 1, none), "keep", "b is farther than c, and c was heard recently");
  assert.equal(p.rectify(c, 1, none), "keep");
});

Deno.test("rectify adopts a notifier when the predecessor is suspected dead", () => {
  const p = new Predecessor(self, 3);
  p.set(c, 0);
  assert.equal(p.rectify(b, 1, (id) => id === c.id), "adopt");
});

Deno.test("a silent predecessor is probed; a failed probe hands over to the notifier", () => {
  const p = new Predecessor(self, 3);
  p.set(c, 0);
  assert.equal(p.startProbe(2), null, "not silent long enough");
  assert.equal(p.rectify(b, 5, none), "probe");
  assert.equal(p.startProbe(5)?.id, c.id);
  assert.equal(p.startProbe(5), null, "one probe at a time");
  assert.equal(p.probeFailed(c, 7, none), true);
  assert.equal(p.peer?.id, b.id);
});

Deno.test("an answered probe or fresh traffic keeps the predecessor", () => {
  const p = new Predecessor(self, 3);
  p.set(c, 0);
  p.heardFrom(c.id, 4);
  assert.equal(p.startProbe(5), null, "heard at tick 4");
  assert.equal(p.startProbe(8)?.id, c.id);
  p.probeAnswered();
  assert.equal(p.peer?.id, c.id);
  // A failed probe without any notifier clears the predecessor.
  assert.equal(p.startProbe(9)?.id, c.id);
  assert.equal(p.probeFailed(c, 11, none), true);
  assert.equal(p.peer?.id ?? null, null);
  // A stale probe failure for another node changes nothing.
  p.set(a, 12);
  assert.equal(p.probeFailed(c, 13, none), false);
  assert.equal(p.peer?.id, a.id);
});
