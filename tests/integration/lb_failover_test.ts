import assert from "node:assert/strict";
import { startTestCluster } from "../../lib/lb/testing.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("lb: writes follow the leader through a fail-over", async () => {
  const c = await startTestCluster({
    lb: { checkIntervalMs: 50, fall: 2, rise: 2, timeoutMs: 2000, retries: 3 },
  });
  try {
    const [b1, b2, b3] = c.backends;
    const writes = 60;
    const bound = 3000;
    const latencies: number[] = [];
    let clientRetries = 0;
    const servedBy = new Map<string, number>();
    let moved = false;
    for (let i = 0; i < writes; i++) {
      if (i === 20) {
        // The leader dies; after an "election" b2 takes over.
        moved = true;
        await b1.stop();
        setTimeout(() => b2.leader = true, 150);
      }
      const t0 = performance.now();
      for (;;) {
        const res = await c.fetch(`/v1/kv/w${i}`, { method: "PUT", body: `v${i}` });
        await res.body?.cancel();
        if (res.status === 200) {
          const who = res.headers.get("x-elasticore-backend")!;
          servedBy.set(who, (servedBy.get(who) ?? 0) + 1);
          break;
        }
        assert.ok(res.status === 503 || res.status === 502, `write ${i}: status ${res.status}`);
        clientRetries++;
        assert.ok(performance.now() - t0 < bound, `write ${i} did not succeed within ${bound} ms`);
        await sleep(50);
      }
      latencies.push(performance.now() - t0);
    }
    assert.ok(moved);
    for (let i = 0; i < writes; i++) {
      assert.equal(new TextDecoder().decode(b2.kv.get(`w${i}`)), `v${i}`, `w${i} stored`);
    }
    assert.equal(servedBy.get(b1.url), 20);
    assert.equal(servedBy.get(b2.url), 40);
    assert.equal(b3.count("PUT"), 0, "a follower never gets a write");
    assert.ok(Math.max(...latencies) < bound);
    // The LB's own retries absorbed the fail-over: the client saw at most one error.
    assert.ok(clientRetries <= 1, `client retries ${clientRetries}`);
    assert.equal(c.lb.status().leader, b2.url);

    // A non-idempotent POST whose connection is refused is safe to retry.
    await b2.stop();
    setTimeout(() => b3.leader = true, 100);
    const post = await c.fetch("/v1/jobs", { method: "POST", body: "{}" });
    assert.equal(post.status, 201);
    assert.equal(post.headers.get("x-elasticore-backend"), b3.url);
    await post.body?.cancel();

    // The old leader comes back as a follower and is re-admitted for reads.
    b1.leader = false;
    b1.restart();
    const deadline = Date.now() + 3000;
    while (!c.lb.status().backends[0].healthy && Date.now() < deadline) await sleep(20);
    const s = c.lb.status().backends;
    assert.deepEqual(s.map((b) => b.role), ["follower", "down", "leader"]);
  } finally {
    await c.close();
  }
});

Deno.test("lb: ejection after fall failed checks, re-admission after rise", async () => {
  // A long interval: only the checks this test runs by hand happen.
  const c = await startTestCluster({ lb: { checkIntervalMs: 60_000, fall: 3, rise: 2 } });
  try {
    const [, b2] = c.backends;
    const backend = c.lb.pool.backends[1];
    const check = () => c.lb.checker.checkOnce(backend);
    const reads = async (n: number) => {
      const who = new Set<string>();
      for (let i = 0; i < n; i++) {
        const res = await c.fetch("/v1/kv/none");
        who.add(res.headers.get("x-elasticore-backend")!);
        await res.body?.cancel();
      }
      return who;
    };
    assert.ok((await reads(3)).has(b2.url));
    b2.healthy = false;
    await check();
    await check();
    assert.equal(backend.read.up, true, "two failures < fall 3");
    assert.ok((await reads(3)).has(b2.url));
    await check();
    assert.equal(backend.read.up, false, "ejected at the third failure");
    assert.ok(!(await reads(6)).has(b2.url));
    b2.healthy = true;
    await check();
    assert.equal(backend.read.up, false, "one success < rise 2");
    await check();
    assert.equal(backend.read.up, true, "re-admitted at the second success");
    assert.ok((await reads(3)).has(b2.url));

    // Passive: a backend answering 5xx is ejected after fall failures without any check.
    b2.failStatus = 500;
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) {
      const res = await c.fetch("/v1/kv/none");
      statuses.push(res.status);
      await res.body?.cancel();
    }
    assert.equal(statuses.filter((s) => s === 500).length, 3, "500 is relayed, not retried");
    assert.equal(backend.read.up, false);
    // One read in three reached b2 while it was in the pool: 1 + 1 + 0 + 1, then the three 500s.
    assert.equal(b2.count("GET", "/v1/kv/none"), 6);
    const metrics = await (await c.fetch("/metrics")).text();
    assert.ok(
      metrics.includes(
        `elasticore_lb_pool_transitions_total{backend="${b2.url}",pool="read",to="down"} 2`,
      ),
      metrics,
    );
  } finally {
    await c.close();
  }
});
