/**
 * A job record committed after the leader loaded the jobs (a submission that
 * raced a leader change) is picked up by the leader's periodic reconcile and
 * runs to completion, exactly once.
 */
import assert from "node:assert/strict";
import { checkSequences } from "../../lib/stream/sequences.ts";
import { type JobRecord, metaKeys } from "../../lib/stream/runtime/commit.ts";
import { checkedJobId, newJobId } from "../../lib/stream/runtime/job_manager.ts";
import { MemoryMetaStore } from "../../lib/stream/runtime/meta.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { startLocalStreamCluster } from "../../lib/stream/runtime/testing.ts";
import { validateJobSpec } from "../../lib/stream/spec.ts";

Deno.test("a job record no driver runs is picked up and finished by the leader", async () => {
  const c = await startLocalStreamCluster({
    workers: 2,
    manager: { heartbeatMs: 100, creditWindow: 256, batchSize: 64 },
  });
  try {
    let s = "";
    for (let v = 1; v <= 500; v++) for (let k = 0; k < 4; k++) s += `{"key":"k${k}","v":${v}}\n`;
    await c.fs.write("/in/orphan.ndjson", new TextEncoder().encode(s));
    const spec = validateJobSpec({
      name: "orphan",
      source: { kind: "ndjson", path: "/in/orphan.ndjson" },
      stages: [
        { op: "keyBy", column: "key", parallelism: 2 },
        { op: "count", as: "n", parallelism: 2 },
      ],
      sink: { kind: "dfs", path: "/out/orphan.ndjson" },
      checkpoint: { intervalMs: 100 },
    });
    assert.equal((await c.manager.list()).length, 0);
    // What a previous leader's forwarded write leaves behind: the record, and no driver here.
    const record: JobRecord = {
      id: "j-orphan",
      name: "orphan",
      spec,
      state: "pending",
      submittedAt: new Date().toISOString(),
      attempt: 0,
      assignment: {},
      restarts: 0,
    };
    await c.meta.put(metaKeys.job(record.id), record, 0);
    const deadline = Date.now() + 10_000;
    while (!(await c.manager.list()).some((j) => j.id === "j-orphan")) {
      assert.ok(Date.now() < deadline, "the leader did not pick up the job record");
      await new Promise((r) => setTimeout(r, 100));
    }
    const done = await c.manager.wait("j-orphan", 30_000);
    assert.equal(done.state, "finished", done.error);
    const out = await c.output(done);
    const expectLast = new Map(Array.from({ length: 4 }, (_, k) => [`k${k}`, 500]));
    const rep = checkSequences(out, { valueField: "n", expectLast });
    assert.ok(rep.ok, rep.problems.join("; "));
    assert.equal(out.length, 2000);
  } finally {
    await c.stop();
  }
});

Deno.test("a submission retried under the same id starts one job, not two", async () => {
  const c = await startLocalStreamCluster({
    workers: 2,
    manager: { heartbeatMs: 100, creditWindow: 256, batchSize: 64 },
  });
  try {
    let s = "";
    for (let v = 1; v <= 200; v++) for (let k = 0; k < 2; k++) s += `{"key":"k${k}","v":${v}}\n`;
    await c.fs.write("/in/retry.ndjson", new TextEncoder().encode(s));
    const spec = validateJobSpec({
      name: "retry",
      source: { kind: "ndjson", path: "/in/retry.ndjson" },
      stages: [{ op: "keyBy", column: "key" }, { op: "count", as: "n" }],
      sink: { kind: "dfs", path: "/out/retry.ndjson" },
      checkpoint: { intervalMs: 100 },
    });
    const id = newJobId();
    // A forward whose answer was lost is sent again (to this or another master).
    const [a, b] = await Promise.all([c.manager.submit(spec, id), c.manager.submit(spec, id)]);
    const again = await c.manager.submit(spec, id);
    assert.equal(a.id, id);
    assert.equal(b.id, id);
    assert.equal(again.id, id);
    assert.deepEqual((await c.manager.list()).map((j) => j.id), [id]);
    assert.equal(
      (await c.meta.list(metaKeys.prefix)).filter(([k]) => k === metaKeys.job(id)).length,
      1,
    );
    const done = await c.manager.wait(id, 30_000);
    assert.equal(done.state, "finished", done.error);
    const out = await c.output(done);
    const rep = checkSequences(out, {
      valueField: "n",
      expectLast: new Map([["k0", 200], ["k1", 200]]),
    });
    assert.ok(rep.ok, rep.problems.join("; "));
    assert.equal(out.length, 400);
    assert.throws(() => checkedJobId("../etc"), /not a job id/);
  } finally {
    await c.stop();
  }
});

/** Times out (outcome unknown) the first write of a job record after its creation; it lands late. */
class LateJobRecordMeta extends MemoryMetaStore {
  #writes = 0;
  #late: (() => Promise<number>) | undefined;
  timedOut = 0;
  override async put(key: string, value: unknown, cas?: number): Promise<number> {
    const isJob = /^_sys\/jobs\/[^/]+$/.test(key);
    if (isJob && this.#late) {
      const land = this.#late;
      this.#late = undefined;
      await land();
    }
    if (isJob && ++this.#writes === 2) {
      this.timedOut++;
      this.#late = () => super.put(key, value, cas);
      throw new ElasticoreError("proposal_timeout", "entry 7: outcome unknown", { status: 504 });
    }
    return await super.put(key, value, cas);
  }
}

Deno.test("a job record write that timed out and landed late is adopted, not fatal", async () => {
  const meta = new LateJobRecordMeta();
  const c = await startLocalStreamCluster({
    workers: 2,
    meta,
    manager: { heartbeatMs: 100, creditWindow: 256, batchSize: 64 },
  });
  try {
    let s = "";
    for (let v = 1; v <= 300; v++) for (let k = 0; k < 2; k++) s += `{"key":"k${k}","v":${v}}\n`;
    await c.fs.write("/in/late.ndjson", new TextEncoder().encode(s));
    const done = await c.run({
      name: "late-record",
      source: { kind: "ndjson", path: "/in/late.ndjson" },
      stages: [{ op: "keyBy", column: "key" }, { op: "count", as: "n" }],
      sink: { kind: "dfs", path: "/out/late.ndjson" },
      checkpoint: { intervalMs: 100 },
    }, 30_000);
    assert.equal(meta.timedOut, 1, "the deployment's record write timed out once");
    assert.equal(done.state, "finished", done.error);
    assert.equal((await c.output(done)).length, 600);
  } finally {
    await c.stop();
  }
});
