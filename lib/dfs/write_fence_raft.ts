/**
 * The Raft-confirmed {@link WriteFence}: a confirmation round is a ReadIndex through the
 * masters' Raft group (`RaftNode.linearizableRead`): the leader answers only after a majority
 * of voters acknowledged a heartbeat of its current term, and a follower forwards the
 * request to the leader. A master runs the read on its own Raft node; any other node sends
 * `dfs.fence_confirm` to a master (the one that answered last first, then the others), which
 * runs it there. A node cut off with a minority of the masters gets no answer in time, so
 * its round fails and its writes are refused with `dfs_no_quorum`.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { MessageRegistry } from "../../proto/codec.ts";
import { type Infer, object, type Schema } from "../../proto/schema.ts";
import type { Rpc } from "../transport/rpc.ts";
import { noQuorum, QuorumFence } from "./write_fence.ts";
import { DEFAULT_ROUND_TIMEOUT_MS } from "./write_fence.ts";

/** Asks a master to confirm, through the Raft quorum, that a leader still leads. */
export const DfsFenceConfirm = object({});
/** The master confirmed (a ReadIndex completed on it). */
export const DfsFenceConfirmReply = object({});
/** A `dfs.fence_confirm` request. */
export type DfsFenceConfirm = Infer<typeof DfsFenceConfirm>;

/** The fence's wire messages (register them in the node's `MessageRegistry`). */
export const fenceMessages: Record<string, Schema<unknown>> = {
  "dfs.fence_confirm": DfsFenceConfirm,
  "dfs.fence_confirm.reply": DfsFenceConfirmReply,
};

/** Options of {@link raftWriteFence}. */
export interface RaftFenceOptions {
  /** The node's RPC layer (the masters must be known peers). */
  rpc: Rpc;
  /** Its message registry (the fence messages are added). */
  registry: MessageRegistry;
  /** Ids of the Raft masters (at least one). */
  masters: string[];
  /**
   * On a master: waits until a linearizable read is possible on its Raft node (ReadIndex),
   * or rejects; `RaftNode.linearizableRead`. Absent on other nodes.
   */
  quorumRead?: (timeoutMs: number) => Promise<void>;
  /** Lease length, ms (`fenceLeaseMs` of the SWIM timing). */
  leaseMs: number;
  /** A round that takes longer fails (default 3 s). */
  roundTimeoutMs?: number;
  /** Logger for failed rounds. */
  logger?: Logger;
}

/**
 * The Raft-confirmed fence; on a master it also serves `dfs.fence_confirm` for the others.
 * Throws if no master is given (use `LocalFence` only for a ring without masters).
 */
export function raftWriteFence(o: RaftFenceOptions): QuorumFence {
  if (o.masters.length === 0) throw new RangeError("the Raft write fence needs the masters");
  if (!o.registry.get("dfs.fence_confirm")) o.registry.register(fenceMessages);
  const timeoutMs = o.roundTimeoutMs ?? DEFAULT_ROUND_TIMEOUT_MS;
  const read = o.quorumRead;
  if (read) {
    o.rpc.handle("dfs.fence_confirm", async () => {
      await read(timeoutMs);
      return {};
    });
  }
  let preferred = 0;
  const round = async (signal: AbortSignal): Promise<void> => {
    if (read) return await read(timeoutMs);
    const deadline = performance.now() + timeoutMs;
    const errors: string[] = [];
    for (let i = 0; i < o.masters.length; i++) {
      const at = (preferred + i) % o.masters.length;
      const master = o.masters[at];
      const left = Math.floor(deadline - performance.now());
      if (left <= 0 || signal.aborted) break;
      try {
        await o.rpc.call(master, "dfs.fence_confirm", {}, { deadlineMs: left, signal });
        preferred = at;
        return;
      } catch (e) {
        errors.push(`${master}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    throw noQuorum(errors.length ? errors.join("; ") : `no master answered in ${timeoutMs} ms`);
  };
  let failing = false;
  return new QuorumFence({
    round,
    leaseMs: o.leaseMs,
    roundTimeoutMs: timeoutMs,
    onRound: (ok, ms, error) => {
      if (!ok && !failing) {
        o.logger?.warn("DFS writes refused: no quorum confirmation ({ms} ms): {error}", {
          ms: Math.round(ms),
          error: String(error),
        });
      } else if (ok && failing) o.logger?.info("DFS write fence confirmed again");
      failing = !ok;
    },
  });
}
