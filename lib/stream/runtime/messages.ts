/**
 * Wire messages of the stream runtime, beside those of `proto/stream.ts`
 * (which it reuses for credits, triggers, aborts, commits and declines).
 *
 * Data travels as `stream.data`: a batch of records that share one shape
 * (`cols`), each row the values in column order, optionally followed by a
 * barrier or the end of input. Sending rows instead of objects halves the
 * bytes and the decoding work. A sender starts a new batch whenever the
 * shape changes, so records keep their channel order. Between workers a
 * batch whose values repeat travels dictionary-coded (`coded` instead of
 * `rows`): a few distinct strings plus one or two bytes per value.
 *
 * Control: the job manager deploys a job's tasks on a worker
 * (`stream.deploy`, then `stream.start` once every worker has them), pings
 * workers (`stream.ping`, whose reply carries task progress), cancels
 * (`stream.cancel`); tasks report checkpoints (`stream.checkpointed`), the
 * end of their input (`stream.task_done`) and failures (`stream.failed`).
 * Every job message carries the restore `attempt`; other attempts' messages
 * are dropped. `stream.jobs` forwards a job API request to the leader.
 *
 * @module
 */
import type { MessageRegistry } from "../../../proto/codec.ts";
import {
  array,
  bool,
  bytes,
  type Infer,
  object,
  oneOf,
  optional,
  record,
  type Schema,
  str,
  uint,
} from "../../../proto/schema.ts";
import {
  fieldValue,
  MAX_BATCH_RECORDS,
  StreamAbort,
  StreamCommit,
  StreamCredit,
  StreamDecline,
  StreamTrigger,
} from "../../../proto/stream.ts";

const ids = { job: str(128), attempt: uint };

/**
 * Rows coded against a dictionary of their distinct values: `n` rows,
 * `codes` holds `n × cols` indexes into `dict`, row by row, one byte each
 * when `dict` has at most 256 values, else two bytes little-endian.
 */
export const CodedRows = object({
  n: uint,
  dict: array(fieldValue, 65536),
  codes: bytes(MAX_BATCH_RECORDS * 2048),
});

/** A batch of same-shaped rows on one channel (see the module doc). */
export const StreamData = object({
  ...ids,
  from: str(128),
  to: str(128),
  seq: uint,
  cols: array(str(256), 1024),
  rows: array(array(fieldValue, 1024), MAX_BATCH_RECORDS),
  coded: optional(CodedRows),
  barrier: optional(uint),
  end: optional(bool),
});

/** One staged output file of a sink task. */
export const StagedFile = object({ id: uint, path: str(1024), bytes: uint });

/** Task → job manager: its state of `checkpointId` is stored. */
export const StreamCheckpointed = object({
  ...ids,
  checkpointId: uint,
  task: str(128),
  stateHandle: str(1024),
  sourceOffsets: optional(record(uint, 1024, 128)),
  staged: array(StagedFile, 4096),
});

/** Task → job manager: its input ended and its last output is staged. */
export const StreamTaskDone = object({
  ...ids,
  task: str(128),
  recordsIn: uint,
  recordsOut: uint,
  sourceOffsets: optional(record(uint, 1024, 128)),
  staged: array(StagedFile, 4096),
});

/** Task → job manager: the task failed (restart from the last checkpoint, or fail the job if `fatal`). */
export const StreamFailed = object({
  ...ids,
  task: str(128),
  reason: str(1024),
  fatal: optional(bool),
});

/** State to restore a job's tasks from. */
export const RestorePoint = object({
  checkpointId: uint,
  states: record(str(1024), 4096, 128),
  offsets: record(uint, 4096, 128),
});

/** Job manager → worker: create (and restore) this worker's tasks of a job. */
export const StreamDeploy = object({
  ...ids,
  spec: str(1024 * 1024),
  assignment: record(str(128), 4096, 128),
  addrs: record(str(300), 1024, 128),
  restore: optional(RestorePoint),
  batchSize: uint,
  creditWindow: uint,
});

/** Job manager → worker: every worker has its tasks; sources may start. */
export const StreamStart = object(ids);
/** Job manager → worker: stop every task of a job. */
export const StreamCancel = object({ job: str(128) });
/** Job manager → worker: are you alive, and how are your tasks doing? */
export const StreamPing = object({});

/** Progress of one task. */
export const TaskProgress = object({
  ...ids,
  task: str(128),
  recordsIn: uint,
  recordsOut: uint,
  backlog: uint,
});

/** A worker's answer to a ping. */
export const StreamPingReply = object({ tasks: array(TaskProgress, 4096) });

/** A job API request forwarded to the leader's job manager. */
export const StreamJobs = object({
  op: oneOf(["submit", "list", "get", "cancel", "output", "wait"]),
  id: optional(str(128)),
  body: optional(str(1024 * 1024)),
});
/** The leader's answer to a forwarded job API request (JSON text or an error). */
export const StreamJobsReply = object({ body: str(16 * 1024 * 1024) });

const Empty = object({});

/** A decoded `stream.data`. */
export type StreamData = Infer<typeof StreamData>;
/** A staged output file. */
export type StagedFile = Infer<typeof StagedFile>;
/** A decoded `stream.checkpointed`. */
export type StreamCheckpointed = Infer<typeof StreamCheckpointed>;
/** A decoded `stream.task_done`. */
export type StreamTaskDone = Infer<typeof StreamTaskDone>;
/** A decoded `stream.failed`. */
export type StreamFailed = Infer<typeof StreamFailed>;
/** State to restore from. */
export type RestorePoint = Infer<typeof RestorePoint>;
/** A decoded `stream.deploy`. */
export type StreamDeploy = Infer<typeof StreamDeploy>;
/** Progress of one task. */
export type TaskProgress = Infer<typeof TaskProgress>;
/** A decoded `stream.ping.reply`. */
export type StreamPingReply = Infer<typeof StreamPingReply>;
/** A decoded `stream.jobs`. */
export type StreamJobs = Infer<typeof StreamJobs>;

/** Every message type the runtime sends, with its schema (calls with their `.reply`). */
export const streamRuntimeMessages: Record<string, Schema<unknown>> = {
  "stream.data": StreamData,
  "stream.credit": StreamCredit,
  "stream.trigger": StreamTrigger,
  "stream.abort": StreamAbort,
  "stream.commit": StreamCommit,
  "stream.decline": StreamDecline,
  "stream.checkpointed": StreamCheckpointed,
  "stream.task_done": StreamTaskDone,
  "stream.failed": StreamFailed,
  "stream.deploy": StreamDeploy,
  "stream.deploy.reply": Empty,
  "stream.start": StreamStart,
  "stream.start.reply": Empty,
  "stream.cancel": StreamCancel,
  "stream.cancel.reply": Empty,
  "stream.ping": StreamPing,
  "stream.ping.reply": StreamPingReply,
  "stream.jobs": StreamJobs,
  "stream.jobs.reply": StreamJobsReply,
};

/** Registers the runtime's message types in `registry` (skipping types already there). */
export function registerStreamRuntimeMessages(registry: MessageRegistry): void {
  const missing: Record<string, Schema<unknown>> = {};
  for (const [t, s] of Object.entries(streamRuntimeMessages)) if (!registry.get(t)) missing[t] = s;
  registry.register(missing);
}
