/**
 * Stream job routes:
 *
 * - `POST /v1/jobs` (spec as JSON or TOML; `Content-Type` `application/toml`
 *   or a body not starting with `{` is TOML) → 201 with the job;
 *   `?wait=1` waits until it ended (`&timeoutMs=`, default 10 minutes);
 * - `GET /v1/jobs` → `{ "jobs": [...] }`; `GET /v1/jobs/{id}` → the job
 *   (`?output` adds `"outputText"`: the committed output; `"output"` is its path);
 * - `DELETE /v1/jobs/{id}` cancels;
 * - `GET /v1/jobs/{id}/output` → the committed output (NDJSON or CSV text);
 * - `POST /v1/streams/{name}` appends NDJSON or lines (per
 *   `Content-Type`: `application/x-ndjson` / `application/json`, else lines)
 *   to the stream's log, which `stream` sources tail.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { ElasticoreError } from "../errors.ts";
import type { JobApi } from "../stream/runtime/job_api.ts";
import type { StreamFs } from "../stream/runtime/fs.ts";
import { jobPaths } from "../stream/runtime/graph.ts";
import { need } from "./auth.ts";
import type { ApiModule } from "./app.ts";

/** Largest output returned by the API, in bytes. */
export const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

const STREAM_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const JOB_ID = /^[A-Za-z0-9_.-]{1,128}$/;

function jobId(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!JOB_ID.test(id)) {
    throw new ElasticoreError("job_invalid_id", `"${id}" is not a job id`, { status: 400 });
  }
  return id;
}

function timeoutOf(c: Context): number {
  const raw = c.req.query("timeoutMs") ?? "600000";
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || n > 86_400_000) {
    throw new ElasticoreError("job_invalid_timeout", `timeoutMs must be 0..86400000, got "${raw}"`);
  }
  return n;
}

async function readOutput(fs: StreamFs, path: string): Promise<string> {
  if (!await fs.exists(path)) return "";
  const size = await fs.size(path);
  if (size > MAX_OUTPUT_BYTES) {
    throw new ElasticoreError(
      "job_output_too_large",
      `the output has ${size} bytes; read ${path} from the file system instead`,
      { status: 413, hint: `elasticore fs get ${path}` },
    );
  }
  return new TextDecoder().decode(await fs.read(path));
}

/** Checks an appended stream body; returns the number of records. */
export function checkStreamBody(text: string, ndjson: boolean): number {
  let n = 0;
  let line = 0;
  for (const l of text.split("\n")) {
    line++;
    if (l.trim() === "") continue;
    n++;
    if (!ndjson) continue;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      throw new ElasticoreError("stream_bad_record", `line ${line} is not JSON`, { status: 400 });
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      throw new ElasticoreError("stream_bad_record", `line ${line} is not a JSON object`, {
        status: 400,
      });
    }
  }
  return n;
}

/** The job routes, served by `api` and reading outputs from `fs`. */
export function jobRoutes(deps: { api: JobApi; fs: StreamFs }): ApiModule {
  const { api, fs } = deps;
  return (app: Hono) => {
    app.post("/v1/jobs", need("job:write"), async (c) => {
      const text = await c.req.text();
      const ct = c.req.header("content-type") ?? "";
      const format = /toml/i.test(ct) ? "toml" : /json/i.test(ct) ? "json" : undefined;
      let job = await api.submit(text, format);
      const wait = c.req.query("wait");
      if (wait !== undefined && wait !== "0" && wait !== "false") {
        job = await api.wait(job.id, timeoutOf(c));
      }
      return c.json(job, 201);
    });
    app.get("/v1/jobs", need("job:read"), async (c) => c.json({ jobs: await api.list() }));
    app.get("/v1/jobs/:id", need("job:read"), async (c) => {
      const job = await api.get(jobId(c));
      if (c.req.query("output") === undefined) return c.json(job);
      return c.json({ ...job, outputText: await readOutput(fs, job.output) });
    });
    app.delete("/v1/jobs/:id", need("job:write"), async (c) => c.json(await api.cancel(jobId(c))));
    app.get("/v1/jobs/:id/output", need("job:read"), async (c) => {
      const job = await api.get(jobId(c));
      const text = await readOutput(fs, job.output);
      const type = job.output.endsWith(".csv") ? "text/csv" : "application/x-ndjson";
      return c.body(text, 200, { "content-type": `${type}; charset=utf-8` });
    });
    app.post("/v1/streams/:name", need("job:write"), async (c) => {
      const name = c.req.param("name");
      if (!STREAM_NAME.test(name)) {
        throw new ElasticoreError("stream_invalid_name", `"${name}" is not a stream name`, {
          hint: "use 1-128 letters, digits, _ . -",
        });
      }
      const ct = c.req.header("content-type") ?? "";
      let text = await c.req.text();
      const records = checkStreamBody(text, /json/i.test(ct));
      if (text !== "" && !text.endsWith("\n")) text += "\n";
      const bytes = new TextEncoder().encode(text);
      if (bytes.length > 0) await fs.append(jobPaths.streamLog(name), bytes);
      return c.json({ stream: name, records, bytes: bytes.length });
    });
  };
}
