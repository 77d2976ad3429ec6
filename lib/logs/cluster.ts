/**
 * Cluster-wide grep and tail: fan a query out to every live member in
 * parallel (the local node is called directly, the others over RPC), merge
 * the answers, and say which nodes are missing from a partial answer.
 *
 * Grep results are ordered by node id, then by file (oldest first), then by
 * line, so the same logs always give the same answer. A node that fails,
 * cannot be reached or does not answer within `timeoutMs` is listed in
 * `missing` with the reason and the answer is marked `partial`; a node that
 * answered but stopped scanning early (its time budget, `maxMatches`, reply
 * size) is marked `truncated` in its summary instead.
 *
 * Tail merges the nodes' lines by `ts`. Follow mode is poll-based: each
 * answer carries one cursor per node; passing them back returns the lines
 * written since, per node, merged by `ts`.
 *
 * @module
 */
import type {
  LogsGrepReply,
  LogsGrepRequest,
  LogsTailLine,
  LogsTailReply,
  LogsTailRequest,
} from "../../proto/logs.ts";
import { ElasticoreError } from "../errors.ts";
import { errorMessage, TransportError } from "../transport/errors.ts";
import type { CallOptions } from "../transport/rpc.ts";
import { compilePattern } from "./pattern.ts";

/** What the fan-out needs of the RPC layer (an `Rpc` satisfies it). */
export interface LogRpc {
  /** This node's id. */
  readonly nodeId: string;
  /** Calls `type` on `peer`. */
  call<R = unknown>(peer: string, type: string, body: unknown, opts?: CallOptions): Promise<R>;
}

/** What the fan-out needs of the local node (a `LogService` satisfies it). */
export interface LocalLogs {
  /** The local node's id. */
  readonly nodeId: string;
  /** Scans local files until `deadline`. */
  grep(req: LogsGrepRequest, opts: { deadline?: number }): Promise<LogsGrepReply>;
  /** Reads local recent lines. */
  tail(req: LogsTailRequest): Promise<LogsTailReply>;
}

/** Live members, as SWIM (or the configured member list) knows them. */
export type MemberList = () => readonly { id: string }[];

/** A node that did not answer. */
export interface MissingNode {
  /** Node id. */
  node: string;
  /** Why: `timeout`, `unreachable`, `failed`, `not_member`, with details. */
  reason: string;
}

/** Options of a cluster query. */
export interface ClusterQueryOptions {
  /** How long to wait for every node, in ms (default 10 s). */
  timeoutMs?: number;
  /** The local node's service: always asked (directly, not over RPC), even if `members` omits it. */
  local?: LocalLogs;
  /** Only these nodes (default: every live member). */
  nodes?: readonly string[];
  /** Most matching lines in the merged answer (default 100,000). */
  maxTotal?: number;
}

/** One matching line of the cluster answer. */
export interface ClusterMatch {
  /** Node id. */
  node: string;
  /** File name inside the node's log directory. */
  file: string;
  /** 1-based line number. */
  line: number;
  /** The line. */
  text: string;
  /** The line was cut to the wire limit. */
  cut?: boolean;
}

/** One node's part of a cluster grep. */
export interface NodeGrepSummary {
  /** Node id. */
  node: string;
  /** Matching lines found there. */
  total: number;
  /** Whether it stopped early. */
  truncated: boolean;
  /** Why. */
  truncatedBy?: string;
  /** Files scanned. */
  filesScanned: number;
  /** Bytes read. */
  bytesScanned: number;
  /** Its scan time. */
  tookMs: number;
}

