/**
 * The job API over HTTP (hono app with the job routes) on an in-process
 * cluster: TOML submit with ?wait, list, output, errors; a live stream fed by
 * POST /v1/streams/{name}; forwarding from a worker node to the job manager
 * over RPC; and the `job rainstorm` spec.
 */
import assert from "node:assert/strict";
import { createApiApp } from "../../lib/api/app.ts";
import { jobRoutes } from "../../lib/api/job_routes.ts";
import { rainstormSpec } from "../../lib/cli/job.ts";
import { MetricsRegistry } from "../../lib/metrics.ts";
import { createJobApi } from "../../lib/stream/runtime/job_api.ts";
import { startLocalStreamCluster } from "../../lib/stream/runtime/testing.ts";
import type { JobView } from "../../lib/stream/runtime/views.ts";
import { validateJobSpec } from "../../lib/stream/spec.ts";

const DATA = new URL("../../../shared/data/TrafficSigns_1000.csv", import.meta.url);

const APP2_TOML = `
name = "app2"
[source]
kind = "csv"
path = "/data/signs.csv"
[[stages]]
op = "filter"
column = "Sign_Post"
equals = "Punched Telespar"
parallelism = 2
[[stages]]
op = "keyBy"
column = "Category"
[[stages]]
op = "count"
parallelism = 2
[sink]
kind = "dfs"
path = "/out/app2.csv"
format = "csv"
`;

Deno.test("job API: submit, wait, list, output, streams, cancel and forwarding", async () => {
  const c = await startLocalStreamCluster({ workers: 2 });
  try {
    await c.fs.write("/data/signs.csv", await Deno.readFile(DATA));
    const api = createJobApi({ rpc: c.nodes[0].rpc, manager: c.manager });
    const app = createApiApp({
      verify: (token) => {
        if (token !== "t0k") return Promise.reject(new Error("bad token"));
        return Promise.resolve({ subject: "test", role: "admin" });
      },
      metrics: new MetricsRegistry(),
      health: () => ({ node: "m1", status: "ok", roles: ["master"], version: "test" }),
      isLeader: () => true,
      maxBodyBytes: 1 << 20,
      modules: [jobRoutes({ api, fs: c.fs })],
    });
    const req = (method: string, path: string, body?: string, type?: string) =>
      app.request(path, {
        method,
        body,
        headers: { authorization: "Bearer t0k", ...(type ? { "content-type": type } : {}) },
      });

    let res = await req("POST", "/v1/jobs?wait=1", APP2_TOML, "application/toml");
    assert.equal(res.status, 201);
    const job = await res.json() as JobView;
    assert.equal(job.state, "finished", job.error);
    res = await req("GET", `/v1/jobs/${job.id}/output`);
    const csv = (await res.text()).trim().split("\n");
    assert.equal(csv[0], "Category,count");
    assert.equal(csv.length, 632);
    assert.ok(csv.includes("Warning,33"));
    const list = await (await req("GET", "/v1/jobs")).json() as { jobs: JobView[] };
    assert.deepEqual(list.jobs.map((j) => j.id), [job.id]);
    assert.equal(list.jobs[0].stages[0].recordsIn, 1000);

    res = await req("POST", "/v1/jobs", '{"name": "x"}', "application/json");
    assert.equal(res.status, 400);
    const err = await res.json() as { error: { code: string; message: string } };
    assert.equal(err.error.code, "job_spec_invalid");
    assert.equal((await req("GET", "/v1/jobs/nope")).status, 404);
    assert.equal((await app.request("/v1/jobs")).status, 401);

    // A live stream: records posted to /v1/streams/{name} reach a running job.
    res = await req(
      "POST",
      "/v1/jobs",
      JSON.stringify({
        name: "live",
        source: { kind: "stream", name: "clicks" },
        stages: [{ op: "keyBy", column: "user" }, { op: "count", parallelism: 2 }],
        sink: { kind: "api" },
        checkpoint: { intervalMs: 50 },
      }),
      "application/json",
    );
    const live = await res.json() as JobView;
    res = await req(
      "POST",
      "/v1/streams/clicks",
      '{"user":"a"}\n{"user":"b"}\n{"user":"a"}',
      "application/x-ndjson",
    );
    assert.deepEqual(await res.json(), { stream: "clicks", records: 3, bytes: 39 });
    assert.equal(
      (await req("POST", "/v1/streams/clicks", "{oops}", "application/x-ndjson")).status,
      400,
    );
    let out: string[] = [];
    const until = Date.now() + 10_000;
    while (out.length < 3 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
      out = (await (await req("GET", `/v1/jobs/${live.id}/output`)).text()).trim().split("\n")
        .filter(Boolean);
    }
    assert.deepEqual(
      out.map((l) => JSON.parse(l)).sort((x, y) => x.count - y.count || (x.user < y.user ? -1 : 1)),
      [
        { user: "a", count: 1 },
        { user: "b", count: 1 },
        { user: "a", count: 2 },
      ],
    );
    res = await req("DELETE", `/v1/jobs/${live.id}`);
    assert.equal((await res.json() as JobView).state, "cancelled");

    // A worker node's API forwards to the job manager over RPC.
    const remote = createJobApi({ rpc: c.nodes[1].rpc, masters: ["m1"] });
    assert.equal((await remote.get(job.id)).state, "finished");
    await assert.rejects(
      () => remote.get("missing"),
      (e: Error & { code?: string }) => e.code === "job_not_found",
    );
  } finally {
    await c.stop();
  }
});

Deno.test("job rainstorm builds a filter stage and a (keyed) transform stage", () => {
  const s = validateJobSpec(rainstormSpec({
    op1: "/apps/app2_filter.ts",
    op2: "/apps/app2_count.ts",
    src: "/data/signs.csv",
    dest: "/out/r.csv",
    tasks: 3,
    x: "Punched Telespar",
    stateful: true,
    key: "Category",
  }));
  assert.deepEqual(s.stages.map((x) => x.op), ["user", "keyBy", "user"]);
  assert.equal(s.stages[0].parallelism, 3);
  assert.deepEqual(s.sink, { kind: "dfs", path: "/out/r.csv", format: "csv" });
  const plain = validateJobSpec(rainstormSpec({
    op1: "/apps/a.ts",
    op2: "/apps/b.ts",
    src: "/in",
    dest: "/out",
    tasks: 1,
    stateful: false,
    key: "Category",
  }));
  assert.deepEqual(plain.stages.map((x) => x.op), ["user", "user"]);
});
