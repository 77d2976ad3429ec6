/**
 * A node's log service: serves `logs.grep` and `logs.tail` over RPC (and
 * directly, for the node's own share of a cluster query) from the files
 * under `<data_dir>/logs`.
 *
 * The pattern is data: it is compiled by `./pattern.ts` (fixed string or a
 * bounded ERE subset that cannot backtrack catastrophically) and never
 * reaches a shell. A scan stops, with `truncated: true`, at the earlier of
 * the request's `budgetMs` and shortly before the caller's deadline, so the
 * node answers with what it found instead of timing out; at most
 * `maxConcurrent` scans run at once (more are refused with `logs_busy`).
 *
 * @module
 */
import { basename } from "node:path";
import {
  type LogsGrepReply,
  type LogsGrepRequest,
  logsGrepSchema,
  type LogsMatch,
  type LogsTailReply,
  type LogsTailRequest,
  logsTailSchema,
  MATCH_OVERHEAD_UNITS,
  MAX_LINE_CHARS,
  MAX_REPLY_MATCHES,
  MAX_REPLY_UNITS,
  MAX_TAIL_LINES,
} from "../../proto/logs.ts";
import { safeParse } from "../../proto/schema.ts";
import { ElasticoreError } from "../errors.ts";
import type { MetricsRegistry } from "../metrics.ts";
import type { HandlerContext, Rpc } from "../transport/rpc.ts";
import { listLogFiles } from "./files.ts";
import { tailPredicate } from "./lines.ts";
import { compilePattern } from "./pattern.ts";
import { DEFAULT_MAX_MATCHES, scanLogs, type ScanResult } from "./scanner.ts";
import { scanSince } from "./since_scan.ts";
import { readTail, statLogFiles } from "./tail.ts";

/** Default scan budget of a grep that sets none, in ms. */
export const DEFAULT_BUDGET_MS = 10_000;
/** Default number of lines of a tail. */
export const DEFAULT_TAIL_LIMIT = 100;

/** Options of {@link LogService}. */
export interface LogServiceOptions {
  /** This node's id. */
  nodeId: string;
  /** The node's data directory (logs are in `<dataDir>/logs`). */
  dataDir: string;
  /** Metrics registry (optional). */
  metrics?: MetricsRegistry;
  /** Scans allowed at once (default 4). */
  maxConcurrent?: number;
  /** Clock (default `Date.now`). */
  now?: () => number;
}

/** Per-call limits of a local grep. */
export interface LocalGrepOptions {
  /** `Date.now()` value after which the caller no longer waits. */
  deadline?: number;
}

function badRequest(message: string): ElasticoreError {
  return new ElasticoreError("logs_bad_request", message);
}

/** Cuts a scan result to what one reply may carry; see `proto/logs.ts`. */
export function toReply(
  node: string,
  r: ScanResult,
  counting: boolean,
  tookMs: number,
): LogsGrepReply {
  const matches: LogsMatch[] = [];
  let units = 0;
  let truncatedBy: LogsGrepReply["truncatedBy"] = r.truncatedBy;
  for (const m of r.matches) {
    const cut = m.text.length > MAX_LINE_CHARS;
    const text = cut ? m.text.slice(0, MAX_LINE_CHARS) : m.text;
    units += text.length + MATCH_OVERHEAD_UNITS;
    if (units > MAX_REPLY_UNITS) {
      truncatedBy = "replyBytes";
      break;
    }
    const out: LogsMatch = { file: basename(m.file), line: m.line, text };
    if (cut) out.cut = true;
    matches.push(out);
  }
  const counts = r.counts.map((c) => ({ file: basename(c.file), count: c.count }));
  return {
    node,
    matches,
    counts,
    total: counting ? counts.reduce((a, c) => a + c.count, 0) : matches.length,
    truncated: truncatedBy !== undefined,
    ...(truncatedBy ? { truncatedBy } : {}),
    errors: r.errors.slice(0, 256).map((e) => ({
      file: basename(e.file),
      code: e.code.slice(0, 64),
      message: e.message.slice(0, 1024),
    })),
    filesScanned: r.filesScanned,
    bytesScanned: r.bytesScanned,
    tookMs: Math.max(0, Math.round(tookMs)),
  };
}

