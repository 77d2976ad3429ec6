/**
 * Starts a node's DFS from its configuration: the local store (Deno KV
 * under the data directory), the ring member, and membership fed from SWIM.
 * Masters form the initial ring from the configured master list (Zave's
 * static initialization: every node derives the same ring); other nodes join
 * it through the masters.
 *
 * The metadata primary's write fence (`write_fence.ts`) is confirmed through the masters'
 * Raft quorum: on a master by its own Raft node, elsewhere by asking a master. Its lease is
 * derived from the SWIM timing (shorter than SWIM's earliest dead declaration; startup fails
 * with `dfs_fence_config` if the timing makes that impossible). Only a configuration without
 * any Raft master gets the `LocalFence`.
 *
 * A node that left with `node leave` and handed its metadata off (`node_handoff.ts`) writes
 * {@link LEFT_MARKER} into its data directory; its copies are out of date from then on, and the
 * others no longer count it among the owners of its keys. Started again on that directory it
 * would be an owner again with stale records, so startup refuses (`dfs_node_left`) until the
 * data directory is removed: the node then joins as a new one and repair fills it.
 *
 * @module
 */
import { join } from "node:path";
import type { Logger } from "@logtape/logtape";
import type { MessageRegistry } from "../../proto/codec.ts";
import { dfsMessages } from "../../proto/dfs.ts";
import type { Config } from "../config/mod.ts";
import type { MetricsRegistry } from "../metrics.ts";
import type { SwimNode } from "../swim/node.ts";
import type { PeerAddress, Rpc } from "../transport/mod.ts";
import { ElasticoreError } from "../errors.ts";
import { DfsNode } from "./node.ts";
import type { HandoffStats } from "./node_handoff.ts";
import { NodeStore } from "./store/node_store.ts";
import { swimConfigFromSection } from "../swim/config.ts";
import { fenceLeaseMs, LocalFence, type WriteFence } from "./write_fence.ts";
import { raftWriteFence } from "./write_fence_raft.ts";

/** What {@link startDfs} needs besides the config. */
export interface DfsDeps {
  /** The node's RPC endpoint. */
  rpc: Rpc;
  /** Its message registry (the DFS messages are added). */
  registry: MessageRegistry;
  /** SWIM membership, for joins and deaths. */
  swim: SwimNode;
  /** The masters from `raft.members`, with their RPC addresses. */
  masters: Map<string, PeerAddress>;
  /** Metrics registry. */
  metrics: MetricsRegistry;
  /** Logger. */
  logger: Logger;
  /**
   * On a master: waits until a linearizable read is possible on its Raft node
   * (`RaftNode.linearizableRead`); it confirms the write fence. Required on masters.
   */
  quorumRead?: (timeoutMs: number) => Promise<void>;
}

/** The write fence for this configuration (see the module documentation). */
export function writeFenceFor(config: Config, deps: DfsDeps): WriteFence {
  if (deps.masters.size === 0) return new LocalFence();
  if (deps.masters.has(config.node.id) && !deps.quorumRead) {
    throw new Error(`master ${config.node.id} must confirm DFS writes on its own Raft node`);
  }
  return raftWriteFence({
    rpc: deps.rpc,
    registry: deps.registry,
    masters: [...deps.masters.keys()],
    quorumRead: deps.masters.has(config.node.id) ? deps.quorumRead : undefined,
    leaseMs: fenceLeaseMs(swimConfigFromSection(config.swim)),
    logger: deps.logger,
  });
}

/** The file, in the data directory, that says this node left (see the module documentation). */
export const LEFT_MARKER = "dfs.left.json";

/** Refuses to start on a data directory whose node left the cluster (`dfs_node_left`). */
export async function refuseIfLeft(dataDir: string, id: string): Promise<void> {
  const file = join(dataDir, LEFT_MARKER);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const at = (() => {
    try {
      return String(JSON.parse(text).at ?? "an unknown time");
    } catch {
      return "an unknown time";
    }
  })();
  throw new ElasticoreError(
    "dfs_node_left",
    `node ${id} left the cluster (node leave) at ${at}; the DFS data in ${dataDir} is out of date ` +
      `(${file} says so)`,
    {
      hint: `to bring the node back, remove ${dataDir} and start it again: it joins as a new ` +
        `node and repair copies its share to it`,
    },
  );
}

/** A started DFS and how to stop it. */
export interface RunningDfs {
  /** The DFS node. */
  dfs: DfsNode;
  /** The local store. */
  store: NodeStore;
  /**
   * `node leave`: hands the metadata off (`DfsNode.decommission`) and, when the others were
   * told, writes {@link LEFT_MARKER}.
   */
  decommission(): Promise<HandoffStats & { announced: number }>;
  /** Stops the ring member and closes the store. */
  stop(): Promise<void>;
}

/** Opens the store, enters the ring and follows SWIM. */
export async function startDfs(config: Config, deps: DfsDeps): Promise<RunningDfs> {
  if (!deps.registry.get(Object.keys(dfsMessages)[0])) deps.registry.register(dfsMessages);
  const d = config.dfs;
  const fence = writeFenceFor(config, deps); // before opening the store: it may refuse
  const store = await NodeStore.open({
    path: join(config.node.data_dir, "dfs.kv"),
    quotaBytes: d.quota_bytes,
    memoryTierBytes: d.memory_tier_bytes,
    cacheBytes: d.cache_bytes,
    metrics: deps.metrics,
  });
  const dfs = new DfsNode({
    id: config.node.id,
    rpc: deps.rpc,
    store,
    replication: d.replication,
    blockBytes: d.block_bytes,
    metrics: deps.metrics,
    logger: deps.logger,
    fence,
  });
  const members: Record<string, PeerAddress> = {};
  for (const [id, addr] of deps.masters) members[id] = addr;
  const isMaster = deps.masters.has(config.node.id);
  await dfs.start({ members, join: !isMaster });
  const off = deps.swim.events.on("*", (e) => {
    if (e.id === config.node.id) return;
    if ((e.kind === "join" || e.kind === "alive") && typeof e.meta.rpc === "string") {
      dfs.memberJoined(e.id, e.meta.rpc);
    } else if (e.kind === "dead" || e.kind === "left") dfs.memberDead(e.id);
  });
  return {
    dfs,
    store,
    async decommission() {
      const stats = await dfs.decommission();
      if (stats.failed.length === 0 && stats.announced > 0) {
        const marker = { at: new Date().toISOString(), node: config.node.id, ...stats };
        await Deno.writeTextFile(
          join(config.node.data_dir, LEFT_MARKER),
          JSON.stringify(marker) + "\n",
        );
      }
      return stats;
    },
    stop() {
      off();
      dfs.stop();
      store.close();
      return Promise.resolve();
    },
  };
}
