import assert from "node:assert/strict";
import { AppendWorkload } from "../../scripts/chaos/dfs.ts";
import type { Answer, ChaosCluster } from "../../scripts/chaos/cluster.ts";
import { Prng } from "../../lib/sim/prng.ts";

/**
 * A cluster of nodes "a" and "b" whose appends answer as `appendStatus` says (one per
 * append, in order; `undefined` = timeout) and whose reads of round `r` return `reads(r)`.
 */
async function workload(
  appendStatus: (number | undefined)[],
  reads: (round: number, via: string) => string,
  convergeMs = 60_000,
): Promise<AppendWorkload> {
  const stop = { done: false };
  let appends = 0;
  let gets = 0;
  const fake = {
    nodes: new Map([["a", {}], ["b", {}]]),
    up: () => ["a", "b"],
    request: (via: string, method: string): Promise<Answer> => {
      if (method === "PUT") {
        const status = appendStatus[appends++];
        if (appends >= appendStatus.length) stop.done = true;
        return status === undefined
          ? Promise.reject(new Error("timeout"))
          : Promise.resolve({ status, text: "" });
      }
      const round = Math.floor(gets++ / 2) + 1;
      return Promise.resolve({ status: 200, text: reads(round, via) });
    },
  } as unknown as ChaosCluster;
  const w = new AppendWorkload(fake, 1, 3, convergeMs);
  await Promise.all(w.run(1, new Prng(1), stop));
  return w;
}

Deno.test("chaos append check: reads that agree after a round of convergence pass", async () => {
  // a0-0 and a0-1 acknowledged, a0-2 unknown: it may appear late on some replicas.
  const w = await workload(
    [200, 200, undefined],
    (round, via) => round === 1 && via === "a" ? "a0-0\na0-1\n" : "a0-0\na0-1\na0-2\n",
  );
  const r = await w.checkContent(0);
  assert.ok(r.ok, r.message);
  assert.match(r.message, /2 acknowledged records exactly once, read identically via 2 nodes/);
  assert.match(r.message, /after 2 rounds .*first read a:10 b:15/);
});

Deno.test("chaos append check: a read missing an acknowledged record fails at once", async () => {
  const w = await workload([200, 200], (_round, via) => via === "a" ? "a0-0\na0-1\n" : "a0-0\n");
  const r = await w.checkContent(0);
  assert.ok(!r.ok);
  assert.match(
    r.message,
    /via b: 1 problems: acknowledged a0-1 \(via [ab], \+[\d.]+\.\.[\d.]+ s\) read 0 times/,
  );
});

Deno.test("chaos append check: agreeing reads must still hold each record at most once", async () => {
  const w = await workload([200, undefined], () => "a0-0\na0-1\na0-1\n");
  const r = await w.checkContent(0);
  assert.ok(!r.ok);
  assert.match(r.message, /a0-1 \(unknown outcome\) read 2 times/);
});

Deno.test("chaos append check: reads that never agree fail after the convergence time", async () => {
  const w = await workload(
    [200, undefined],
    (_round, via) => via === "a" ? "a0-0\n" : "a0-0\na0-1\n",
    100,
  );
  const r = await w.checkContent(0);
  assert.ok(!r.ok);
  assert.match(
    r.message,
    /nodes read different contents for 0.1 s \(first a:5 b:10; last a:5 b:10\)/,
  );
});
