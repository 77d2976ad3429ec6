/**
 * Job records, checkpoint manifests and the exactly-once commit of staged
 * sink output.
 *
 * Keys in the metadata store: `_sys/jobs/<id>` the job record,
 * `_sys/jobs/<id>/ckpt` the manifest of the last completed checkpoint,
 * `_sys/jobs/<id>/sink` the sink's commit record.
 *
 * Commit of checkpoint `n` (idempotent, so a job manager that crashed in the
 * middle can simply do it again): the payload is every staged file with
 * `committed < id <= n`, sink task by sink task, in id order. The commit
 * record says how many bytes the output had after the last commit (`B`). If
 * the output now has `B` bytes the payload is appended; if it has
 * `B + payload` bytes the append already happened; if it has anything in
 * between, the torn append is cut off (the first `B` bytes rewritten) and
 * the payload appended. Then the record moves to `n`. Staged files are
 * NDJSON; CSV output is formatted here (header on the first commit).
 *
 * Because a commit is idempotent, a transient refusal of the file system (a
 * DFS node that has not joined the ring yet after a restart, too few live
 * replicas, a primary that reloaded after a conflict: `dfs_unavailable`,
 * HTTP 503) is retried with backoff ({@link retryTransient}) instead of
 * failing the job.
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";
import { formatCsvRow } from "../csv.ts";
import type { StreamRecord } from "../record.ts";
import type { JobSpec } from "../spec.ts";
import type { StreamFs } from "./fs.ts";
import { outputColumns, outputPath } from "./graph.ts";
import type { StagedFile } from "./messages.ts";
import { isCasMismatch, type MetaStore } from "./meta.ts";

/** Job states (API contract). */
export type JobState = "pending" | "running" | "finished" | "failed" | "cancelled";

/** The stored record of a job. */
export interface JobRecord {
  /** Job id. */
  id: string;
  /** Spec name. */
  name: string;
  /** The validated spec. */
  spec: JobSpec;
  /** Current state. */
  state: JobState;
  /** ISO time of submission. */
  submittedAt: string;
  /** ISO time it ended. */
  finishedAt?: string;
  /** Current restore attempt (1 at the first deployment). */
  attempt: number;
  /** Task id → worker id. */
  assignment: Record<string, string>;
  /** Restarts after failures. */
  restarts: number;
  /** Why it failed. */
  error?: string;
}

/** The manifest of a completed checkpoint. */
export interface Manifest {
  /** Checkpoint id. */
  id: number;
  /** ISO time it completed. */
  at: string;
  /** Trigger-to-completion time. */
  durationMs: number;
  /** Task id → state handle. */
  states: Record<string, string>;
  /** Split id → byte offset. */
  offsets: Record<string, number>;
  /** Sink task id → staged files not yet committed at this checkpoint. */
  staged: Record<string, StagedFile[]>;
  /** True for the end-of-input manifest. */
  final?: boolean;
}

/** The commit record of a job's sink. */
export interface SinkRecord {
  /** Last committed checkpoint id. */
  committed: number;
  /** Output size after that commit. */
  bytes: number;
  /** CSV columns chosen at the first commit. */
  columns?: string[];
}

/** Metadata keys of a job. */
export const metaKeys = {
  /** Prefix of every job key. */
  prefix: "_sys/jobs/",
  /** The job record. */
  job: (id: string) => `_sys/jobs/${id}`,
  /** The last completed checkpoint. */
  manifest: (id: string) => `_sys/jobs/${id}/ckpt`,
  /** The sink commit record. */
  sink: (id: string) => `_sys/jobs/${id}/sink`,
};

const enc = new TextEncoder();
const dec = new TextDecoder();

function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** How often {@link commitManifest} starts over after its record moved under it. */
const RECORD_MOVED_ATTEMPTS = 5;

/**
 * Commits manifest `m` of job `job` (see the module doc); returns the bytes appended.
 *
 * The record can move between the read and the compare-and-set: a previous
 * attempt's write whose outcome was unknown (a proposal that timed out during
 * a leader change) may land late. The output can change under it too (another
 * driver committing): its append is conditional on the size it read. Either
 * way the commit starts over from the record as it now is; being idempotent,
 * it finds the work done or finishes it.
 */
export async function commitManifest(
  fs: StreamFs,
  meta: MetaStore,
  job: string,
  spec: JobSpec,
  m: Manifest,
): Promise<number> {
  for (let attempt = 1;; attempt++) {
    try {
      return await commitOnce(fs, meta, job, spec, m);
    } catch (e) {
      const moved = isCasMismatch(e) ||
        (e instanceof ElasticoreError && e.code === "dfs_size_precondition");
      if (!moved || attempt >= RECORD_MOVED_ATTEMPTS) throw e;
    }
  }
}

