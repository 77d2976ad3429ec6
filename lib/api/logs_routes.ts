/**
 * `GET /v1/logs/grep` and `GET /v1/logs/tail`: distributed logs over HTTP.
 *
 * `GET /v1/logs/grep?pattern=P[&i=1][&c=1][&E=1][&node=a,b][&since=T][&max=N][&timeout=MS]`
 * answers the merged cluster grep (`ClusterGrepResult` of `lib/logs/cluster.ts`):
 * `{matches:[{node,file,line,text}], counts:[{node,file,count}], nodes:[{node,total,...}],
 * total, truncated, partial, missing:[{node,reason}], errors, tookMs}`. A partial
 * answer is still 200 (`partial: true`); a rejected pattern is 400
 * `logs_pattern_rejected`.
 *
 * `GET /v1/logs/tail?limit=N[&node=a,b][&level=L][&subsystem=s,t][&cursor=C]`
 * answers `{lines:[{ts,level,node,subsystem,msg,extra?}], cursor, more, partial,
 * missing}`, lines oldest first. Without `cursor`: the latest `limit` lines
 * over the selected nodes. With the `cursor` of an earlier answer: the lines
 * written since (up to `limit` per node), for polling.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import type { LogsGrepRequest } from "../../proto/logs.ts";
import { MAX_REPLY_MATCHES, MAX_TAIL_LINES } from "../../proto/logs.ts";
import { ElasticoreError } from "../errors.ts";
import type {
  ClusterGrepResult,
  ClusterQueryOptions,
  ClusterTailRequest,
  ClusterTailResult,
} from "../logs/cluster.ts";
import { parseLevel, parseSince } from "../logs/lines.ts";
import { need } from "./auth.ts";
import type { ApiModule } from "./app.ts";

/** The cluster query functions the routes call (see `startLogServices`). */
export interface LogsApi {
  /** Cluster grep. */
  grep(req: LogsGrepRequest, opts: ClusterQueryOptions): Promise<ClusterGrepResult>;
  /** Cluster tail. */
  tail(req: ClusterTailRequest, opts: ClusterQueryOptions): Promise<ClusterTailResult>;
}

/** The tail answer over HTTP: the cluster tail with its cursors as one opaque string. */
export interface TailResponse {
  /** Lines, oldest first. */
  lines: ClusterTailResult["lines"];
  /** Pass back as `cursor=` to get the lines written after these. */
  cursor: string;
  /** More lines are already waiting. */
  more: boolean;
  /** Some nodes did not answer. */
  partial: boolean;
  /** Those nodes and why. */
  missing: ClusterTailResult["missing"];
}

const MAX_CURSOR_CHARS = 64 * 1024;

function bad(code: string, message: string): ElasticoreError {
  return new ElasticoreError(code, message, { status: 400 });
}

function flag(c: Context, name: string): boolean {
  const v = c.req.query(name);
  if (v === undefined || v === "" || v === "0" || v === "false") return false;
  if (v === "1" || v === "true") return true;
  throw bad("logs_bad_request", `${name} must be 1 or 0, got "${v}"`);
}

function intParam(c: Context, name: string, min: number, max: number): number | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) {
    throw bad("logs_bad_request", `${name} must be an integer in ${min}..${max}, got "${v}"`);
  }
  return n;
}

function listParam(c: Context, name: string): string[] | undefined {
  const v = c.req.query(name);
  if (v === undefined || v.trim() === "") return undefined;
  const items = v.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length > 256 || items.some((s) => s.length > 128)) {
    throw bad("logs_bad_request", `${name} lists too many or too long names`);
  }
  return items;
}

/** Encodes per-node tail cursors as one URL-safe string. */
export function encodeCursor(cursors: Record<string, string>): string {
  const bytes = new TextEncoder().encode(JSON.stringify(cursors));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes {@link encodeCursor}'s output; throws `logs_bad_cursor` (400). */
export function decodeCursor(text: string): Record<string, string> {
  const fail = () =>
    bad("logs_bad_cursor", "cursor is not one returned by /v1/logs/tail; omit it to start over");
  if (text.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]*$/.test(text)) throw fail();
  let value: unknown;
  try {
    const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    value = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
  } catch {
    throw fail();
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string" || !/^\d{1,20}:\d{1,16}$/.test(v) || k.length > 128) throw fail();
    Object.defineProperty(out, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** The logs routes over the cluster query functions `logs`. */
export function logsRoutes(logs: LogsApi): ApiModule {
  return (app: Hono) => {
    app.get("/v1/logs/grep", need("logs:read"), async (c) => {
      const pattern = c.req.query("pattern");
      if (pattern === undefined) {
        throw bad("logs_bad_request", "the pattern parameter is required (pattern=...)");
      }
      const req: LogsGrepRequest = {
        pattern,
        ignoreCase: flag(c, "i"),
        regex: flag(c, "E"),
        count: flag(c, "c"),
      };
      const since = c.req.query("since");
      if (since !== undefined && since !== "") req.since = parseSince(since);
      const max = intParam(c, "max", 1, MAX_REPLY_MATCHES);
      if (max !== undefined) req.maxMatches = max;
      const timeoutMs = intParam(c, "timeout", 100, 120_000);
      const result = await logs.grep(req, {
        nodes: listParam(c, "node"),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      });
      return c.json(result);
    });
    app.get("/v1/logs/tail", need("logs:read"), async (c) => {
      const req: ClusterTailRequest = {
        limit: intParam(c, "limit", 1, MAX_TAIL_LINES) ?? 100,
      };
      const level = c.req.query("level");
      if (level !== undefined && level !== "") req.level = parseLevel(level);
      const subs = listParam(c, "subsystem");
      if (subs) req.subsystems = subs;
      const cursor = c.req.query("cursor");
      if (cursor !== undefined && cursor !== "") req.cursors = decodeCursor(cursor);
      const r = await logs.tail(req, { nodes: listParam(c, "node") });
      const body: TailResponse = {
        lines: r.lines,
        cursor: encodeCursor(r.cursors),
        more: r.more,
        partial: r.partial,
        missing: r.missing,
      };
      return c.json(body);
    });
  };
}
