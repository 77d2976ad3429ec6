/**
 * The stream job spec: what to read, the pipeline of operator stages and
 * where to write. Written as TOML or JSON, validated with zod; every problem is
 * reported as a {@link JobSpecError} naming the path (`stages[1].op`).
 *
 * ```toml
 * name = "app2"
 * [source]
 * kind = "csv"                    # "lines" | "csv" | "ndjson" | "stream"
 * path = "/data/TrafficSigns_1000.csv"
 * [[stages]]
 * op = "filter"
 * column = "Sign_Post"
 * equals = "Punched Telespar"
 * parallelism = 2
 * [[stages]]
 * op = "keyBy"
 * column = "Category"
 * [[stages]]
 * op = "count"
 * parallelism = 3
 * [sink]
 * kind = "dfs"                    # "dfs" | "api"
 * path = "/out/app2.ndjson"
 * ```
 *
 * Operators (the record model is described in `record.ts`):
 * - `filter`: keep records whose `column` (or, without a column, the whole
 *   record: the `line` field, or else all values joined by `,`) `equals`,
 *   `contains` or matches `regex` (exactly one; regex at most 256 characters,
 *   nested quantifiers like `(a+)+` rejected); `ignoreCase`, `negate`.
 * - `select`: keep `columns` in that order, `rename` some of them.
 * - `map`: `rename`, `drop` and `set` (constant) fields.
 * - `flatMap`: split `column` by `separator` into one record per part
 *   (written to `as`, default the same column); `trim` and `skipEmpty` default true.
 * - `keyBy`: hash-partition the next stage by `column`; later keyed operators
 *   use it as their key unless they name their own `key`.
 * - `count`, `sum`, `min`, `max`, `avg`: running aggregates per key; each input
 *   emits `{ <key column>: key, <as>: value }` (`as` defaults to the op name).
 *   Values that are not numbers are skipped.
 * - `window`: see `operators/window.ts`: `kind` tumbling or sliding, `by`
 *   count or time (`timeField`, milliseconds or a date string), `size`,
 *   `slide`, `allowedLatenessMs`, and an `aggregate` over `field`.
 * - `user`: a module in the DFS exporting `process(record, ctx)`; a record
 *   whose `process` throws goes to the job's dead-letter file and the job
 *   continues (`onError = "deadletter"`, the default) or the job fails
 *   (`onError = "fail"`).
 *
 * @module
 */
import { z } from "zod";
import { parse as parseToml } from "smol-toml";
import { ElasticoreError } from "../errors.ts";

/** Largest spec text accepted, in bytes. */
export const MAX_SPEC_BYTES = 1024 * 1024;
/** Longest regex pattern accepted by `filter`. */
export const MAX_REGEX_LENGTH = 256;

const column = z.string().min(1).max(256);
const columns = z.array(column).min(1).max(256);
const renameMap = z.record(column, column);
const dfsPath = z.string().min(1).max(1024).refine(
  (p) => !p.includes("\0"),
  "must not contain NUL",
);
const parallelism = z.number().int().min(1).max(256).default(1);
const common = { parallelism, name: z.string().min(1).max(128).optional() };

