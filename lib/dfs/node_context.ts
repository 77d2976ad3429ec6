/**
 * What the parts of a DFS node (block I/O, the metadata primary, the replica-side RPC
 * handlers, repair) share: the store, the RPC layer, placement on the ring, the metadata
 * index and the metrics. `DfsNode` implements it.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Counter, Histogram, MetricsRegistry } from "../metrics.ts";
import type { Rpc } from "../transport/rpc.ts";
import type { CallOptions } from "../transport/rpc_types.ts";
import type { FileMeta } from "./file_meta.ts";
import type { MetaIndex } from "./node_meta.ts";
import type { MetaOrder } from "./meta_order.ts";
import type { RingId } from "./ring/id.ts";
import type { NodeStore } from "./store/node_store.ts";

/** The DFS metrics of one node. */
export interface DfsMetrics {
  /** File bytes received from clients (put, append). */
  bytesIn: Counter;
  /** File bytes sent to clients (get). */
  bytesOut: Counter;
  /** Client operations by `op` and `result`. */
  ops: Counter;
  /** Copies re-replicated by repair and anti-entropy, by `kind` (block, meta) and `why`. */
  repairs: Counter;
  /** Reads that fell back to another replica, by `reason`. */
  fallbacks: Counter;
  /** Time to store one block on all its replicas. */
  replicationSeconds: Histogram;
  /** Time to replicate one metadata change to all its replicas. */
  metaReplicationSeconds: Histogram;
}

/** Registers the DFS metrics in `r`. */
export function dfsMetrics(r: MetricsRegistry): DfsMetrics {
  return {
    bytesIn: r.counter("elasticore_dfs_client_bytes_in_total", "DFS file bytes written by clients"),
    bytesOut: r.counter("elasticore_dfs_client_bytes_out_total", "DFS file bytes read by clients"),
    ops: r.counter("elasticore_dfs_ops_total", "DFS client operations by op and result"),
    repairs: r.counter("elasticore_dfs_repairs_total", "DFS copies re-replicated by repair"),
    fallbacks: r.counter(
      "elasticore_dfs_read_fallbacks_total",
      "DFS reads served by another replica",
    ),
    replicationSeconds: r.histogram(
      "elasticore_dfs_block_replication_seconds",
      "Time to store one DFS block on all its replicas",
    ),
    metaReplicationSeconds: r.histogram(
      "elasticore_dfs_meta_replication_seconds",
      "Time to replicate one DFS metadata change to all its replicas",
    ),
  };
}

/** The shared state and services of one DFS node. */
export interface NodeContext {
  /** This node's id. */
  readonly self: string;
  /** Replication factor. */
  readonly rf: number;
  /** Block size of new files. */
  readonly blockBytes: number;
  /** Local storage. */
  readonly store: NodeStore;
  /** The RPC layer. */
  readonly rpc: Rpc;
  /** Summaries of the records stored here. */
  readonly metas: MetaIndex;
  /** Metrics. */
  readonly metrics: DfsMetrics;
  /** Logger (category elasticore/dfs). */
  readonly log: Logger;
  /**
   * The live replica candidates of `key`, nearest first: at least the RF replicas when that
   * many nodes are live, plus up to `extra` further successors to fall back on.
   */
  locate(key: RingId, extra?: number): Promise<string[]>;
  /**
   * The RF quorum owners of `key`: its first RF successors among every known member, dead
   * ones included for a grace period (`RingLocator.quorumOwners`). A metadata reload must hear
   * from a majority of them and a change must reach a majority (`node_meta_sync.ts`).
   */
  quorumOwners(key: RingId): string[];
  /** Whether membership declared `id` dead (it is not asked anything then). */
  isDead(id: string): boolean;
  /** Notes that `id` did not answer: placement skips it for a while. */
  suspect(id: string): void;
  /** Notes that `id` answered: placement stops skipping it. */
  trust(id: string): void;
  /** Calls `type` on `peer` (which must not be this node). */
  call<R>(peer: string, type: string, body: unknown, opts?: CallOptions): Promise<R>;
  /** Stores `rec` locally if it is newer than the stored record; true if stored. */
  storeMeta(rec: FileMeta): Promise<boolean>;
  /**
   * Raises the `confirmed` point of the local record of `path` to `mark` if it is exactly that
   * state with history head `head` (`meta_order.ts`); true if it is.
   */
  markMeta(path: string, mark: MetaOrder, head: string): Promise<boolean>;
  /** The local record of `path`, or null. */
  localMeta(path: string): Promise<FileMeta | null>;
}
