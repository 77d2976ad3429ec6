/**
 * `elasticore logs grep|tail`: distributed logs.
 *
 * `logs grep PATTERN [-i] [-c] [-E] [--node N,..] [--since T] [--max N]`
 * prints one `node:file:line:text` line per match (like `grep -Hn` with the
 * node in front), ordered by node, file (oldest first) and line; with `-c`
 * one `node:count` line per node and a last `total:count` line. A partial
 * answer (some nodes missing) prints its result, then one
 * `warning: partial answer, missing: w3 (timeout: ...)` line on stderr and
 * exits 0, so pipelines keep working; `--strict` makes it exit 1 with
 * `error[logs_partial]` instead. A truncated answer warns the same way.
 *
 * `logs tail [-f] [-n N] [--node N,..] [--level L] [--subsystem S,..]`
 * prints `ts node LEVEL subsystem msg {extra}` lines, oldest first; `-f`
 * keeps polling for new lines (every `--interval` ms) until interrupted.
 *
 * @module
 */
import type { Command } from "commander";
import { ElasticoreError } from "../errors.ts";
import type { ClusterGrepResult } from "../logs/cluster.ts";
import type { LogsTailLine } from "../../proto/logs.ts";
import { ApiClient, type ClientOptions, withClientOptions } from "./client.ts";

interface GrepOptions extends ClientOptions {
  ignoreCase?: boolean;
  count?: boolean;
  extendedRegexp?: boolean;
  node?: string;
  since?: string;
  max?: string;
  timeout?: string;
  strict?: boolean;
}

interface TailOptions extends ClientOptions {
  follow?: boolean;
  limit: string;
  node?: string;
  level?: string;
  subsystem?: string;
  interval: string;
}

interface TailBody {
  lines: LogsTailLine[];
  cursor: string;
  more: boolean;
  partial: boolean;
  missing: { node: string; reason: string }[];
}

function missingText(missing: { node: string; reason: string }[]): string {
  return missing.map((m) => `${m.node} (${m.reason})`).join(", ");
}

/** The text `logs grep` prints for a result (stdout lines, stderr warnings). */
export function formatGrep(
  r: ClusterGrepResult,
  count: boolean,
): { out: string[]; warnings: string[] } {
  const out = count
    ? [...r.nodes.map((n) => `${n.node}:${n.total}`), `total:${r.total}`]
    : r.matches.map((m) => `${m.node}:${m.file}:${m.line}:${m.text}`);
  const warnings: string[] = [];
  if (r.partial) warnings.push(`warning: partial answer, missing: ${missingText(r.missing)}`);
  if (r.truncated) {
    const why = r.nodes.filter((n) => n.truncated).map((n) => `${n.node}: ${n.truncatedBy}`);
    warnings.push(
      `warning: answer truncated${
        why.length ? ` (${why.join(", ")})` : ""
      }; narrow the pattern or raise --max`,
    );
  }
  for (const e of r.errors) {
    warnings.push(`warning: ${e.node}:${e.file}: ${e.message} [${e.code}]`);
  }
  return { out, warnings };
}

/** One `logs tail` output line. */
export function formatTailLine(l: LogsTailLine): string {
  const level = (l.level === "warning" ? "WARN" : l.level.toUpperCase()).padEnd(5);
  return `${l.ts} ${l.node} ${level} ${l.subsystem.padEnd(9)} ${l.msg}${
    l.extra ? ` ${l.extra}` : ""
  }`;
}

function intOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) {
    throw new ElasticoreError("cli_bad_option", `${name} needs a number, got "${v}"`);
  }
  return Number(v);
}

