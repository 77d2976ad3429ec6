import assert from "node:assert/strict";
import { BackendPool } from "../../lib/lb/pool.ts";

const URLS = ["https://127.0.0.1:1", "https://127.0.0.1:2", "https://127.0.0.1:3"];

function pool(policy: "round-robin" | "least-connections" = "round-robin", fall = 2, rise = 2) {
  const p = new BackendPool(URLS, { fall, rise, policy });
  for (const b of p.backends) p.recordCheck(b, { read: true, write: b.index === 0 }, 0);
  return p;
}

Deno.test("pool: the first check result decides at once", () => {
  const p = new BackendPool(URLS, { fall: 3, rise: 3, policy: "round-robin" });
  assert.equal(p.healthy().length, 0);
  const t = p.recordCheck(p.backends[0], { read: true, write: true }, 1);
  assert.deepEqual(t.map((x) => [x.pool, x.up]), [["read", true], ["write", true]]);
  p.recordCheck(p.backends[1], { read: false, write: false, error: "refused" }, 1);
  assert.deepEqual(p.healthy().map((b) => b.index), [0]);
  assert.equal(p.leader(), p.backends[0]);
  assert.equal(p.backends[1].lastError, "refused");
});

Deno.test("pool: fall consecutive failures eject, rise consecutive successes re-admit", () => {
  const p = pool("round-robin", 3, 2);
  const b = p.backends[1];
  assert.equal(p.record(b, "read", false, 1), undefined);
  assert.equal(p.record(b, "read", false, 2), undefined);
  assert.equal(p.record(b, "read", true, 3), undefined, "a success resets the failure streak");
  assert.equal(p.record(b, "read", false, 4), undefined);
  assert.equal(p.record(b, "read", false, 5), undefined);
  assert.equal(b.read.up, true);
  assert.deepEqual(p.record(b, "read", false, 6), { backend: b.url, pool: "read", up: false });
  assert.equal(b.read.up, false);
  assert.equal(p.record(b, "read", true, 7), undefined);
  assert.equal(p.record(b, "read", false, 8), undefined, "a failure resets the success streak");
  assert.equal(p.record(b, "read", true, 9), undefined);
  assert.deepEqual(p.record(b, "read", true, 10), { backend: b.url, pool: "read", up: true });
});

Deno.test("pool: passive failures count towards fall; only checks end a streak", () => {
  const p = pool("round-robin", 2, 2);
  const b = p.backends[2];
  assert.deepEqual(p.recordPassiveFailure(b, 1, "answered 500"), []);
  const t = p.recordPassiveFailure(b, 2, "answered 500");
  assert.deepEqual(t, [{ backend: b.url, pool: "read", up: false }]);
  assert.equal(b.passiveFailures, 2);
  assert.equal(b.lastError, "answered 500");
  const leader = p.backends[0];
  p.recordPassiveFailure(leader, 4);
  p.recordCheck(leader, { read: true, write: true }, 5);
  p.recordPassiveFailure(leader, 6);
  assert.equal(p.leader(), leader, "a successful check in between ends the streak");
  p.recordPassiveFailure(leader, 7);
  assert.equal(p.leader(), undefined);
  assert.equal(leader.read.up, false);
  // A follower's passive failures leave its (down) write pool alone.
  const f = p.backends[1];
  p.record(f, "write", true, 8);
  assert.equal(f.write.successes, 1);
  p.recordPassiveFailure(f, 9);
  assert.equal(f.write.successes, 1);
});

Deno.test("pool: round-robin alternates over the healthy backends only", () => {
  const p = pool("round-robin");
  const seq = Array.from({ length: 6 }, () => p.pickRead()!.index);
  assert.deepEqual(seq, [0, 1, 2, 0, 1, 2]);
  p.recordCheck(p.backends[1], { read: false, write: false }, 1);
  p.recordCheck(p.backends[1], { read: false, write: false }, 2);
  const seq2 = Array.from({ length: 6 }, () => p.pickRead()!.index);
  assert.deepEqual(seq2.sort(), [0, 0, 0, 2, 2, 2]);
});

Deno.test("pool: least-connections picks the fewest in flight, rotating on ties", () => {
  const p = pool("least-connections");
  p.backends[0].inFlight = 3;
  p.backends[1].inFlight = 1;
  p.backends[2].inFlight = 2;
  assert.equal(p.pickRead()!.index, 1);
  p.backends[1].inFlight = 2;
  const picks = new Set([p.pickRead()!.index, p.pickRead()!.index]);
  assert.deepEqual([...picks].sort(), [1, 2]);
  assert.equal(p.pickRead(new Set([p.backends[1], p.backends[2]]))!.index, 0);
});

Deno.test("pool: exclusion, no healthy backend, and the newest leader wins", () => {
  const p = pool();
  assert.equal(p.pickRead(new Set(p.backends)), undefined);
  // Two backends claim leadership during a change: the one admitted last wins.
  p.recordCheck(p.backends[2], { read: true, write: true }, 50);
  assert.equal(p.leader(), p.backends[0], "one success is not enough with rise 2");
  p.record(p.backends[2], "write", true, 51);
  assert.equal(p.leader(), p.backends[2]);
  p.record(p.backends[2], "write", false, 52);
  assert.equal(p.leader(), p.backends[2], "one failure is not enough with fall 2");
  p.record(p.backends[2], "write", false, 53);
  assert.equal(p.leader(), p.backends[0]);
  const q = new BackendPool(URLS, { fall: 1, rise: 1, policy: "round-robin" });
  q.recordCheck(q.backends[0], { read: true, write: true }, 10);
  q.recordCheck(q.backends[1], { read: true, write: false }, 10);
  q.recordCheck(q.backends[1], { read: true, write: true }, 20);
  assert.equal(q.leader(), q.backends[1]);
  const status = q.status();
  assert.equal(status[1].role, "leader");
  assert.equal(status[0].role, "follower");
  assert.equal(status[2].role, "down");
});
