/**
 * A single-process job runner: reads the source format from in-memory or
 * streamed input and runs every stage's operators in one chain. Per-key
 * results equal a partitioned run's because keyed state is per key and each
 * key's records keep their order.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { type JobSpec, type SourceSpec, validateJobSpec } from "./spec.ts";
import { planJob } from "./plan.ts";
import type { StreamRecord } from "./record.ts";
import { CsvReader, LinesReader, NdjsonReader, type RecordReader } from "./sources.ts";
import { OperatorChain } from "./operators/chain.ts";
import { isUserModule, type UserModule } from "./operators/user.ts";

/** The record reader for a spec's source. */
export function readerForSource(source: SourceSpec): RecordReader {
  switch (source.kind) {
    case "lines":
      return new LinesReader();
    case "ndjson":
      return new NdjsonReader();
    case "csv":
      return new CsvReader({
        delimiter: source.delimiter,
        columns: source.header ? undefined : source.columns,
      });
    case "stream":
      if (source.format === "csv") return new CsvReader({ columns: source.columns });
      return source.format === "lines" ? new LinesReader() : new NdjsonReader();
  }
}

/** Input of a local run: a whole text, bytes, or a (possibly async) sequence of chunks. */
export type LocalInput =
  | string
  | Uint8Array
  | Iterable<string | Uint8Array>
  | AsyncIterable<string | Uint8Array>;

/** Options of {@link runJobLocally}. */
export interface LocalRunOptions {
  /** User modules by their DFS path. */
  modules?: Readonly<Record<string, unknown>>;
}

/** What a local run produced. */
export interface LocalRunResult {
  /** Every record that reached the sink, in order. */
  records: StreamRecord[];
  /** Records read from the source. */
  inputRecords: number;
  /** Input lines the source could not turn into records. */
  rejected: number;
}

/** Runs a job spec (validated, or a plain object to validate) over `input` in this process. */
export async function runJobLocally(
  spec: JobSpec | unknown,
  input: LocalInput,
  opts: LocalRunOptions = {},
): Promise<LocalRunResult> {
  const job = validateJobSpec(spec);
  const plan = planJob(job);
  const modules = opts.modules ?? {};
  const resolve = (path: string): UserModule => {
    const m = modules[path];
    if (!isUserModule(m)) {
      throw new ElasticoreError("stream_user_module_missing", `no user module at ${path}`, {
        hint: "pass the module in options.modules",
      });
    }
    return m;
  };
  const chain = OperatorChain.fromOps(plan.stages.flatMap((s) => s.ops), resolve);
  const reader = readerForSource(job.source);
  const records: StreamRecord[] = [];
  let inputRecords = 0;
  const feed = (recs: StreamRecord[]) => {
    inputRecords += recs.length;
    chain.processAll(recs, records);
  };
  if (typeof input === "string" || input instanceof Uint8Array) feed(reader.push(input));
  else if (Symbol.asyncIterator in input) { for await (const c of input) feed(reader.push(c)); }
  else for (const c of input) feed(reader.push(c));
  feed(reader.finish());
  for (const r of chain.finish()) records.push(r);
  return { records, inputRecords, rejected: reader.rejected };
}

/** The last record per key value of `column` (the final state of a running aggregate). */
export function latestByKey(
  records: readonly StreamRecord[],
  column: string,
): Map<string, StreamRecord> {
  const m = new Map<string, StreamRecord>();
  for (const r of records) m.set(String(r[column] ?? ""), r);
  return m;
}