async function commitOnce(
  fs: StreamFs,
  meta: MetaStore,
  job: string,
  spec: JobSpec,
  m: Manifest,
): Promise<number> {
  const key = metaKeys.sink(job);
  const cur = await meta.get<SinkRecord>(key);
  const rec: SinkRecord = cur?.value ?? { committed: 0, bytes: 0 };
  if (m.id <= rec.committed) return 0;
  const files: StagedFile[] = [];
  for (const task of Object.keys(m.staged).sort(compareTasks)) {
    const mine = m.staged[task].filter((f) => f.id > rec.committed && f.id <= m.id);
    files.push(...mine.sort((a, b) => a.id - b.id));
  }
  const parts: Uint8Array[] = [];
  for (const f of files) parts.push(await fs.read(f.path));
  let payload = concat(parts);
  let columns = rec.columns;
  if (spec.sink.kind === "dfs" && spec.sink.format === "csv" && payload.length > 0) {
    const lines = dec.decode(payload).split("\n").filter((l) => l !== "");
    const recs = lines.map((l) => JSON.parse(l) as StreamRecord);
    let text = "";
    if (!columns) {
      columns = outputColumns(spec) ?? Object.keys(recs[0] ?? {});
      if (rec.bytes === 0) text += formatCsvRow(columns);
    }
    for (const r of recs) text += formatCsvRow(columns.map((c) => r[c] ?? ""));
    payload = enc.encode(text);
  }
  const out = outputPath(job, spec);
  // Exact: an append of an earlier attempt whose outcome was unknown (it timed out) may sit
  // on only some replicas; a size read from another one would make this append it twice.
  const size = await fs.size(out, { exact: true }).catch((e) => {
    if (e instanceof ElasticoreError && e.code === "fs_not_found") return 0;
    throw e;
  });
  if (size < rec.bytes) {
    throw new ElasticoreError(
      "stream_output_truncated",
      `output ${out} has ${size} bytes, fewer than the ${rec.bytes} already committed`,
      { hint: "the output file was changed outside the job; rerun the job" },
    );
  }
  if (size !== rec.bytes + payload.length || payload.length === 0) {
    if (size > rec.bytes) {
      const kept = rec.bytes > 0 ? await fs.readRange(out, 0, rec.bytes) : new Uint8Array(0);
      // Only over the file as read: a stale committer must not cut off a newer commit.
      await fs.write(out, kept, { overwrite: true, expectSize: size });
    }
    // Conditional: a stale driver of a previous leader still committing, or an earlier
    // attempt's append landing late, cannot add the payload a second time.
    if (payload.length > 0) await fs.append(out, payload, { expectSize: rec.bytes });
    else if (!await fs.exists(out)) await fs.write(out, payload, { overwrite: true });
  }
  await meta.put(
    key,
    { committed: m.id, bytes: rec.bytes + payload.length, columns } satisfies SinkRecord,
    cur?.version ?? 0,
  );
  return payload.length;
}

/** Codes of transient file-system refusals: the same request may succeed later. */
const TRANSIENT_CODES = new Set([
  "dfs_unavailable",
  "dfs_overloaded",
  "dfs_meta_conflict",
  "dfs_no_quorum",
  // A block transfer cut short or a bad copy: another attempt reads another replica.
  "dfs_size_mismatch",
  "dfs_checksum",
]);

/**
 * True if `e` is a transient refusal worth retrying (see the module doc): the codes above, and
 * anything answered 502/503/504 (a peer that failed, was unavailable or ran out of time, e.g.
 * during a partition or a leader change). Commits are idempotent, so a retry is always safe.
 */
export function isTransientFsError(e: unknown): boolean {
  if (e instanceof ElasticoreError) {
    return TRANSIENT_CODES.has(e.code) || e.status === 502 || e.status === 503 ||
      e.status === 504;
  }
  const msg = e instanceof Error ? e.message : String(e);
  return /not joined the ring|dfs_unavailable|dfs_size_mismatch|exceeded its deadline/.test(msg);
}

/** Backoff of {@link retryTransient}. */
export interface RetryOptions {
  /** First delay in ms (default 200); it doubles up to `maxDelayMs`. */
  firstDelayMs?: number;
  /** Longest delay in ms (default 5000). */
  maxDelayMs?: number;
  /** Gives up (rethrows) once this many ms have passed (default 120000). */
  budgetMs?: number;
  /** Stops retrying (rethrows) when it returns true, e.g. the job was stopped. */
  stopped?: () => boolean;
  /** Told of each refusal that will be retried, with the attempt that failed (1, 2, ...). */
  onRetry?: (e: unknown, attempt: number) => void;
}

/** Runs `fn`, retrying transient file-system refusals with exponential backoff. */
export async function retryTransient<T>(fn: () => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const started = Date.now();
  let delay = o.firstDelayMs ?? 200;
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const spent = Date.now() - started;
      if (!isTransientFsError(e) || o.stopped?.() || spent + delay > (o.budgetMs ?? 120_000)) {
        throw e;
      }
      o.onRetry?.(e, attempt);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, o.maxDelayMs ?? 5000);
    }
  }
}

/** Orders task ids by stage, then index (`s1.2` < `s1.10`). */
export function compareTasks(a: string, b: string): number {
  const pa = a.slice(1).split(".").map(Number);
  const pb = b.slice(1).split(".").map(Number);
  return pa[0] - pb[0] || pa[1] - pb[1];
}

/** Attempts to store a job record through transient failures (about 10 s in all). */
const PERSIST_ATTEMPTS = 8;

/**
 * Stores job record `next` over `version`; resolves with the new version, or null if someone
 * else changed the record (another manager owns the job). A write whose outcome was unknown
 * (a timed-out proposal during a leader change) is retried; if it had landed, the retry's
 * compare-and-set misses on exactly `next`, which is then adopted.
 */
export async function storeJobRecord(
  meta: MetaStore,
  next: JobRecord,
  version: number,
  stopped: () => boolean,
): Promise<number | null> {
  const key = metaKeys.job(next.id);
  for (let attempt = 1;; attempt++) {
    try {
      return await meta.put(key, next, version);
    } catch (e) {
      if (isCasMismatch(e)) {
        const cur = await meta.get<JobRecord>(key);
        // Our own earlier attempt landed.
        if (cur && JSON.stringify(cur.value) === JSON.stringify(next)) return cur.version;
        return null;
      }
      if (!isTransientFsError(e) || attempt >= PERSIST_ATTEMPTS || stopped()) throw e;
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}