/** The merged answer of {@link clusterGrep}. */
export interface ClusterGrepResult {
  /** Matching lines by node, file, line (empty with `count`). */
  matches: ClusterMatch[];
  /** Per node and file counts (only with `count`). */
  counts: { node: string; file: string; count: number }[];
  /** One summary per node that answered, by node id. */
  nodes: NodeGrepSummary[];
  /** Matching lines over all answering nodes. */
  total: number;
  /** Some node stopped early, or the merged list was cut at `maxTotal`. */
  truncated: boolean;
  /** Some nodes did not answer. */
  partial: boolean;
  /** Those nodes and why. */
  missing: MissingNode[];
  /** Files that could not be scanned. */
  errors: { node: string; file: string; code: string; message: string }[];
  /** Wall time of the query. */
  tookMs: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** The reason text of a failed node call. */
export function missingReason(e: unknown, timeoutMs: number): string {
  if (e instanceof TransportError) {
    switch (e.code) {
      case "deadline_exceeded":
        return `timeout: no answer within ${timeoutMs} ms`;
      case "peer_unavailable":
      case "closed":
      case "handshake_failed":
        return `unreachable: ${e.message}`;
      default:
        return `failed: ${e.message}`;
    }
  }
  return `failed: ${errorMessage(e)}`;
}

function targets(members: MemberList, self: string | undefined, opts: ClusterQueryOptions) {
  const live = new Set(members().map((m) => m.id));
  if (self !== undefined) live.add(self);
  const missing: MissingNode[] = [];
  let ids = [...live];
  if (opts.nodes && opts.nodes.length > 0) {
    ids = [];
    for (const n of new Set(opts.nodes)) {
      if (live.has(n)) ids.push(n);
      else missing.push({ node: n, reason: "not_member: not a live member of the cluster" });
    }
  }
  ids.sort();
  return { ids, missing };
}

/** Waits for `p` at most `ms`; rejects with a `deadline_exceeded` error after that. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TransportError("deadline_exceeded", `no answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

type Outcome<T> = { node: string; ok: true; value: T } | {
  node: string;
  ok: false;
  error: unknown;
};

async function fanOut<T>(
  ids: readonly string[],
  timeoutMs: number,
  local: LocalLogs | undefined,
  callLocal: (l: LocalLogs) => Promise<T>,
  callRemote: (id: string) => Promise<T>,
): Promise<Outcome<T>[]> {
  return await Promise.all(ids.map(async (node): Promise<Outcome<T>> => {
    try {
      const isLocal = local !== undefined && node === local.nodeId;
      const p = isLocal ? callLocal(local) : callRemote(node);
      // A remote call fails by its own deadline (with the transport's reason); this is a backstop.
      return { node, ok: true, value: await within(p, isLocal ? timeoutMs : timeoutMs + 250) };
    } catch (error) {
      return { node, ok: false, error };
    }
  }));
}

/**
 * Greps every live member's logs (see the module docs). Throws
 * `ElasticoreError` (400) for a rejected pattern before asking any node.
 */
export async function clusterGrep(
  members: MemberList,
  rpc: LogRpc,
  request: LogsGrepRequest,
  opts: ClusterQueryOptions = {},
): Promise<ClusterGrepResult> {
  const start = performance.now();
  compilePattern({
    pattern: request.pattern,
    ignoreCase: request.ignoreCase ?? false,
    regex: request.regex ?? false,
  });
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new ElasticoreError("logs_bad_request", "timeoutMs must be > 0");
  // Remote scans stop early enough for their reply to arrive before we give up.
  const budgetMs = Math.max(1, Math.round(timeoutMs - Math.min(500, timeoutMs / 5)));
  const req: LogsGrepRequest = {
    ...request,
    budgetMs: Math.min(request.budgetMs ?? budgetMs, budgetMs),
  };
  const { ids, missing } = targets(members, opts.local?.nodeId, opts);
  const outcomes = await fanOut(
    ids,
    timeoutMs,
    opts.local,
    (l) => l.grep(req, { deadline: Date.now() + timeoutMs }),
    (id) => rpc.call<LogsGrepReply>(id, "logs.grep", req, { deadlineMs: timeoutMs }),
  );
  const maxTotal = opts.maxTotal ?? 100_000;
  const out: ClusterGrepResult = {
    matches: [],
    counts: [],
    nodes: [],
    total: 0,
    truncated: false,
    partial: false,
    missing,
    errors: [],
    tookMs: 0,
  };
  for (const o of outcomes) {
    if (!o.ok) {
      out.missing.push({ node: o.node, reason: missingReason(o.error, timeoutMs) });
      continue;
    }
    const r = o.value;
    out.nodes.push({
      node: o.node,
      total: r.total,
      truncated: r.truncated,
      ...(r.truncatedBy ? { truncatedBy: r.truncatedBy } : {}),
      filesScanned: r.filesScanned,
      bytesScanned: r.bytesScanned,
      tookMs: r.tookMs,
    });
    out.total += r.total;
    if (r.truncated) out.truncated = true;
    for (const m of r.matches) {
      if (out.matches.length >= maxTotal) {
        out.truncated = true;
        break;
      }
      out.matches.push({ node: o.node, ...m });
    }
    for (const c of r.counts) out.counts.push({ node: o.node, ...c });
    for (const e of r.errors) out.errors.push({ node: o.node, ...e });
  }
  out.missing.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  out.partial = out.missing.length > 0;
  out.tookMs = Math.round(performance.now() - start);
  return out;
}

/** A cluster tail request. */
export interface ClusterTailRequest {
  /** Most lines (latest mode: in total; follow mode: per node). Default 100. */
  limit?: number;
  /** Lowest level. */
  level?: string;
  /** Only these subsystems. */
  subsystems?: string[];
  /** Follow mode: the cursors of the previous answer. */
  cursors?: Record<string, string>;
}

/** The merged answer of {@link clusterTail}. */
export interface ClusterTailResult {
  /** Lines ordered by `ts` (oldest first). */
  lines: LogsTailLine[];
  /** Per node cursor to pass back for the lines written after these. */
  cursors: Record<string, string>;
  /** Some node has more lines waiting (poll again at once). */
  more: boolean;
  /** Some nodes did not answer. */
  partial: boolean;
  /** Those nodes and why. */
  missing: MissingNode[];
}

function tsKey(l: LogsTailLine): number {
  const ms = Date.parse(l.ts);
  return Number.isNaN(ms) ? 0 : ms;
}

/**
 * Merges per-node tail lines by `ts` (stable: ties keep node order, then
 * each node's own order). Exported for tests.
 */
export function mergeByTs(perNode: readonly (readonly LogsTailLine[])[]): LogsTailLine[] {
  const all: { l: LogsTailLine; k: number; n: number; i: number }[] = [];
  perNode.forEach((lines, n) => lines.forEach((l, i) => all.push({ l, k: tsKey(l), n, i })));
  all.sort((a, b) => a.k - b.k || a.n - b.n || a.i - b.i);
  return all.map((x) => x.l);
}

/**
 * The recent lines of every live member merged by `ts`; with `cursors`,
 * the lines written since the previous answer (see the module docs).
 */
export async function clusterTail(
  members: MemberList,
  rpc: LogRpc,
  request: ClusterTailRequest,
  opts: ClusterQueryOptions = {},
): Promise<ClusterTailResult> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const limit = request.limit ?? 100;
  const { ids, missing } = targets(members, opts.local?.nodeId, opts);
  const reqFor = (id: string): LogsTailRequest => {
    const r: LogsTailRequest = { limit };
    if (request.level !== undefined) r.level = request.level;
    if (request.subsystems && request.subsystems.length > 0) r.subsystems = request.subsystems;
    const c = request.cursors?.[id];
    if (c !== undefined) r.cursor = c;
    return r;
  };
  const outcomes = await fanOut(
    ids,
    timeoutMs,
    opts.local,
    (l) => l.tail(reqFor(l.nodeId)),
    (id) => rpc.call<LogsTailReply>(id, "logs.tail", reqFor(id), { deadlineMs: timeoutMs }),
  );
  const cursors: Record<string, string> = { ...(request.cursors ?? {}) };
  const perNode: LogsTailLine[][] = [];
  let more = false;
  for (const o of outcomes) {
    if (!o.ok) {
      missing.push({ node: o.node, reason: missingReason(o.error, timeoutMs) });
      continue;
    }
    perNode.push(o.value.lines);
    cursors[o.node] = o.value.cursor;
    if (o.value.more) more = true;
  }
  let lines = mergeByTs(perNode);
  // Latest mode keeps the newest `limit` overall; follow mode keeps everything new.
  if (request.cursors === undefined && lines.length > limit) lines = lines.slice(-limit);
  missing.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  return { lines, cursors, more, partial: missing.length > 0, missing };
}
