/**
 * Job manager failover and worker loss on a real cluster (3 masters + 3
 * workers, SWIM membership, the DFS as the file system, the Raft KV holding
 * job records and manifests). A keyed sequence source (every key's values
 * 1, 2, 3, ...) feeds a keyed count and a DFS sink. Per seed:
 *
 * 1. once the job has completed a checkpoint, `kill -9` hits the Raft leader
 *    (which runs the job manager); a new leader must load the job from the
 *    KV, take it over from its last manifest and finish it;
 * 2. `kill -9` hits a worker running tasks; the SWIM-backed directory (and
 *    the heartbeats) must move its tasks to the live workers.
 *
 * Each committed output must pass `checkSequences` and equal the
 * failure-free expectation (every key counted 1..N exactly once). The killed
 * node is started again before the next run.
 *
 * Seeds: odd seeds kill the leader, even seeds a worker; 2 by default (one of
 * each); `ELASTICORE_STREAM_SEEDS=N` runs N.
 */
import assert from "node:assert/strict";
import { checkSequences } from "../../lib/stream/sequences.ts";
import { TestCluster } from "./cluster_util.ts";

const KEYS = 12;
const PER_KEY = 20_000;
const SEEDS = Number(Deno.env.get("ELASTICORE_STREAM_SEEDS") ?? "2");
const INPUT = "/in/seq.ndjson";

