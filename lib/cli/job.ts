/**
 * `elasticore job run|submit|status|list|cancel|output` and the compatibility
 * command `elasticore job rainstorm OP1 OP2 SRC DEST TASKS [X] [--stateful]`.
 *
 * @module
 */
import type { Command } from "commander";
import { ElasticoreError } from "../errors.ts";
import { appModuleUrl } from "../stream/apps.ts";
import type { JobView } from "../stream/runtime/views.ts";
import { ApiClient, type ClientOptions, withClientOptions } from "./client.ts";

const ENDED = new Set(["finished", "failed", "cancelled"]);

async function readSpec(file: string): Promise<{ text: string; type: string }> {
  let text: string;
  try {
    text = file === "-"
      ? await new Response(Deno.stdin.readable).text()
      : await Deno.readTextFile(file);
  } catch (e) {
    throw new ElasticoreError(
      "cli_spec_unreadable",
      `cannot read ${file}: ${(e as Error).message}`,
    );
  }
  const json = file.endsWith(".json") || text.trimStart().startsWith("{");
  return { text, type: json ? "application/json" : "application/toml" };
}

function jobPath(id: string): string {
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(id)) {
    throw new ElasticoreError("cli_bad_job_id", `"${id}" is not a job id`);
  }
  return `/v1/jobs/${id}`;
}

/** One line per stage plus the checkpoint and restart summary. */
export function formatJob(j: JobView): string {
  const lines = [`${j.id}  ${j.name}  ${j.state}  restarts ${j.restarts}  output ${j.output}`];
  for (const s of j.stages) {
    lines.push(
      `  ${s.name.padEnd(24)} x${s.parallelism}  in ${s.recordsIn}  out ${s.recordsOut}  ` +
        `${s.ratePerSec}/s  backlog ${s.backlog}`,
    );
  }
  const c = j.lastCheckpoint;
  lines.push(
    c ? `  last checkpoint ${c.id} at ${c.at} (${c.durationMs} ms)` : "  no checkpoint yet",
  );
  if (j.error) lines.push(`  error: ${j.error}`);
  return lines.join("\n");
}

function progressLine(j: JobView): string {
  const src = j.stages[0];
  const last = j.stages[j.stages.length - 1];
  const ck = j.lastCheckpoint ? `ckpt ${j.lastCheckpoint.id}` : "no ckpt";
  const width = 20;
  const spin = Math.floor(Date.now() / 150) % width;
  const bar = ENDED.has(j.state)
    ? "#".repeat(width)
    : " ".repeat(spin) + "=" + " ".repeat(width - spin - 1);
  return `[${bar}] ${j.state} read ${src?.recordsIn ?? 0} (${src?.ratePerSec ?? 0}/s) ` +
    `out ${last?.recordsOut ?? 0} ${ck} restarts ${j.restarts}`;
}

