/**
 * The job API as the HTTP routes use it, on any node: served by the local
 * job manager when this node leads, else forwarded over RPC (`stream.jobs`)
 * to the leader (masters know it from Raft; other nodes ask the masters,
 * which forward once more).
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";
import { isTransportError } from "../../transport/errors.ts";
import type { Rpc } from "../../transport/mod.ts";
import { parseJobSpec } from "../spec.ts";
import { checkedJobId, type JobManager, newJobId } from "./job_manager.ts";
import { StreamJobs } from "./messages.ts";
import type { JobView } from "./views.ts";

/** The operations behind the job routes. */
export interface JobApi {
  /** Validates and submits a spec (JSON or TOML text). */
  submit(text: string, format?: "json" | "toml"): Promise<JobView>;
  /** Every job. */
  list(): Promise<JobView[]>;
  /** One job. */
  get(id: string): Promise<JobView>;
  /** Cancels a job. */
  cancel(id: string): Promise<JobView>;
  /** Waits until a job ended (or the timeout passed). */
  wait(id: string, timeoutMs: number): Promise<JobView>;
}

/** Options of {@link createJobApi}. */
export interface JobApiOptions {
  /** The RPC endpoint. */
  rpc: Rpc;
  /** The local job manager (masters). */
  manager?: JobManager;
  /** The Raft leader's id, when known (masters). */
  leaderId?: () => string | undefined;
  /** Master ids to ask when the leader is not known (workers). */
  masters?: readonly string[];
}

type Op = "submit" | "list" | "get" | "cancel" | "wait";

async function local(m: JobManager, op: Op, id?: string, body?: string): Promise<unknown> {
  switch (op) {
    case "submit":
      return await m.submit(
        parseJobSpec(body ?? "", "json"),
        id === undefined ? undefined : checkedJobId(id),
      );
    case "list":
      return await m.list();
    case "get":
      return await m.get(id ?? "");
    case "cancel":
      return await m.cancel(id ?? "");
    case "wait":
      return await m.wait(id ?? "", Number(body ?? "0"));
  }
}

function encodeResult(v: unknown): string {
  return JSON.stringify({ ok: v });
}

function encodeError(e: unknown): string {
  if (e instanceof ElasticoreError) {
    return JSON.stringify({ error: { code: e.code, message: e.message, status: e.status } });
  }
  return JSON.stringify({ error: { code: "internal", message: String(e), status: 500 } });
}

function isNoLeader(e: unknown): boolean {
  return e instanceof ElasticoreError && (e.code === "no_leader" || e.code === "not_leader");
}

/** The RPC deadline of a forwarded `wait` whose body is its timeout in ms. */
function waitDeadline(body: string | undefined): number {
  const ms = Number(body ?? "0");
  return (Number.isFinite(ms) && ms > 0 ? ms : 0) + 5_000;
}

function decodeReply(text: string): unknown {
  const r = JSON.parse(text) as {
    ok?: unknown;
    error?: { code: string; message: string; status: number };
  };
  if (r.error) throw new ElasticoreError(r.error.code, r.error.message, { status: r.error.status });
  return r.ok;
}

/** Builds the job API of a node and registers the `stream.jobs` handler on masters. */
export function createJobApi(opts: JobApiOptions): JobApi {
  const { rpc, manager } = opts;
  const isLocal = () => manager?.leading ?? false;
  const forward = async (op: Op, id?: string, body?: string, timeoutMs = 30_000) => {
    const targets = opts.leaderId?.() ? [opts.leaderId()!] : [...(opts.masters ?? [])];
    if (targets.length === 0) {
      throw new ElasticoreError("no_leader", "no leader is known yet", { status: 503 });
    }
    let last: unknown;
    for (const t of targets) {
      try {
        const r = await rpc.call<{ body: string }>(t, "stream.jobs", { op, id, body }, {
          deadlineMs: timeoutMs,
        });
        return decodeReply(r.body);
      } catch (e) {
        last = e;
        // Try the next master when this one is down or has no leader to forward to;
        // any other answer (a job error, a timeout of a call that may have run) is final.
        if (!isTransportError(e, "peer_unavailable") && !isNoLeader(e)) throw e;
      }
    }
    throw new ElasticoreError(
      "no_leader",
      `cannot reach the job manager: ${last instanceof Error ? last.message : String(last)}`,
      { status: 503 },
    );
  };
  const run = async (op: Op, id?: string, body?: string, timeoutMs?: number) =>
    isLocal() ? await local(manager!, op, id, body) : await forward(op, id, body, timeoutMs);
  if (manager) {
    rpc.handle("stream.jobs", async (raw) => {
      const b = StreamJobs.parse(raw);
      try {
        if (b.op === "output") throw new ElasticoreError("bad_request", "output is read locally");
        const v = isLocal()
          ? await local(manager, b.op, b.id, b.body)
          : opts.leaderId?.() && opts.leaderId() !== rpc.nodeId
          ? await forward(b.op, b.id, b.body, b.op === "wait" ? waitDeadline(b.body) : undefined)
          : (() => {
            throw new ElasticoreError("no_leader", "no leader is known yet", { status: 503 });
          })();
        return { body: encodeResult(v) };
      } catch (e) {
        return { body: encodeError(e) };
      }
    });
  }
  return {
    async submit(text, format) {
      const spec = parseJobSpec(text, format);
      // Named here, so a forward retried after an unknown outcome cannot start a second job.
      return await run("submit", newJobId(), JSON.stringify(spec)) as JobView;
    },
    async list() {
      return await run("list") as JobView[];
    },
    async get(id) {
      return await run("get", id) as JobView;
    },
    async cancel(id) {
      return await run("cancel", id) as JobView;
    },
    async wait(id, timeoutMs) {
      return await run("wait", id, String(timeoutMs), waitDeadline(String(timeoutMs))) as JobView;
    },
  };
}
