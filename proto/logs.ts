/**
 * Wire messages of distributed logging (`lib/logs`), version 1.
 *
 * - `logs.grep` asks one node to scan its own log files (like GNU
 *   `grep -n`/`-c` over `<data_dir>/logs/*.jsonl`) within a time budget;
 *   `logs.grep.reply` carries its matching lines or per-file counts. File
 *   names are base names inside the node's log directory.
 * - `logs.tail` asks one node for its most recent log lines, or (with a
 *   cursor from an earlier reply) the lines written since; `logs.tail.reply`
 *   carries them and the next cursor.
 *
 * Replies use the transport's `<type>.reply` convention. Every string and
 * list is bounded so that a reply fits the default 16 MiB frame: a node cuts
 * lines longer than {@link MAX_LINE_CHARS} (`cut: true`) and stops adding
 * matches past {@link MAX_REPLY_UNITS} (`truncatedBy: "replyBytes"`).
 *
 * @module
 */
import {
  array,
  bool,
  type Infer,
  object,
  oneOf,
  optional,
  type Schema,
  str,
  uint,
} from "./schema.ts";

/** Longest grep pattern on the wire (the pattern compiler enforces the same limit). */
export const MAX_PATTERN_CHARS = 512;
/** Most matching lines one node returns. */
export const MAX_REPLY_MATCHES = 100_000;
/** Longest line text returned; longer lines are cut and flagged. */
export const MAX_LINE_CHARS = 65_536;
/**
 * Reply size budget of one node's grep answer, in characters of line text
 * plus {@link MATCH_OVERHEAD_UNITS} per match (worst case ~3 bytes per
 * character in UTF-8 keeps a full reply under 16 MiB).
 */
export const MAX_REPLY_UNITS = 4 * 1024 * 1024;
/** Units charged per match on top of its text, for the reply budget. */
export const MATCH_OVERHEAD_UNITS = 64;
/** Most log files one node reports counts or errors for. */
export const MAX_FILES = 10_001;
/** Most lines one tail reply holds. */
export const MAX_TAIL_LINES = 1000;
/** Longest message of a tail line; longer ones are cut. */
export const MAX_TAIL_MSG_CHARS = 8192;
/** Longest `extra` (the line's other properties, as JSON) of a tail line. */
export const MAX_TAIL_EXTRA_CHARS = 4096;

const nodeId = str(128);
const fileName = str(256);

/** Why a node's scan stopped early. */
export const truncatedBySchema = oneOf(["deadline", "maxMatches", "replyBytes"]);

/** `logs.grep`: scan this node's log files. */
export const logsGrepSchema = object({
  /** Fixed string, or an ERE with `regex`. */
  pattern: str(MAX_PATTERN_CHARS),
  /** `-i`. */
  ignoreCase: optional(bool),
  /** `-E`. */
  regex: optional(bool),
  /** `-c`: per-file counts instead of lines. */
  count: optional(bool),
  /** Only lines whose `ts` is at or after this time (epoch ms). */
  since: optional(uint),
  /** Most matching lines to return (default 10,000, at most {@link MAX_REPLY_MATCHES}). */
  maxMatches: optional(uint),
  /** Time the node may spend scanning, in ms (it also stops before the caller's deadline). */
  budgetMs: optional(uint),
});

/** One matching line. */
export const logsMatchSchema = object({
  file: fileName,
  line: uint,
  text: str(MAX_LINE_CHARS),
  /** The line was longer than {@link MAX_LINE_CHARS} and `text` holds its start. */
  cut: optional(bool),
});

/** One file's count of matching lines. */
export const logsFileCountSchema = object({ file: fileName, count: uint });

/** A file that could not be scanned. */
export const logsFileErrorSchema = object({
  file: fileName,
  code: str(64),
  message: str(1024),
});

/** `logs.grep.reply`: one node's answer. */
export const logsGrepReplySchema = object({
  node: nodeId,
  matches: array(logsMatchSchema, MAX_REPLY_MATCHES),
  counts: array(logsFileCountSchema, MAX_FILES),
  /** Matching lines found (with `count`: the sum of `counts`; else `matches.length`). */
  total: uint,
  truncated: bool,
  truncatedBy: optional(truncatedBySchema),
  errors: array(logsFileErrorSchema, 256),
  filesScanned: uint,
  bytesScanned: uint,
  tookMs: uint,
});

/** `logs.tail`: this node's recent lines, or those after `cursor`. */
export const logsTailSchema = object({
  /** From an earlier reply: return the lines written after it (oldest first). */
  cursor: optional(str(64)),
  /** Most lines to return (default 100, at most {@link MAX_TAIL_LINES}). */
  limit: optional(uint),
  /** Lowest level to return (`trace` < `debug` < `info` < `warning` < `error` < `fatal`). */
  level: optional(str(16)),
  /** Only these subsystems. */
  subsystems: optional(array(str(64), 32)),
});

/** One log line as tail returns it (the API contract's shape plus `extra`). */
export const logsTailLineSchema = object({
  ts: str(64),
  level: str(16),
  node: nodeId,
  subsystem: str(64),
  msg: str(MAX_TAIL_MSG_CHARS),
  /** The line's other properties as JSON, when it has any. */
  extra: optional(str(MAX_TAIL_EXTRA_CHARS)),
});

/** `logs.tail.reply`. */
export const logsTailReplySchema = object({
  node: nodeId,
  /** Oldest first. */
  lines: array(logsTailLineSchema, MAX_TAIL_LINES),
  /** Pass back to get the lines written after these. */
  cursor: str(64),
  /** More lines are already waiting after `cursor`. */
  more: bool,
});

/** Every logging message type with its schema, for a `MessageRegistry`. */
export const logsMessages: Record<string, Schema<unknown>> = {
  "logs.grep": logsGrepSchema,
  "logs.grep.reply": logsGrepReplySchema,
  "logs.tail": logsTailSchema,
  "logs.tail.reply": logsTailReplySchema,
};

/** A `logs.grep` request. */
export type LogsGrepRequest = Infer<typeof logsGrepSchema>;
/** A node's grep answer. */
export type LogsGrepReply = Infer<typeof logsGrepReplySchema>;
/** One matching line of a node. */
export type LogsMatch = Infer<typeof logsMatchSchema>;
/** A `logs.tail` request. */
export type LogsTailRequest = Infer<typeof logsTailSchema>;
/** One tail line. */
export type LogsTailLine = Infer<typeof logsTailLineSchema>;
/** A node's tail answer. */
export type LogsTailReply = Infer<typeof logsTailReplySchema>;