interface JobJson {
  id: string;
  state: string;
  error?: string;
  restarts: number;
  attempt: number;
  tasks: Record<string, string>;
  lastCheckpoint: { id: number } | null;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function spec(name: string, out: string) {
  return {
    name,
    source: { kind: "ndjson", path: INPUT },
    stages: [
      { op: "keyBy", column: "key", parallelism: 3 },
      { op: "count", as: "n", parallelism: 3 },
    ],
    sink: { kind: "dfs", path: out },
    checkpoint: { intervalMs: 150, timeoutMs: 4000 },
  };
}

/** The failure-free output: every key counted 1..PER_KEY, as sorted `key\tn` lines. */
function expected(): string[] {
  const out: string[] = [];
  for (let k = 0; k < KEYS; k++) for (let v = 1; v <= PER_KEY; v++) out.push(`k${k}\t${v}`);
  return out.sort();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "stream failover: kill -9 of the Raft leader and of a worker mid-job, exactly once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const t0 = Date.now();
    const c = await TestCluster.start({ masters: 3, workers: 3 });
    /** Any running node other than `not` (requests are forwarded to the leader). */
    const via = (not?: string) => {
      const ids = c.running().filter((id) => id !== not);
      return ids[Math.floor(Math.random() * ids.length)];
    };
    const call = async (method: string, path: string, body?: string, timeoutMs = 10_000) => {
      const deadline = Date.now() + 40_000;
      for (;;) {
        const r = await c.request(via(), method, path, body, timeoutMs)
          .catch((e) => ({ status: 0, json: undefined, text: String(e) }));
        if (r.status >= 200 && r.status < 300) return r;
        // 503/504 while a new leader is elected and loads the jobs.
        if (r.status !== 0 && r.status < 500) {
          assert.fail(`${method} ${path}: ${r.status} ${r.text}`);
        }
        if (Date.now() > deadline) assert.fail(`${method} ${path}: ${r.status} ${r.text}`);
        await sleep(200);
      }
    };
    const job = async (id: string) =>
      (await call("GET", `/v1/jobs/${id}`)).json as unknown as JobJson;
    const waitFor = async (id: string, ok: (j: JobJson) => boolean, ms: number) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const j = await job(id);
        if (ok(j)) return j;
        if (Date.now() > deadline) assert.fail(`job ${id} stuck: ${JSON.stringify(j)}`);
        await sleep(50);
      }
    };
    const ended = (j: JobJson) => ["finished", "failed", "cancelled"].includes(j.state);
    const want = expected();
    const check = async (out: string, what: string) => {
      const r = await call("GET", `/v1/fs${out}`, undefined, 30_000);
      const recs = r.text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
      const rep = checkSequences(recs, {
        valueField: "n",
        expectLast: new Map(Array.from({ length: KEYS }, (_, k) => [`k${k}`, PER_KEY])),
      });
      assert.ok(rep.ok, `${what}: ${rep.problems.join("; ")}`);
      const lines = recs.map((x) => `${x.key}\t${x.n}`).sort();
      assert.equal(lines.length, want.length, `${what}: ${lines.length} records`);
      assert.ok(lines.every((l, i) => l === want[i]), `${what}: differs from the clean output`);
    };
    /** Waits until the restarted master `id` applied what the leader committed. */
    const caughtUp = async (id: string) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await c.request(id, "GET", "/v1/cluster", undefined, 2_000).catch(() => null);
        const raft = r?.json?.raft as { commit: number; applied: number; leader: string } | null;
        if (raft && raft.leader && raft.applied >= raft.commit && raft.commit > 0) return;
        if (Date.now() > deadline) assert.fail(`${id} did not catch up`);
        await sleep(200);
      }
    };
    const submitAndWaitCheckpoint = async (name: string, out: string) => {
      const r = await call("POST", "/v1/jobs", JSON.stringify(spec(name, out)));
      const id = (r.json as unknown as JobJson).id;
      const j = await waitFor(id, (x) => x.lastCheckpoint !== null || ended(x), 30_000);
      assert.ok(!ended(j), `${name} ended before the failure could be injected; make it longer`);
      return { id, job: j };
    };
    try {
      await t.step("upload the keyed sequences", async () => {
        const lines: string[] = [];
        for (let v = 1; v <= PER_KEY; v++) {
          for (let k = 0; k < KEYS; k++) lines.push(`{"key":"k${k}","value":${v}}`);
        }
        await call("PUT", `/v1/fs${INPUT}?overwrite=true`, lines.join("\n") + "\n", 30_000);
        console.log(`cluster up and ${KEYS * PER_KEY} records uploaded in ${Date.now() - t0} ms`);
      });

      for (let seed = 1; seed <= SEEDS; seed++) {
        const rnd = mulberry32(seed);
        const leaderRound = seed % 2 === 1;
        if (leaderRound) {
          await t.step(`seed ${seed}: kill -9 of the Raft leader (the job manager)`, async () => {
            const out = `/out/leader-${seed}.ndjson`;
            const { id, job: before } = await submitAndWaitCheckpoint(`leader-${seed}`, out);
            await sleep(Math.floor(rnd() * 400));
            const leader = await c.waitForLeader(5_000);
            await c.kill(leader);
            const t1 = Date.now();
            const next = await c.waitForLeader(20_000, leader);
            const tLead = Date.now() - t1;
            const done = await waitFor(id, ended, 90_000);
            console.log(
              `seed ${seed}: killed leader ${leader} at checkpoint ${before.lastCheckpoint?.id}; ` +
                `${next} led after ${tLead} ms; job ${done.state} ${
                  Date.now() - t1
                } ms after the ` +
                `kill (attempt ${done.attempt}, restarts ${done.restarts})`,
            );
            assert.equal(done.state, "finished", `seed ${seed}: ${done.error}`);
            assert.ok(
              done.attempt > before.attempt,
              `seed ${seed}: the new leader did not redeploy`,
            );
            await check(out, `seed ${seed}, leader ${leader} killed`);
            c.spawn(leader);
            await caughtUp(leader);
          });
        } else {
          await t.step(`seed ${seed}: kill -9 of a worker running tasks`, async () => {
            const out = `/out/worker-${seed}.ndjson`;
            const { id, job: before } = await submitAndWaitCheckpoint(`worker-${seed}`, out);
            await sleep(Math.floor(rnd() * 400));
            const busy = [...new Set(Object.values(before.tasks))].sort();
            const victim = busy[Math.floor(rnd() * busy.length)];
            await c.kill(victim);
            const t1 = Date.now();
            const done = await waitFor(id, ended, 90_000);
            const now = [...new Set(Object.values(done.tasks))].join(",");
            console.log(
              `seed ${seed}: killed worker ${victim}; job ${done.state} ${Date.now() - t1} ms ` +
                `later (restarts ${done.restarts}, tasks now on ${now})`,
            );
            assert.equal(done.state, "finished", `seed ${seed}: ${done.error}`);
            assert.ok(done.restarts >= 1, `seed ${seed}: no restart after killing ${victim}`);
            assert.ok(
              !Object.values(done.tasks).includes(victim),
              `seed ${seed}: tasks stayed on the dead ${victim}`,
            );
            await check(out, `seed ${seed}, worker ${victim} killed`);
            c.spawn(victim);
          });
        }
      }
      console.log(`whole test ${Date.now() - t0} ms`);
    } finally {
      await c.stop();
    }
  },
});