const filterStage = z.strictObject({
  op: z.literal("filter"),
  ...common,
  column: column.optional(),
  equals: z.string().max(4096).optional(),
  contains: z.string().min(1).max(4096).optional(),
  regex: z.string().min(1).max(MAX_REGEX_LENGTH).optional(),
  ignoreCase: z.boolean().default(false),
  negate: z.boolean().default(false),
});
const selectStage = z.strictObject({
  op: z.literal("select"),
  ...common,
  columns,
  rename: renameMap.optional(),
});
const mapStage = z.strictObject({
  op: z.literal("map"),
  ...common,
  rename: renameMap.optional(),
  drop: z.array(column).max(256).optional(),
  set: z.record(column, z.union([z.string().max(4096), z.number()])).optional(),
});
const flatMapStage = z.strictObject({
  op: z.literal("flatMap"),
  ...common,
  column,
  separator: z.string().min(1).max(16),
  as: column.optional(),
  trim: z.boolean().default(true),
  skipEmpty: z.boolean().default(true),
});
const keyByStage = z.strictObject({ op: z.literal("keyBy"), ...common, column });
const countStage = z.strictObject({
  op: z.literal("count"),
  ...common,
  key: column.optional(),
  as: column.optional(),
});
const aggOps = ["sum", "min", "max", "avg"] as const;
const aggStage = z.strictObject({
  op: z.enum(aggOps),
  ...common,
  field: column,
  key: column.optional(),
  as: column.optional(),
});
const windowStage = z.strictObject({
  op: z.literal("window"),
  ...common,
  kind: z.enum(["tumbling", "sliding"]),
  by: z.enum(["count", "time"]),
  size: z.number().int().min(1).max(1e12),
  slide: z.number().int().min(1).max(1e12).optional(),
  timeField: column.optional(),
  allowedLatenessMs: z.number().int().min(0).max(1e12).default(0),
  aggregate: z.enum(["count", "sum", "min", "max", "avg"]),
  field: column.optional(),
  key: column.optional(),
  as: column.optional(),
});
const userStage = z.strictObject({
  op: z.literal("user"),
  ...common,
  module: dfsPath,
  args: z.record(z.string().min(1).max(128), z.string().max(4096)).optional(),
  stateful: z.boolean().default(false),
  onError: z.enum(["deadletter", "fail"]).default("deadletter"),
});

const stage = z.discriminatedUnion("op", [
  filterStage,
  selectStage,
  mapStage,
  flatMapStage,
  keyByStage,
  countStage,
  aggStage,
  windowStage,
  userStage,
]);

const recordFormat = z.enum(["csv", "ndjson", "lines"]);
const source = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("lines"), path: dfsPath }),
  z.strictObject({
    kind: z.literal("csv"),
    path: dfsPath,
    header: z.boolean().default(true),
    columns: columns.optional(),
    delimiter: z.string().length(1).regex(/^[^"\r\n]$/, "must not be a quote or line break")
      .default(","),
  }),
  z.strictObject({ kind: z.literal("ndjson"), path: dfsPath }),
  z.strictObject({
    kind: z.literal("stream"),
    name: z.string().min(1).max(128).regex(/^[A-Za-z0-9_.-]+$/, "use letters, digits, _ . -"),
    format: recordFormat.default("ndjson"),
    columns: columns.optional(),
  }),
]);
const sink = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("dfs"),
    path: dfsPath,
    format: z.enum(["csv", "ndjson"]).default("ndjson"),
  }),
  z.strictObject({ kind: z.literal("api") }),
]);

const jobSpecSchema = z.strictObject({
  name: z.string().min(1).max(128).regex(/^[A-Za-z0-9_.-]+$/, "use letters, digits, _ . -"),
  source,
  stages: z.array(stage).min(1).max(64),
  sink,
  checkpoint: z.strictObject({
    intervalMs: z.number().int().min(10).max(3_600_000).default(2000),
    timeoutMs: z.number().int().min(10).max(3_600_000).default(10_000),
    maxConcurrent: z.number().int().min(1).max(8).default(1),
  }).optional(),
});

/** A validated job spec (defaults filled in). */
export type JobSpec = z.output<typeof jobSpecSchema>;
/** What a spec author writes (defaults optional). */
export type JobSpecInput = z.input<typeof jobSpecSchema>;
/** One validated stage. */
export type StageSpec = z.output<typeof stage>;
/** The source part of a spec. */
export type SourceSpec = z.output<typeof source>;
/** The sink part of a spec. */
export type SinkSpec = z.output<typeof sink>;
/** A `filter` stage. */
export type FilterSpec = z.output<typeof filterStage>;
/** A `window` stage. */
export type WindowSpec = z.output<typeof windowStage>;
/** A `user` stage. */
export type UserSpec = z.output<typeof userStage>;

/** One problem found in a spec. */
export interface SpecIssue {
  /** Where, e.g. `stages[1].op` (empty for the whole spec). */
  path: string;
  /** What is wrong. */
  message: string;
}

/** A spec that could not be read or is invalid; names the path of the first problem. */
export class JobSpecError extends ElasticoreError {
  /** Every problem found (at least one). */
  readonly issues: SpecIssue[];
  /** Creates the error from its issues. */
  constructor(code: "job_spec_syntax" | "job_spec_invalid", issues: SpecIssue[]) {
    const first = issues[0];
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
    super(code, `${first.path ? `${first.path}: ` : ""}${first.message}${more}`, {
      hint: "fix the job spec and submit it again",
    });
    this.name = "JobSpecError";
    this.issues = issues;
  }
}