async function grepAction(pattern: string, opts: GrepOptions): Promise<void> {
  const client = await ApiClient.fromOptions(opts);
  const q = new URLSearchParams({ pattern });
  if (opts.ignoreCase) q.set("i", "1");
  if (opts.count) q.set("c", "1");
  if (opts.extendedRegexp) q.set("E", "1");
  if (opts.node) q.set("node", opts.node);
  if (opts.since) q.set("since", opts.since);
  const max = intOption(opts.max, "--max");
  if (max !== undefined) q.set("max", String(max));
  const timeout = intOption(opts.timeout, "--timeout");
  if (timeout !== undefined) q.set("timeout", String(timeout));
  const r = await client.json<ClusterGrepResult>({
    method: "GET",
    path: `/v1/logs/grep?${q}`,
    idempotent: true,
    timeoutMs: (timeout ?? 10_000) + 30_000,
  });
  if (opts.json) console.log(JSON.stringify(r));
  else {
    const { out, warnings } = formatGrep(r, opts.count ?? false);
    if (out.length > 0) await writeLines(out);
    for (const w of warnings) console.error(w);
  }
  if (opts.strict && r.partial) {
    throw new ElasticoreError("logs_partial", `no answer from ${missingText(r.missing)}`, {
      hint: "check those nodes (elasticore status) or drop --strict",
    });
  }
}

async function writeLines(lines: string[]): Promise<void> {
  const enc = new TextEncoder();
  const w = Deno.stdout.writable.getWriter();
  try {
    for (let i = 0; i < lines.length; i += 1000) {
      await w.write(enc.encode(lines.slice(i, i + 1000).join("\n") + "\n"));
    }
  } finally {
    w.releaseLock();
  }
}

async function tailAction(opts: TailOptions): Promise<void> {
  const client = await ApiClient.fromOptions(opts);
  const limit = intOption(opts.limit, "--limit") ?? 100;
  const interval = intOption(opts.interval, "--interval") ?? 1000;
  let cursor = "";
  let warned = "";
  for (;;) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (opts.node) q.set("node", opts.node);
    if (opts.level) q.set("level", opts.level);
    if (opts.subsystem) q.set("subsystem", opts.subsystem);
    if (cursor) q.set("cursor", cursor);
    const r = await client.json<TailBody>({
      method: "GET",
      path: `/v1/logs/tail?${q}`,
      idempotent: true,
    });
    if (opts.json) {
      for (const l of r.lines) console.log(JSON.stringify(l));
    } else if (r.lines.length > 0) await writeLines(r.lines.map(formatTailLine));
    const missing = r.partial ? missingText(r.missing) : "";
    if (missing !== warned) {
      if (missing) console.error(`warning: partial answer, missing: ${missing}`);
      warned = missing;
    }
    if (!opts.follow) return;
    cursor = r.cursor;
    if (!r.more) await new Promise((res) => setTimeout(res, interval));
  }
}

/** Registers `elasticore logs grep|tail`. */
export function registerLogs(program: Command): void {
  const logs = program.command("logs").description("distributed logs of every node");
  withClientOptions(
    logs.command("grep <pattern>")
      .description("search every node's logs (fixed string; -E for a regular expression)")
      .option("-i, --ignore-case", "ignore case")
      .option("-c, --count", "print counts per node and a total")
      .option("-E, --extended-regexp", "PATTERN is a POSIX extended regular expression")
      .option("--node <ids>", "only these nodes (comma-separated)")
      .option("--since <time>", "only lines since: ISO time, epoch ms, or 15m / 2h / 1d ago")
      .option("--max <n>", "most matching lines per node (default 10000)")
      .option("--timeout <ms>", "how long to wait for every node (default 10000)")
      .option("--strict", "exit 1 when some nodes did not answer"),
  ).action(grepAction);
  withClientOptions(
    logs.command("tail")
      .description("recent log lines of every node, merged by time")
      .option("-f, --follow", "keep printing new lines")
      .option("-n, --limit <n>", "lines to show (per poll per node with -f)", "100")
      .option("--node <ids>", "only these nodes (comma-separated)")
      .option("--level <level>", "lowest level: trace, debug, info, warning, error, fatal")
      .option("--subsystem <names>", "only these subsystems (comma-separated)")
      .option("--interval <ms>", "poll interval with -f", "1000"),
  ).action(tailAction);
}
