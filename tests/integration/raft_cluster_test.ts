import assert from "node:assert/strict";
import { join } from "node:path";
import { TestCluster } from "./cluster_util.ts";
import { checkLinearizable, type Model, type Operation } from "../../lib/sim/linearizability.ts";

const ELECTION_MS = 500;
const FAST = [`raft.election_timeout_ms=${ELECTION_MS}`, "raft.heartbeat_interval_ms=50"];

/** Writes unique keys from `clients` loops until `stop`, recording acknowledged ones. */
function writeLoad(c: TestCluster, clients: number, acked: Set<string>, stop: { done: boolean }) {
  return Array.from({ length: clients }, async (_, i) => {
    let n = 0;
    while (!stop.done) {
      const key = `load/c${i}/k${n}`;
      const targets = c.running().filter((id) => !c.nodes.get(id)!.paused);
      const via = targets[(i + n) % targets.length];
      try {
        const r = await c.request(via, "PUT", `/v1/kv/${key}`, `v${n}`, 2_000);
        if (r.status === 200) {
          acked.add(key);
          n++;
        }
      } catch {
        // node down or paused: try again elsewhere (the same key: puts are idempotent)
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  });
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function checkAllReadable(c: TestCluster, via: string, acked: Set<string>): Promise<void> {
  const r = await c.request(via, "GET", `/v1/kv?prefix=load/&limit=100000`, undefined, 10_000);
  assert.equal(r.status, 200, r.text);
  const have = new Set((r.json!.items as { key: string }[]).map((it) => it.key));
  const lost = [...acked].filter((k) => !have.has(k));
  assert.deepEqual(lost, [], `${lost.length} acknowledged writes lost`);
}

Deno.test({
  name:
    "raft cluster: kill -9 of the leader under load; new leader within two election timeouts; nothing lost; restart catches up through a snapshot",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const c = await TestCluster.start({
      masters: 3,
      set: [...FAST, "raft.snapshot_threshold=200"],
    });
    try {
      const acked = new Set<string>();
      const stop = { done: false };
      const load = writeLoad(c, 6, acked, stop);
      // Enough history that the old leader's log is compacted away after it dies (threshold 200).
      await waitFor(() => acked.size >= 300, 30_000);
      const old = await c.waitForLeader(5_000);
      const before = acked.size;
      const killedAt = Date.now();
      await c.kill(old);
      const next = await c.waitForLeader(10_000, old);
      // "Commits": a write through the new leader is acknowledged.
      let committedAt = 0;
      while (!committedAt) {
        const r = await c.request(next, "PUT", "/v1/kv/probe", "x", 2_000).catch(() => undefined);
        if (r?.status === 200) committedAt = Date.now();
      }
      const failover = committedAt - killedAt;
      console.log(`failover: new leader ${next} committed ${failover} ms after kill -9 of ${old}`);
      assert.ok(failover <= 2 * ELECTION_MS + 700, `failover took ${failover} ms`);
      const afterKill = acked.size;
      await waitFor(() => acked.size >= afterKill + 450, 30_000);
      stop.done = true;
      await Promise.all(load);
      assert.ok(acked.size > before, "writes continued after the kill");
      await checkAllReadable(c, next, acked);

      // The old leader restarts far behind (the log was compacted past it) and catches up.
      c.spawn(old);
      const leaderStatus = await c.request(next, "GET", "/v1/cluster");
      const commit = (leaderStatus.json!.raft as { commit: number }).commit;
      const deadline = Date.now() + 15_000;
      let caughtUp = false;
      while (!caughtUp && Date.now() < deadline) {
        const r = await c.request(old, "GET", "/v1/kv/probe?consistency=stale", undefined, 1_000)
          .catch(() => undefined);
        const st = await c.request(next, "GET", "/v1/cluster", undefined, 1_000).catch(() =>
          undefined
        );
        const match =
          (st?.json?.raft as { progress: Record<string, { match: number }> } | undefined)
            ?.progress[old]?.match ?? 0;
        caughtUp = r?.status === 200 && match >= commit;
        if (!caughtUp) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(caughtUp, `${old} did not catch up to ${commit}`);
      const snaps = [...Deno.readDirSync(join(c.dir, "data", old, "raft"))]
        .map((e) => e.name).filter((n) => n.endsWith(".snap"));
      assert.ok(snaps.length > 0, "the restarted node holds a snapshot");
      await checkAllReadable(c, old, acked);
    } finally {
      await c.stop();
    }
  },
});

Deno.test({
  name:
    "raft cluster: SIGSTOP of the leader longer than the election timeout; clients keep working; it steps down on SIGCONT",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const c = await TestCluster.start({ masters: 3, set: FAST });
    try {
      const old = await c.waitForLeader(5_000);
      c.pause(old);
      const next = await c.waitForLeader(10_000, old);
      for (let i = 0; i < 20; i++) {
        const r = await c.request(next, "PUT", `/v1/kv/paused/${i}`, "v");
        assert.equal(r.status, 200, r.text);
      }
      await new Promise((r) => setTimeout(r, 3 * ELECTION_MS));
      c.resume(old);
      const deadline = Date.now() + 5_000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        status =
          (await c.request(old, "GET", "/v1/health/leader").catch(() => ({ status: 0 }))).status;
        if (status === 200) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 503, "the paused leader stepped down");
      const r = await c.request(old, "GET", "/v1/kv/paused/19");
      assert.equal(r.status, 200);
      assert.equal(r.json!.value, "v");
    } finally {
      await c.stop();
    }
  },
});

type RegIn = { op: "get" | "put"; key: string; value?: string };
type RegOut = { value: string | null };
const register: Model<string | null, RegIn, RegOut> = {
  init: () => null,
  step(state, input, output) {
    if (input.op === "put") return { ok: true, state: input.value! };
    return { ok: output === undefined || output.value === state, state };
  },
  key: (s) => JSON.stringify(s),
  partition(ops) {
    const by = new Map<string, Operation<RegIn, RegOut>[]>();
    for (const op of ops) by.set(op.input.key, [...(by.get(op.input.key) ?? []), op]);
    return [...by.values()];
  },
  describe: (op) =>
    `${op.client} ${op.input.op} ${op.input.key} ${op.input.value ?? ""} -> ${
      JSON.stringify(op.output)
    }`,
};

Deno.test({
  name: "raft cluster: an HTTP client history with kills and pauses is linearizable (5 masters)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const c = await TestCluster.start({ masters: 5, set: FAST });
    try {
      const history: Operation<RegIn, RegOut>[] = [];
      const t0 = performance.now();
      const stop = { done: false };
      const keys = ["x", "y", "z"];
      const clients = Array.from({ length: 6 }, async (_, i) => {
        let n = 0;
        while (!stop.done) {
          n++;
          const key = keys[(i + n) % keys.length];
          const up = c.running().filter((id) => !c.nodes.get(id)!.paused);
          const via = up[(i * 7 + n) % up.length];
          const put = n % 2 === 0;
          const input: RegIn = put ? { op: "put", key, value: `c${i}-${n}` } : { op: "get", key };
          const call = performance.now() - t0;
          try {
            const r = put
              ? await c.request(via, "PUT", `/v1/kv/lin/${key}`, input.value, 1_500)
              : await c.request(via, "GET", `/v1/kv/lin/${key}`, undefined, 1_500);
            const ret = performance.now() - t0;
            if (r.status === 200) {
              history.push({
                client: i,
                input,
                output: { value: put ? null : r.json!.value as string },
                call,
                ret,
              });
            } else if (!put && r.status === 404) {
              history.push({ client: i, input, output: { value: null }, call, ret });
            } else if (
              put && r.status >= 500 && !/not_leader|no_leader|node_stopping/.test(r.text)
            ) {
              history.push({ client: i, input, call, ret: Infinity }); // outcome unknown
            }
          } catch {
            if (put) history.push({ client: i, input, call, ret: Infinity });
          }
        }
      });
      const faults = (async () => {
        for (let round = 0; round < 3; round++) {
          await new Promise((r) => setTimeout(r, 1_200));
          const l = await c.leader();
          if (!l) continue;
          if (round === 1) {
            c.pause(l);
            await new Promise((r) => setTimeout(r, 3 * ELECTION_MS));
            c.resume(l);
          } else {
            await c.kill(l);
            await new Promise((r) => setTimeout(r, 800));
            c.spawn(l);
          }
        }
        await new Promise((r) => setTimeout(r, 1_500));
        stop.done = true;
      })();
      await Promise.all([faults, ...clients]);
      // Puts answered OK report no value; drop that from the model's view.
      for (const op of history) {
        if (op.input.op === "put") {
          op.output = op.ret === Infinity ? undefined : { value: null };
        }
      }
      const okOps = history.filter((o) => o.ret !== Infinity).length;
      assert.ok(okOps > 100, `only ${okOps} completed operations`);
      const res = checkLinearizable(history, {
        ...register,
        step(state, input, output) {
          if (input.op === "put") return { ok: true, state: input.value! };
          return register.step(state, input, output);
        },
      });
      assert.ok(!res.inconclusive, "checker budget exhausted");
      assert.ok(res.ok, `not linearizable: ${JSON.stringify(res).slice(0, 2000)}`);
      console.log(
        `linearizable: ${history.length} operations (${okOps} completed) over ${keys.length} keys`,
      );
    } finally {
      await c.stop();
    }
  },
});
