/**
 * Single-server membership changes. A configuration-change entry carries the
 * change and the full configuration that results from it; a node switches to
 * that configuration as soon as the entry is in its log (committed or not),
 * and a leader starts at most one change at a time.
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import { array, type Infer, object, oneOf, safeParse, str } from "../../proto/schema.ts";
import { ElasticoreError } from "../errors.ts";
import type { ConfState } from "./types.ts";

/** One membership change: add a learner, promote a learner to voter, or remove a member. */
export const confChangeSchema = object({
  op: oneOf(["add_learner", "promote", "remove"]),
  node: str(64),
});
/** One membership change. */
export type ConfChange = Infer<typeof confChangeSchema>;

const confEntrySchema = object({
  change: confChangeSchema,
  voters: array(str(64), 64),
  learners: array(str(64), 64),
});
/** What a conf entry holds: the change and the resulting configuration. */
export type ConfEntryData = Infer<typeof confEntrySchema>;

/** A refused membership change, naming why. */
export class ConfChangeError extends ElasticoreError {
  /** Creates the error. */
  constructor(message: string) {
    super("invalid_conf_change", message, { status: 409 });
  }
}

/** The configuration after applying `cc` to `cs`; throws {@link ConfChangeError} if invalid. */
export function applyConfChange(cs: ConfState, cc: ConfChange): ConfState {
  const voters = new Set(cs.voters);
  const learners = new Set(cs.learners);
  switch (cc.op) {
    case "add_learner":
      if (voters.has(cc.node) || learners.has(cc.node)) {
        throw new ConfChangeError(`node ${cc.node} is already a member`);
      }
      learners.add(cc.node);
      break;
    case "promote":
      if (!learners.has(cc.node)) {
        throw new ConfChangeError(`node ${cc.node} is not a learner, so it cannot be promoted`);
      }
      learners.delete(cc.node);
      voters.add(cc.node);
      break;
    case "remove":
      if (!voters.has(cc.node) && !learners.has(cc.node)) {
        throw new ConfChangeError(`node ${cc.node} is not a member`);
      }
      voters.delete(cc.node);
      learners.delete(cc.node);
      if (voters.size === 0) throw new ConfChangeError("cannot remove the last voter");
      break;
  }
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}

/** Encodes a conf entry payload. */
export function encodeConfEntry(change: ConfChange, conf: ConfState): Uint8Array {
  return encode({ change, voters: conf.voters, learners: conf.learners });
}

/** Decodes and validates a conf entry payload; throws {@link ConfChangeError} if malformed. */
export function decodeConfEntry(data: Uint8Array): ConfEntryData {
  let raw: unknown;
  try {
    raw = decode(data);
  } catch (e) {
    throw new ConfChangeError(`conf entry is not valid msgpack: ${String(e)}`);
  }
  const r = safeParse(confEntrySchema, raw);
  if (!r.ok) throw new ConfChangeError(`malformed conf entry: ${r.error.message}`);
  return r.value;
}

/** True if both configurations have the same voters and learners. */
export function sameConf(a: ConfState, b: ConfState): boolean {
  return a.voters.join("\u0000") === b.voters.join("\u0000") &&
    a.learners.join("\u0000") === b.learners.join("\u0000");
}
