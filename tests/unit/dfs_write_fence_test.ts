import assert from "node:assert/strict";
import { ElasticoreError } from "../../lib/errors.ts";
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";
import {
  assertLeaseBound,
  FenceLease,
  fenceLeaseMs,
  LocalFence,
  QuorumFence,
  swimDeadBoundMs,
  type WriteFence,
} from "../../lib/dfs/write_fence.ts";
import { DEFAULT_SWIM_CONFIG } from "../../lib/swim/config.ts";

/** A controllable clock and confirmation rounds that the test settles by hand. */
function harness(leaseMs = 1000) {
  let t = 0;
  const pending: { sentAt: number; resolve(): void; reject(e: unknown): void }[] = [];
  const fence = new QuorumFence({
    leaseMs,
    now: () => t,
    round: () => {
      const d = Promise.withResolvers<void>();
      pending.push({ sentAt: t, resolve: d.resolve, reject: d.reject });
      return d.promise;
    },
  });
  return {
    fence,
    pending,
    advance: (ms: number) => (t += ms),
    settle: async (i: number, ok = true) => {
      if (ok) pending[i].resolve();
      else pending[i].reject(new Error("leader unreachable"));
      for (let k = 0; k < 5; k++) await Promise.resolve();
      await new Promise((r) => setTimeout(r, 0));
    },
  };
}

/** Resolves to "ok", or the error's code, or "pending" if still unsettled after a turn. */
async function state(p: Promise<void>): Promise<string> {
  const tag = p.then(() => "ok", (e) => e instanceof ElasticoreError ? e.code : String(e));
  return await Promise.race([tag, new Promise<string>((r) => setTimeout(() => r("pending"), 5))]);
}

Deno.test("fence lease: holds for leaseMs from the send time, not the answer time", () => {
  const lease = new FenceLease(1000);
  assert.equal(lease.holds(0), false);
  lease.confirmed(100); // sent at 100, answered whenever
  assert.equal(lease.holds(1099), true);
  assert.equal(lease.holds(1100), false, "expires leaseMs after it was sent");
  assert.equal(lease.remainingMs(600), 500);
  assert.equal(lease.covers(100), true);
  assert.equal(lease.covers(101), false, "a round sent earlier does not cover a later need");
  lease.confirmed(50); // an older round answering late does not move the lease back
  assert.equal(lease.lastSentAt, 100);
  lease.expire(200);
  assert.equal(lease.holds(300), false, "a ring change ends the lease");
  lease.confirmed(250);
  assert.equal(lease.holds(300), true);
  assert.throws(() => new FenceLease(0), RangeError);
});

Deno.test("fence: confirm needs a round sent after the call; concurrent callers share it", async () => {
  const h = harness();
  h.advance(10);
  const a = h.fence.confirm();
  const b = h.fence.confirm();
  assert.equal(h.pending.length, 1, "callers at the same moment share one round");
  assert.equal(await state(a), "pending");
  h.advance(5);
  // Arrives while round 0 (sent at 10) is in flight: needs a round sent at >= 15.
  const c = h.fence.confirm();
  const d = h.fence.confirm();
  assert.equal(h.pending.length, 1, "the next round starts only when the current settles");
  await h.settle(0);
  assert.equal(await state(a), "ok");
  assert.equal(await state(b), "ok");
  assert.equal(await state(c), "pending", "round 0 was sent before c asked");
  assert.equal(h.pending.length, 2, "one shared next round for c and d");
  assert.equal(h.pending[1].sentAt, 15);
  await h.settle(1);
  assert.equal(await state(c), "ok");
  assert.equal(await state(d), "ok");
  assert.equal(h.fence.rounds, 2);
  // A later confirm is never satisfied by the lease alone.
  h.advance(1);
  const e = h.fence.confirm();
  assert.equal(h.pending.length, 3);
  await h.settle(2);
  assert.equal(await state(e), "ok");
});

Deno.test("fence: check rides the lease, renewed by confirmations, and expires", async () => {
  const h = harness(1000);
  const first = h.fence.check();
  assert.equal(h.pending.length, 1, "no lease yet: a round is needed");
  h.advance(300); // the answer arrives 300 ms after the send
  await h.settle(0);
  assert.equal(await state(first), "ok");
  h.advance(699); // 999 ms after the send
  assert.equal(await state(h.fence.check()), "ok");
  assert.equal(h.pending.length, 1, "within the lease: no round");
  h.advance(1); // 1000 ms after the send (not after the answer): expired
  const late = h.fence.check();
  assert.equal(h.pending.length, 2, "expired: a fresh round");
  await h.settle(1);
  assert.equal(await state(late), "ok");
  // Renewal is measured from that round's send time.
  h.advance(999);
  assert.equal(await state(h.fence.check()), "ok");
  h.fence.expire();
  const again = h.fence.check();
  assert.equal(h.pending.length, 3, "a ring change ends the lease");
  await h.settle(2);
  assert.equal(await state(again), "ok");
});