/** Polls a job until it ended, showing a progress line on a terminal. */
async function follow(client: ApiClient, id: string, quiet: boolean): Promise<JobView> {
  const tty = Deno.stdout.isTerminal() && !quiet;
  const enc = new TextEncoder();
  for (;;) {
    const j = await client.json<JobView>({ method: "GET", path: jobPath(id), idempotent: true });
    if (tty) Deno.stdout.writeSync(enc.encode(`\r\x1b[2K${progressLine(j)}`));
    if (ENDED.has(j.state)) {
      if (tty) Deno.stdout.writeSync(enc.encode("\n"));
      return j;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function finish(j: JobView, json: boolean | undefined): void {
  console.log(json ? JSON.stringify(j) : formatJob(j));
  if (j.state === "failed") {
    throw new ElasticoreError("job_failed", `job ${j.id} failed: ${j.error ?? "unknown"}`);
  }
}

async function submit(client: ApiClient, text: string, type: string): Promise<JobView> {
  return await client.json<JobView>({
    method: "POST",
    path: "/v1/jobs",
    body: text,
    headers: { "content-type": type },
  });
}

/** Module files of the built-in apps, as `job rainstorm` names them. */
const BUILTIN: Record<string, [string, string]> = {
  app1: ["app1_filter.ts", "app1_select.ts"],
  app2: ["app2_filter.ts", "app2_count.ts"],
};

async function uploadModule(client: ApiClient, op: string, slot: 0 | 1): Promise<string> {
  let bytes: Uint8Array<ArrayBuffer>;
  let name: string;
  const builtin = BUILTIN[op];
  if (builtin) {
    name = builtin[slot];
    bytes = await Deno.readFile(appModuleUrl(builtin[slot] as never));
  } else {
    try {
      bytes = await Deno.readFile(op);
    } catch (e) {
      throw new ElasticoreError(
        "cli_module_unreadable",
        `cannot read operator module ${op}: ${(e as Error).message}`,
        { hint: "pass a .ts/.js file exporting process(record, ctx), or app1 / app2" },
      );
    }
    name = op.split("/").pop()!;
  }
  const path = `/apps/${name}`;
  const res = await client.request({
    method: "PUT",
    path: `/v1/fs${path}?overwrite=true`,
    body: bytes,
    idempotent: true,
  });
  if (!res.ok) {
    const body = await res.text();
    throw new ElasticoreError("cli_upload_failed", `uploading ${op} failed: ${body.slice(0, 300)}`);
  }
  await res.body?.cancel();
  return path;
}

/** The spec of `job rainstorm`. */
export function rainstormSpec(o: {
  op1: string;
  op2: string;
  src: string;
  dest: string;
  tasks: number;
  x?: string;
  stateful: boolean;
  key: string;
}): Record<string, unknown> {
  const args = o.x === undefined ? undefined : { pattern: o.x, value: o.x };
  const stages: Record<string, unknown>[] = [
    { op: "user", name: "filter", module: o.op1, args, parallelism: o.tasks },
  ];
  if (o.stateful) stages.push({ op: "keyBy", column: o.key });
  stages.push({
    op: "user",
    name: "transform",
    module: o.op2,
    stateful: o.stateful,
    parallelism: o.tasks,
    ...(o.stateful ? { args: { column: o.key } } : {}),
  });
  return {
    name: "rainstorm",
    source: { kind: "csv", path: o.src },
    stages,
    sink: { kind: "dfs", path: o.dest, format: o.dest.endsWith(".csv") ? "csv" : "ndjson" },
  };
}

/** Registers `elasticore job ...`. */
export function registerJob(program: Command): void {
  const job = program.command("job").description("stream jobs");
  withClientOptions(
    job.command("run <spec>").description("submit a job spec (TOML/JSON file or -) and follow it")
      .option("--wait", "follow the job until it ends (the default for run)"),
  ).action(async (file: string, opts: ClientOptions) => {
    const client = await ApiClient.fromOptions(opts);
    const { text, type } = await readSpec(file);
    const j = await submit(client, text, type);
    finish(await follow(client, j.id, opts.json ?? false), opts.json);
  });
  withClientOptions(
    job.command("submit <spec>").description("submit a job spec and print its id")
      .option("--wait", "wait until the job ends"),
  ).action(async (file: string, opts: ClientOptions & { wait?: boolean }) => {
    const client = await ApiClient.fromOptions(opts);
    const { text, type } = await readSpec(file);
    const j = await submit(client, text, type);
    if (opts.wait) finish(await follow(client, j.id, true), opts.json);
    else console.log(opts.json ? JSON.stringify(j) : j.id);
  });
  withClientOptions(job.command("status <id>").description("a job's progress"))
    .action(async (id: string, opts: ClientOptions) => {
      const client = await ApiClient.fromOptions(opts);
      const j = await client.json<JobView>({ method: "GET", path: jobPath(id), idempotent: true });
      console.log(opts.json ? JSON.stringify(j) : formatJob(j));
    });
  withClientOptions(job.command("list").description("every job"))
    .action(async (opts: ClientOptions) => {
      const client = await ApiClient.fromOptions(opts);
      const r = await client.json<{ jobs: JobView[] }>({
        method: "GET",
        path: "/v1/jobs",
        idempotent: true,
      });
      if (opts.json) console.log(JSON.stringify(r));
      else {
        for (const j of r.jobs) {
          console.log(`${j.id}\t${j.name}\t${j.state}\trestarts ${j.restarts}\t${j.submittedAt}`);
        }
      }
    });
  withClientOptions(job.command("cancel <id>").description("cancel a job"))
    .action(async (id: string, opts: ClientOptions) => {
      const client = await ApiClient.fromOptions(opts);
      const j = await client.json<JobView>({ method: "DELETE", path: jobPath(id) });
      console.log(opts.json ? JSON.stringify(j) : `${j.id} ${j.state}`);
    });
  withClientOptions(job.command("output <id>").description("print a job's committed output"))
    .action(async (id: string, opts: ClientOptions) => {
      const client = await ApiClient.fromOptions(opts);
      const res = await client.request({
        method: "GET",
        path: `${jobPath(id)}/output`,
        idempotent: true,
      });
      if (!res.ok) {
        const { readJson } = await import("./client.ts");
        await readJson(res);
      }
      await res.body?.pipeTo(Deno.stdout.writable, { preventClose: true });
    });
  withClientOptions(
    job.command("rainstorm <op1> <op2> <src> <dest> <tasks> [x]")
      .description(
        "filter with OP1 then transform with OP2 (module files, or app1/app2) from SRC to DEST",
      )
      .option("--stateful", "key by --key and keep per-key state in OP2 (keyed counting)")
      .option("--key <column>", "key column of --stateful", "Category"),
  ).action(
    async (
      op1: string,
      op2: string,
      src: string,
      dest: string,
      tasksRaw: string,
      x: string | undefined,
      opts: ClientOptions & { stateful?: boolean; key: string },
    ) => {
      const tasks = Number(tasksRaw);
      if (!Number.isInteger(tasks) || tasks < 1 || tasks > 256) {
        throw new ElasticoreError("cli_bad_tasks", `TASKS must be 1..256, got "${tasksRaw}"`);
      }
      const client = await ApiClient.fromOptions(opts);
      const spec = rainstormSpec({
        op1: await uploadModule(client, op1, 0),
        op2: await uploadModule(client, op2, 1),
        src,
        dest,
        tasks,
        x,
        stateful: opts.stateful ?? false,
        key: opts.key,
      });
      const j = await submit(client, JSON.stringify(spec), "application/json");
      finish(await follow(client, j.id, opts.json ?? false), opts.json);
    },
  );
}
