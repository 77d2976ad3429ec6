/**
 * A short chaos schedule in CI: a real 3-master, 4-worker cluster, 25 s of
 * mixed load (KV with CAS, DFS appends, stream jobs) under one seed's
 * faults (`kill -9`, SIGSTOP, partitions, loss), then the checks of
 * `deno task chaos`. `ELASTICORE_CHAOS_SEED=S` picks the seed (default 1).
 */
import assert from "node:assert/strict";
import { replayCommand, runChaos } from "../../scripts/chaos/run.ts";
import { planFaults } from "../../scripts/chaos/faults.ts";
import { chaosKvModel, type KvAnswer, type KvOp } from "../../scripts/chaos/kv.ts";
import { checkLinearizable, type Operation } from "../../lib/sim/linearizability.ts";

const SEED = Number(Deno.env.get("ELASTICORE_CHAOS_SEED") ?? "1");
const MINUTES = 25 / 60;
/** Ten minutes of faults on the harness's default cluster. */
const PLAN = {
  masters: ["m1", "m2", "m3"],
  workers: ["w1", "w2", "w3", "w4"],
  periodMs: 600_000,
  maxNodes: 2,
  maxMasters: 1,
};

Deno.test("chaos: the schedule is a function of the seed and respects the fault limits", () => {
  const o = PLAN;
  const a = planFaults(42, o);
  assert.deepEqual(planFaults(42, o), a);
  assert.notDeepEqual(planFaults(43, o), a);
  assert.ok(a.length > 50, `only ${a.length} faults in 10 minutes`);
  const isMaster = (t: string) => t === "leader" || t.startsWith("m");
  for (const f of a) {
    assert.ok(f.at + f.durationMs <= o.periodMs, "every fault heals within the period");
    // The most faults are in force at some fault's start.
    const during = a.filter((g) => g.at <= f.at && f.at < g.at + g.durationMs);
    const targets = during.flatMap((g) => g.targets);
    assert.ok(
      new Set(targets).size <= 2,
      `more than 2 nodes affected at +${f.at} ms: ${JSON.stringify(during)}`,
    );
    assert.ok(targets.filter(isMaster).length <= 1, `more than 1 master affected at +${f.at} ms`);
  }
  assert.ok(a.some((f) => f.targets.includes("leader")), "the leader is a target");
});

Deno.test("chaos: leave is drawn only when asked for, and only for workers", () => {
  const o = PLAN;
  assert.ok(planFaults(42, o).every((f) => f.kind !== "leave"), "not by default");
  const withLeave = planFaults(42, {
    ...o,
    kinds: ["kill", "pause", "isolate", "split", "loss", "leave"],
  });
  const leaves = withLeave.filter((f) => f.kind === "leave");
  assert.ok(leaves.length > 5, `only ${leaves.length} leaves in 10 minutes`);
  assert.ok(leaves.every((f) => f.targets.length === 1 && o.workers.includes(f.targets[0])));
});

Deno.test("chaos: the KV model rejects a lost write and a stale read", () => {
  type Op = Operation<KvOp, KvAnswer>;
  const put = (client: number, value: string, call: number, ret: number, version: number): Op => ({
    client,
    input: { op: "put", key: "k", value },
    output: { ok: true, version },
    call,
    ret,
  });
  const get = (client: number, value: string | null, version: number, call: number): Op => ({
    client,
    input: { op: "get", key: "k" },
    output: { value, version },
    call,
    ret: call + 1,
  });
  const good = [put(1, "a", 0, 1, 5), get(2, "a", 5, 2)];
  assert.ok(checkLinearizable(good, chaosKvModel).ok);
  // Acknowledged, then not there: lost.
  assert.ok(!checkLinearizable([put(1, "a", 0, 1, 5), get(2, null, 0, 2)], chaosKvModel).ok);
  // A read of the old value after a newer acknowledged write: stale.
  const stale = [put(1, "a", 0, 1, 5), put(1, "b", 2, 3, 7), get(2, "a", 5, 4)];
  assert.ok(!checkLinearizable(stale, chaosKvModel).ok);
  // An unknown-outcome write may or may not have happened; its version is learnt by a read.
  const unknown: Op[] = [
    { client: 1, input: { op: "put", key: "k", value: "c" }, call: 0, ret: Infinity },
    get(2, "c", 9, 3),
    {
      client: 2,
      input: { op: "put", key: "k", value: "d", cas: 9 },
      output: { ok: true, version: 11 },
      call: 5,
      ret: 6,
    },
  ];
  assert.ok(checkLinearizable(unknown, chaosKvModel).ok);
  // A CAS on a version that was never current cannot succeed.
  const badCas = [put(1, "a", 0, 1, 5), { ...unknown[2], call: 2, ret: 3 }];
  assert.ok(!checkLinearizable(badCas, chaosKvModel).ok);
});

Deno.test({
  name: "chaos: one short seeded schedule against a real 7-process cluster passes every check",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await runChaos({ seed: SEED, minutes: MINUTES });
    const applied = Object.values(r.faults.applied).reduce((s, n) => s + n, 0);
    console.log(
      `chaos seed ${SEED}: ${r.wallSeconds} s, kv ${r.ops.kvOk} ok + ${r.ops.kvUnknown} unknown, ` +
        `appends ${r.ops.appendsAcked}, jobs ${r.ops.jobs}, faults ${applied}`,
    );
    const failed = r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`);
    assert.deepEqual(failed, [], `replay: ${replayCommand(r)} (cluster kept in ${r.dir})`);
    assert.ok(applied >= 3, `only ${applied} faults applied`);
    assert.ok(r.ops.kvOk > 100, `only ${r.ops.kvOk} KV operations completed`);
    assert.ok(r.ops.appendsAcked > 0, "no append was acknowledged");
    assert.ok(r.ops.jobs > 0, "no stream job ran");
  },
});