Deno.test("fence: a failed round fails every waiter with dfs_no_quorum (503); the next retries", async () => {
  const h = harness();
  const a = h.fence.confirm();
  const b = h.fence.check();
  await h.settle(0, false);
  assert.equal(await state(a), "dfs_no_quorum");
  assert.equal(await state(b), "dfs_no_quorum");
  const err = await a.catch((e) => e);
  assert.ok(err instanceof ElasticoreError);
  assert.equal(err.status, 503);
  assert.match(err.message, /leader unreachable/);
  assert.equal(h.fence.lease.holds(0), false, "a failure grants no lease");
  h.advance(1);
  const c = h.fence.confirm();
  assert.equal(h.pending.length, 2, "the next call starts a new round");
  await h.settle(1);
  assert.equal(await state(c), "ok");
});

Deno.test("fence: a round that does not answer times out as dfs_no_quorum", async () => {
  const fence = new QuorumFence({
    leaseMs: 1000,
    roundTimeoutMs: 20,
    round: (signal) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
  });
  await assert.rejects(
    fence.confirm(),
    (e) =>
      e instanceof ElasticoreError && /within 20 ms/.test(e.message) && e.code === "dfs_no_quorum",
  );
  const ac = new AbortController();
  const p = new QuorumFence({ leaseMs: 1000, round: () => Promise.resolve() });
  ac.abort(new Error("caller gone"));
  await assert.rejects(p.confirm(ac.signal), /caller gone/);
});

Deno.test("fence lease bound: derived from SWIM's earliest dead declaration", () => {
  const swim = { ...DEFAULT_SWIM_CONFIG };
  assert.equal(swimDeadBoundMs(swim), 4000); // suspicion_mult 4 × probe 1000 ms
  assert.equal(fenceLeaseMs(swim), 2000);
  assert.equal(fenceLeaseMs({ suspicionMult: 4, probeIntervalMs: 200 }), 400);
  assert.throws(
    () => fenceLeaseMs({ suspicionMult: 1, probeIntervalMs: 150 }),
    (e) => e instanceof ElasticoreError && e.code === "dfs_fence_config" && /150/.test(e.message),
  );
  assert.throws(() => assertLeaseBound(4000, swim), /shorter than SWIM/);
  assertLeaseBound(3999, swim);
});

/** A fence whose answer the test switches. */
class SwitchFence implements WriteFence {
  ok = true;
  confirms = 0;
  confirm(): Promise<void> {
    this.confirms++;
    return this.ok ? Promise.resolve() : new LocalFence().confirm(AbortSignal.abort(
      new ElasticoreError("dfs_no_quorum", "cut off", { status: 503 }),
    ));
  }
  check(): Promise<void> {
    return this.confirm();
  }
  expire(): void {}
}

Deno.test("dfs node: a primary that cannot confirm acknowledges nothing", async () => {
  const fences = new Map<string, SwitchFence>();
  const c = await DfsTestCluster.start({
    blockBytes: 4096,
    fence: (id) => {
      const f = new SwitchFence();
      fences.set(id, f);
      return f;
    },
  });
  const enc = new TextEncoder();
  try {
    await c.settled();
    await c.node("n1").append("/f/log", enc.encode("a\n"));
    await c.node("n2").append("/f/log", enc.encode("a2\n")); // a second piece: merge has work
    await c.node("n1").put("/f/file", enc.encode("x"));
    for (const f of fences.values()) f.ok = false;
    const code = (e: unknown) => (e instanceof ElasticoreError ? e.code : String(e));
    const results = await Promise.allSettled(
      Array.from(
        { length: 8 },
        (_, i) => c.node(`n${(i % 4) + 1}`).append("/f/log", enc.encode(`b${i}\n`)),
      ),
    );
    for (const r of results) {
      assert.equal(r.status, "rejected");
      assert.equal(code(r.reason), "dfs_no_quorum");
    }
    await assert.rejects(
      c.node("n2").put("/f/other", enc.encode("y")),
      (e) => code(e) === "dfs_no_quorum",
    );
    await assert.rejects(c.node("n3").remove("/f/file"), (e) => code(e) === "dfs_no_quorum");
    await assert.rejects(c.node("n3").merge("/f/log"), (e) => code(e) === "dfs_no_quorum");
    for (const f of fences.values()) f.ok = true;
    const before = [...fences.values()].reduce((n, f) => n + f.confirms, 0);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => c.node("n1").append("/f/log", enc.encode(`c${i}\n`))),
    );
    const used = [...fences.values()].reduce((n, f) => n + f.confirms, 0) - before;
    assert.ok(used < 20 * 2, `batched appends confirm per batch, not per append (${used})`);
    const body = await new Response((await c.node("n4").get("/f/log")).body).text();
    assert.ok(body.startsWith("a\na2\n"));
    assert.ok(!body.includes("b"), "no refused append is in the file");
    for (let i = 0; i < 20; i++) assert.ok(body.includes(`c${i}\n`));
    assert.equal((await c.node("n2").stat("/f/file")).size, 1, "the refused rm left the file");
  } finally {
    await c.close();
  }
});