/** Formats a zod-style path as `stages[1].op`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** Validates a parsed spec object; throws {@link JobSpecError}. */
export function validateJobSpec(value: unknown): JobSpec {
  const r = jobSpecSchema.safeParse(value);
  if (!r.success) {
    throw new JobSpecError(
      "job_spec_invalid",
      r.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    );
  }
  const issues = semanticIssues(r.data);
  if (issues.length > 0) throw new JobSpecError("job_spec_invalid", issues);
  return r.data;
}

/** Parses and validates a spec text; `format` defaults to JSON if it starts with `{`, else TOML. */
export function parseJobSpec(text: string, format?: "toml" | "json"): JobSpec {
  if (text.length > MAX_SPEC_BYTES) {
    throw new JobSpecError("job_spec_syntax", [{
      path: "",
      message: `spec is larger than ${MAX_SPEC_BYTES} bytes`,
    }]);
  }
  const fmt = format ?? (text.trimStart().startsWith("{") ? "json" : "toml");
  let value: unknown;
  try {
    value = fmt === "json" ? JSON.parse(text) : parseToml(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new JobSpecError("job_spec_syntax", [{ path: "", message: `invalid ${fmt}: ${msg}` }]);
  }
  return validateJobSpec(value);
}

const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]/;

function semanticIssues(spec: JobSpec): SpecIssue[] {
  const issues: SpecIssue[] = [];
  let keyed = false;
  spec.stages.forEach((s, i) => {
    const at = `stages[${i}]`;
    const add = (field: string, message: string) =>
      issues.push({ path: field ? `${at}.${field}` : at, message });
    switch (s.op) {
      case "filter": {
        const n = [s.equals, s.contains, s.regex].filter((x) => x !== undefined).length;
        if (n !== 1) add("", "a filter needs exactly one of equals, contains or regex");
        if (s.regex !== undefined) {
          if (NESTED_QUANTIFIER.test(s.regex)) {
            add(
              "regex",
              "nested quantifiers like (a+)+ are not allowed (catastrophic backtracking)",
            );
          } else {
            try {
              new RegExp(s.regex, s.ignoreCase ? "i" : "");
            } catch (e) {
              add("regex", `invalid regular expression: ${e instanceof Error ? e.message : e}`);
            }
          }
        }
        break;
      }
      case "map":
        if (!s.rename && !s.drop && !s.set) {
          add("", "a map needs at least one of rename, drop or set");
        }
        break;
      case "keyBy":
        if (i === spec.stages.length - 1) {
          add("", "keyBy must be followed by a stage that uses the key");
        }
        keyed = true;
        return;
      case "count":
      case "sum":
      case "min":
      case "max":
      case "avg":
        if (!s.key && !keyed && s.parallelism > 1) {
          add("parallelism", `a ${s.op} without a key must run with parallelism 1 (or add keyBy)`);
        }
        break;
      case "window":
        if (s.kind === "sliding" && s.slide === undefined) {
          add("slide", "a sliding window needs slide");
        }
        if (s.kind === "tumbling" && s.slide !== undefined) {
          add("slide", "only sliding windows slide");
        }
        if (s.slide !== undefined && s.slide > s.size) add("slide", "slide must not exceed size");
        if (s.by === "time" && !s.timeField) add("timeField", "a time window needs timeField");
        if (s.by === "count" && s.timeField) add("timeField", "only time windows use timeField");
        if (s.aggregate !== "count" && !s.field) {
          add("field", `aggregate ${s.aggregate} needs field`);
        }
        if (!s.key && !keyed && s.parallelism > 1) {
          add("parallelism", "a window without a key must run with parallelism 1 (or add keyBy)");
        }
        break;
      case "user":
        if (s.stateful && !keyed && s.parallelism > 1) {
          add("parallelism", "a stateful user operator needs a keyBy before it to run in parallel");
        }
        break;
      case "select":
        break;
    }
  });
  if (spec.source.kind === "csv" && !spec.source.header && !spec.source.columns) {
    issues.push({ path: "source.columns", message: "a CSV source without a header needs columns" });
  }
  return issues;
}
