/**
 * Raft for the replicated master quorum: the sans-I/O core, its storage
 * helpers, the versioned KV state machine, and the deterministic simulation.
 *
 * @module
 */
export { Raft } from "./raft.ts";
export { RaftLog } from "./log.ts";
export {
  applyConfChange,
  type ConfChange,
  ConfChangeError,
  decodeConfEntry,
  encodeConfEntry,
} from "./confchange.ts";
export { type KeyValueDisk, RaftDiskStorage } from "./storage.ts";
export {
  decodeKvCommand,
  encodeKvCommand,
  type KvCommand,
  KvCommandError,
  type KvItem,
  type KvResult,
  KvStateMachine,
} from "./kv_state.ts";
export { MemCluster } from "./mem_cluster.ts";
export { type RaftSimOptions, runRaftSimulation } from "./simulation.ts";
export * from "./types.ts";
