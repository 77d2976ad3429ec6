/**
 * `elasticore dev --demo`: on a freshly started dev cluster, upload generated
 * traffic-sign rows to the DFS, run app1 and app2 as stream jobs on the
 * workers, print their results next to a plain single-process computation
 * of the same answers, and report whether they agree.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { CsvRecordReader } from "../stream/csv.ts";
import { app1Spec, app2Spec } from "../stream/apps.ts";
import { builtinModel, TrafficSignGenerator } from "../stream/gen.ts";
import type { ApiClient } from "./client.ts";

/** Rows the demo generates. */
export const DEMO_ROWS = 10_000;
/** Seed of the demo data. */
export const DEMO_SEED = 2026;

interface JobJson {
  id: string;
  state: string;
  error?: string;
  restarts: number;
  output: string;
}

/** What the demo printed, for tests. */
export interface DemoResult {
  /** app1's rows (OBJECTID, Sign_Type). */
  app1Rows: number;
  /** app2's final count per category. */
  app2: Record<string, number>;
  /** True when both equal the plain computation. */
  agree: boolean;
}

/** The plain, independent computation: one pass over the rows. */
function plain(csv: string): { app1: number; app2: Record<string, number> } {
  const reader = new CsvRecordReader();
  const rows = [...reader.push(csv), ...reader.finish()];
  let app1 = 0;
  const app2: Record<string, number> = {};
  for (const r of rows) {
    if (String(r.Sign_Type ?? "").includes("No Outlet")) app1++;
    if (r.Sign_Post === "Punched Telespar") {
      const c = String(r.Category ?? "");
      app2[c] = (app2[c] ?? 0) + 1;
    }
  }
  return { app1, app2 };
}

async function runJob(client: ApiClient, spec: unknown): Promise<JobJson> {
  const job = await client.json<JobJson>({
    method: "POST",
    path: "/v1/jobs?wait=1&timeout=120000",
    body: JSON.stringify(spec),
    headers: { "content-type": "application/json" },
    timeoutMs: 130_000,
  });
  if (job.state !== "finished") {
    throw new ElasticoreError(
      "demo_job_failed",
      `job ${job.id} ended ${job.state}: ${job.error ?? ""}`,
    );
  }
  return job;
}

async function output(client: ApiClient, id: string): Promise<string> {
  const res = await client.request({
    method: "GET",
    path: `/v1/jobs/${id}/output`,
    idempotent: true,
  });
  if (!res.ok) {
    throw new ElasticoreError("demo_output", `cannot read the output of ${id}: HTTP ${res.status}`);
  }
  return await res.text();
}

/** Runs the demo against the cluster `client` talks to; prints as it goes. */
export async function runDemo(client: ApiClient, print: (s: string) => void): Promise<DemoResult> {
  const gen = new TrafficSignGenerator(builtinModel(), DEMO_SEED);
  const csv = gen.header() + gen.rows(1, DEMO_ROWS);
  const input = "/demo/TrafficSigns.csv";
  const put = await client.request({
    method: "PUT",
    path: `/v1/fs${input}?overwrite=true`,
    body: new TextEncoder().encode(csv),
    idempotent: true,
  });
  if (!put.ok) {
    throw new ElasticoreError(
      "demo_upload",
      `uploading the data failed: HTTP ${put.status} ${await put.text()}`,
    );
  }
  print(`uploaded ${DEMO_ROWS} generated traffic-sign rows to ${input} (DFS, replicated)`);

  const j1 = await runJob(
    client,
    app1Spec("No Outlet", { input, output: "/demo/app1.csv", parallelism: 3 }),
  );
  const out1 = (await output(client, j1.id)).trim().split("\n");
  const app1Rows = out1.length - 1; // header
  print(
    `\napp1 (${j1.id}): rows whose Sign_Type contains "No Outlet" -> ${app1Rows} rows; first 5:`,
  );
  for (const line of out1.slice(0, 6)) print(`  ${line}`);

  const j2 = await runJob(client, app2Spec("Punched Telespar", { input, parallelism: 3 }));
  const app2: Record<string, number> = {};
  for (const line of (await output(client, j2.id)).split("\n")) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { Category?: string; count?: number };
    if (r.Category !== undefined && typeof r.count === "number") {
      app2[r.Category] = Math.max(app2[r.Category] ?? 0, r.count);
    }
  }
  print(`\napp2 (${j2.id}): count per Category where Sign_Post = "Punched Telespar":`);
  for (const [cat, n] of Object.entries(app2).sort((a, b) => b[1] - a[1])) {
    print(`  ${cat.padEnd(16)} ${n}`);
  }

  const p = plain(csv);
  const same2 = Object.keys(p.app2).length === Object.keys(app2).length &&
    Object.entries(p.app2).every(([k, v]) => app2[k] === v);
  const agree = p.app1 === app1Rows && same2;
  print(
    `\nplain single-process computation: app1 ${p.app1} rows, app2 ${
      Object.keys(p.app2).length
    } categories -> ${agree ? "cluster results agree" : "MISMATCH"}`,
  );
  return { app1Rows, app2, agree };
}
