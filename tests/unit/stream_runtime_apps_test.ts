/**
 * app1 and app2 on the runtime: a job manager and three workers in one
 * process over real TLS RPC, a temp-dir file system; results must equal the
 * reference on TrafficSigns_1000.csv, with built-in and with user operators
 * (sandboxed Web Workers), and a throwing user operator dead-letters.
 */
import assert from "node:assert/strict";
import {
  app1Spec,
  app1UserSpec,
  app2Spec,
  app2UserSpec,
  APP_MODULE_FILES,
  appModuleUrl,
} from "../../lib/stream/apps.ts";
import { latestByKey } from "../../lib/stream/local.ts";
import { jobPaths } from "../../lib/stream/runtime/graph.ts";
import { startLocalStreamCluster } from "../../lib/stream/runtime/testing.ts";

const DATA = new URL("../../../shared/data/TrafficSigns_1000.csv", import.meta.url);
const APP2_REFERENCE: Record<string, number> = {
  Streetname: 312,
  Regulatory: 178,
  Parking: 80,
  Warning: 33,
  Custom: 22,
  School: 5,
  "Object Marker": 1,
};

function finalCounts(recs: Record<string, string | number>[], field: string) {
  const out: Record<string, number> = {};
  for (const [k, r] of latestByKey(recs, "Category")) out[k] = Number(r[field]);
  return out;
}

Deno.test("stream runtime: app1 and app2 on three workers equal the reference", async (t) => {
  const c = await startLocalStreamCluster({ workers: 3, manager: { heartbeatMs: 200 } });
  try {
    await c.fs.write("/data/TrafficSigns_1000.csv", await Deno.readFile(DATA));
    for (const f of APP_MODULE_FILES) {
      await c.fs.write(`/apps/${f}`, await Deno.readFile(appModuleUrl(f)));
    }

    await t.step("app2 built-in: running counts per category", async () => {
      const job = await c.run(app2Spec(undefined, { parallelism: 3 }));
      assert.equal(job.state, "finished", job.error);
      const out = await c.output(job);
      assert.equal(out.length, 631);
      assert.deepEqual(finalCounts(out, "count"), APP2_REFERENCE);
      assert.equal(job.stages[0].recordsIn, 1000);
      assert.equal(job.stages[1].recordsIn, 631);
    });

    await t.step("app1 built-in: 37 rows of OBJECTID, Sign_Type", async () => {
      const job = await c.run(app1Spec(undefined, { parallelism: 2 }));
      assert.equal(job.state, "finished", job.error);
      const out = await c.output(job);
      assert.equal(out.length, 37);
      for (const r of out) {
        assert.deepEqual(Object.keys(r), ["OBJECTID", "Sign_Type"]);
        assert.match(String(r.Sign_Type), /No Outlet/);
      }
      assert.equal(new Set(out.map((r) => r.OBJECTID)).size, 37);
    });

    await t.step("app2 with user operators in sandboxes", async () => {
      const job = await c.run(app2UserSpec(undefined, { parallelism: 2 }));
      assert.equal(job.state, "finished", job.error);
      const out = await c.output(job);
      assert.equal(out.length, 631);
      assert.deepEqual(finalCounts(out, "count"), APP2_REFERENCE);
    });

    await t.step("app1 with user operators, CSV output to a DFS file", async () => {
      const job = await c.run(app1UserSpec(undefined, { parallelism: 3, output: "/out/app1.csv" }));
      assert.equal(job.state, "finished", job.error);
      const lines = new TextDecoder().decode(await c.fs.read("/out/app1.csv")).trim().split("\n");
      assert.equal(lines[0], "OBJECTID,Sign_Type");
      assert.equal(lines.length, 38);
    });

    await t.step("a throwing user operator dead-letters the record, the job goes on", async () => {
      await c.fs.write(
        "/apps/picky.ts",
        new TextEncoder().encode(
          `export function process(r: Record<string, string>) {
            if (r.Category === "School") throw new Error("no schools " + r.OBJECTID);
            return { Category: r.Category };
          }`,
        ),
      );
      const job = await c.run({
        name: "picky",
        source: { kind: "csv", path: "/data/TrafficSigns_1000.csv" },
        stages: [
          { op: "filter", column: "Sign_Post", equals: "Punched Telespar", parallelism: 2 },
          { op: "user", module: "/apps/picky.ts", parallelism: 2 },
        ],
        sink: { kind: "api" },
      });
      assert.equal(job.state, "finished", job.error);
      assert.equal((await c.output(job)).length, 631 - 5);
      const dead = new TextDecoder().decode(await c.fs.read(jobPaths.deadLetter(job.id)))
        .trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(dead.length, 5);
      for (const d of dead) {
        assert.equal(d.record.Category, "School");
        assert.match(d.error, /no schools/);
        assert.equal(d.module, "/apps/picky.ts");
      }
    });

    await t.step("onError = fail fails the job", async () => {
      const job = await c.run({
        name: "picky-fail",
        source: { kind: "csv", path: "/data/TrafficSigns_1000.csv" },
        stages: [{ op: "user", module: "/apps/picky.ts", onError: "fail" }],
        sink: { kind: "api" },
      });
      assert.equal(job.state, "failed");
      assert.match(job.error ?? "", /no schools/);
    });
  } finally {
    await c.stop();
  }
});
