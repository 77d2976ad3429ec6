/**
 * What a follower does with the leader's messages: append entries after a
 * matching (index, term) — or reject with a fast back-off hint —, learn the
 * commit index from heartbeats, and install snapshots.
 *
 * @module
 */
import type { AppendMsg, HeartbeatMsg, SnapshotMsg } from "../../proto/raft.ts";
import type { RaftLog } from "./log.ts";
import type { RaftMessage } from "./types.ts";

type Send = (m: RaftMessage) => void;

function appendResp(
  send: Send,
  m: { from: string; to: string },
  term: number,
  index: number,
  reject = false,
  hintIndex = 0,
  hintTerm = 0,
): void {
  send({ type: "append_resp", from: m.to, to: m.from, term, index, reject, hintIndex, hintTerm });
}

/**
 * Handles an append at the follower's current `term`. Returns true if the
 * log changed in a way that may change the configuration.
 */
export function handleAppend(log: RaftLog, m: AppendMsg, send: Send, term: number): boolean {
  if (m.prevIndex < log.committed) {
    appendResp(send, m, term, log.committed);
    return false;
  }
  const last = log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
  if (last >= 0) {
    appendResp(send, m, term, last);
    return m.entries.length > 0;
  }
  // Hint: our largest index whose term is at most the rejected prevTerm.
  const [hintIndex, hintTerm] = log.findConflictByTerm(
    Math.min(m.prevIndex, log.lastIndex()),
    m.prevTerm,
  );
  appendResp(send, m, term, m.prevIndex, true, hintIndex, hintTerm);
  return false;
}

/** Handles a heartbeat: learn the commit index (bounded by our log) and answer with its ctx. */
export function handleHeartbeat(log: RaftLog, m: HeartbeatMsg, send: Send, term: number): void {
  log.commitTo(Math.min(m.commit, log.lastIndex()));
  if (m.ctx) send({ type: "heartbeat_resp", from: m.to, to: m.from, term, ctx: m.ctx });
  else send({ type: "heartbeat_resp", from: m.to, to: m.from, term });
}

/**
 * Handles InstallSnapshot. A snapshot at or below the commit index is old
 * news; one matching our log only advances the commit index; otherwise the
 * log is replaced. Returns true if the log was replaced.
 */
export function handleSnapshot(log: RaftLog, m: SnapshotMsg, send: Send, term: number): boolean {
  const s = m.snapshot;
  if (s.index <= log.committed) {
    appendResp(send, m, term, log.committed);
    return false;
  }
  if (log.matchTerm(s.index, s.term)) {
    log.commitTo(s.index);
    appendResp(send, m, term, log.committed);
    return false;
  }
  log.restore(s);
  appendResp(send, m, term, log.lastIndex());
  return true;
}