/** See the module documentation. */
export class LogService {
  /** This node's id. */
  readonly nodeId: string;
  /** The node's data directory. */
  readonly dataDir: string;
  readonly #now: () => number;
  readonly #maxConcurrent: number;
  #running = 0;
  readonly #metrics?: {
    greps: ReturnType<MetricsRegistry["counter"]>;
    seconds: ReturnType<MetricsRegistry["histogram"]>;
    bytes: ReturnType<MetricsRegistry["counter"]>;
  };

  /** Creates the service; {@link register} makes it reachable over RPC. */
  constructor(opts: LogServiceOptions) {
    this.nodeId = opts.nodeId;
    this.dataDir = opts.dataDir;
    this.#now = opts.now ?? Date.now;
    this.#maxConcurrent = opts.maxConcurrent ?? 4;
    if (opts.metrics) {
      this.#metrics = {
        greps: opts.metrics.counter(
          "elasticore_logs_grep_total",
          "Local log scans served, by result (ok, truncated, error)",
        ),
        seconds: opts.metrics.histogram(
          "elasticore_logs_grep_seconds",
          "Duration of local log scans",
        ),
        bytes: opts.metrics.counter(
          "elasticore_logs_grep_bytes_total",
          "Bytes of log files read by local scans",
        ),
      };
    }
  }

  /**
   * Registers the `logs.grep` and `logs.tail` handlers on `rpc` (its registry
   * must hold `logsMessages` from `proto/logs.ts`).
   */
  register(rpc: Rpc): void {
    rpc.handle("logs.grep", (body, ctx: HandlerContext) => {
      const parsed = safeParse(logsGrepSchema, body);
      if (!parsed.ok) throw badRequest(parsed.error.message);
      return this.grep(parsed.value, { deadline: ctx.deadline });
    });
    rpc.handle("logs.tail", (body) => {
      const parsed = safeParse(logsTailSchema, body);
      if (!parsed.ok) throw badRequest(parsed.error.message);
      return this.tail(parsed.value);
    });
  }

  /** Scans this node's log files; throws `ElasticoreError` for a rejected pattern. */
  async grep(req: LogsGrepRequest, opts: LocalGrepOptions = {}): Promise<LogsGrepReply> {
    const start = this.#now();
    const compiled = compilePattern({
      pattern: req.pattern,
      ignoreCase: req.ignoreCase ?? false,
      regex: req.regex ?? false,
      count: req.count ?? false,
    });
    const maxMatches = req.maxMatches ?? DEFAULT_MAX_MATCHES;
    if (maxMatches < 1 || maxMatches > MAX_REPLY_MATCHES) {
      throw badRequest(`maxMatches must be 1..${MAX_REPLY_MATCHES}, got ${maxMatches}`);
    }
    const budget = req.budgetMs ?? DEFAULT_BUDGET_MS;
    let deadline = start + budget;
    if (opts.deadline !== undefined) {
      // Leave time for the reply to travel before the caller gives up.
      const margin = Math.min(250, Math.max(20, (opts.deadline - start) / 10));
      deadline = Math.min(deadline, opts.deadline - margin);
    }
    if (this.#running >= this.#maxConcurrent) {
      throw new ElasticoreError(
        "logs_busy",
        `${this.nodeId} is already running ${this.#running} log scans`,
        { status: 503, hint: "retry in a moment" },
      );
    }
    this.#running++;
    try {
      const files = await listLogFiles(this.dataDir);
      const now = this.#now;
      const r = req.since === undefined
        ? await scanLogs(files, compiled, { deadline, maxMatches, now })
        : await scanSince(files, compiled, req.since, { deadline, maxMatches, now });
      const reply = toReply(this.nodeId, r, compiled.request.count, now() - start);
      this.#metrics?.greps.inc({ result: reply.truncated ? "truncated" : "ok" });
      this.#metrics?.bytes.inc(undefined, r.bytesScanned);
      return reply;
    } catch (e) {
      this.#metrics?.greps.inc({ result: "error" });
      throw e;
    } finally {
      this.#running--;
      this.#metrics?.seconds.observe((this.#now() - start) / 1000);
    }
  }

  /** This node's latest lines, or the lines after `req.cursor`. */
  async tail(req: LogsTailRequest): Promise<LogsTailReply> {
    const limit = req.limit ?? DEFAULT_TAIL_LIMIT;
    if (limit < 1 || limit > MAX_TAIL_LINES) {
      throw badRequest(`limit must be 1..${MAX_TAIL_LINES}, got ${limit}`);
    }
    const keep = tailPredicate({ level: req.level, subsystems: req.subsystems });
    const files = await statLogFiles(this.dataDir);
    const r = await readTail(files, { node: this.nodeId, limit, keep, cursor: req.cursor });
    return { node: this.nodeId, ...r };
  }
}
