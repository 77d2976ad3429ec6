/**
 * Stream wire messages: data-plane record batches with in-band barriers and
 * credit-based flow control, and the checkpoint control plane (trigger, ack,
 * decline, abort, commit, task failure).
 *
 * A data channel carries `stream.batch` frames in order, numbered by `seq`
 * per (attempt, from, to). A batch is a run of records optionally followed by
 * one barrier, so a barrier always sits between two batches' records exactly
 * where the sender injected it. The receiver grants `stream.credit` (records
 * it can buffer); a sender never has more uncredited records in flight.
 * Every message names the job and the restore `attempt`; messages of an older
 * attempt are dropped.
 *
 * @module
 */
import {
  array,
  bool,
  type Infer,
  object,
  optional,
  record,
  type Schema,
  SchemaError,
  str,
  uint,
} from "./schema.ts";

/** Most records in one batch. */
export const MAX_BATCH_RECORDS = 65536;
/** Longest field value on the wire. */
export const MAX_FIELD_CHARS = 1 << 20;

/** A record field: a string or a finite number. */
export const fieldValue: Schema<string | number> = {
  describe: "string|number",
  parse(v, path = "") {
    if (typeof v === "string") {
      if (v.length > MAX_FIELD_CHARS) throw new SchemaError(path, "field value too long");
      return v;
    }
    if (typeof v === "number" && Number.isFinite(v)) return v;
    throw new SchemaError(path, "expected a string or a finite number");
  },
};

/** One stream record. */
export const streamRecord = record(fieldValue, 1024, 256);

const ids = { job: str(128), attempt: uint };

/** A run of records on one channel, optionally ended by a barrier or the end of input. */
export const StreamBatch = object({
  ...ids,
  from: str(128),
  to: str(128),
  seq: uint,
  records: array(streamRecord, MAX_BATCH_RECORDS),
  barrier: optional(uint),
  end: optional(bool),
});
/** Flow-control credit: the receiver can take `credits` more records on this channel. */
export const StreamCredit = object({ ...ids, from: str(128), to: str(128), credits: uint });
/** Coordinator → source: inject barrier `checkpointId`. */
export const StreamTrigger = object({ ...ids, checkpointId: uint });
/** Task → coordinator: state of `checkpointId` stored. */
export const StreamAck = object({
  ...ids,
  checkpointId: uint,
  task: str(128),
  stateHandle: str(1024),
  sourceOffsets: optional(record(uint, 1024, 128)),
});
/** Task → coordinator: cannot take checkpoint `checkpointId`. */
export const StreamDecline = object({
  ...ids,
  checkpointId: uint,
  task: str(128),
  reason: str(1024),
});
/** Coordinator → tasks: checkpoint aborted; stop aligning it. */
export const StreamAbort = object({ ...ids, checkpointId: uint });
/** Coordinator → tasks: checkpoint completed; sinks commit up to it. */
export const StreamCommit = object({ job: str(128), checkpointId: uint });
/** Worker → coordinator: a task failed. */
export const StreamTaskFailed = object({ job: str(128), task: str(128), reason: str(1024) });

/** A decoded `stream.batch`. */
export type StreamBatch = Infer<typeof StreamBatch>;
/** A decoded `stream.credit`. */
export type StreamCredit = Infer<typeof StreamCredit>;
/** A decoded `stream.trigger`. */
export type StreamTrigger = Infer<typeof StreamTrigger>;
/** A decoded `stream.ack`. */
export type StreamAck = Infer<typeof StreamAck>;
/** A decoded `stream.decline`. */
export type StreamDecline = Infer<typeof StreamDecline>;
/** A decoded `stream.abort`. */
export type StreamAbort = Infer<typeof StreamAbort>;
/** A decoded `stream.commit`. */
export type StreamCommit = Infer<typeof StreamCommit>;
/** A decoded `stream.task_failed`. */
export type StreamTaskFailed = Infer<typeof StreamTaskFailed>;

/** Every stream message type, for `MessageRegistry.register`. */
export const streamMessages: Record<string, Schema<unknown>> = {
  "stream.batch": StreamBatch,
  "stream.credit": StreamCredit,
  "stream.trigger": StreamTrigger,
  "stream.ack": StreamAck,
  "stream.decline": StreamDecline,
  "stream.abort": StreamAbort,
  "stream.commit": StreamCommit,
  "stream.task_failed": StreamTaskFailed,
};
