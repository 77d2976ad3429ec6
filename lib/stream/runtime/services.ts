/**
 * Starts the stream role of a node: the job manager on masters (active
 * while the node is the Raft leader), the task executor on workers, and the
 * job routes of the HTTP API on every node.
 *
 * ```ts
 * registerStreamRuntimeMessages(registry); // before or after the Rpc is built
 * const stream = startStreamServices({
 *   nodeId, roles, rpc, registry, kv, fs, workers: directory, slots: 4,
 *   isLeader: () => raft.isLeader(), leaderId: () => raft.leader() || undefined,
 *   masters: ["m1", "m2", "m3"], metrics, logger,
 * });
 * // modules: [..., stream.apiModule]; cluster view: await stream.jobs()
 * ```
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { MessageRegistry } from "../../../proto/codec.ts";
import type { ApiModule } from "../../api/app.ts";
import { jobRoutes } from "../../api/job_routes.ts";
import type { MetricsRegistry } from "../../metrics.ts";
import type { KvService } from "../../raft/node/kv_service.ts";
import type { Rpc } from "../../transport/mod.ts";
import type { WorkerDirectory } from "./directory.ts";
import type { StreamFs } from "./fs.ts";
import { createJobApi, type JobApi } from "./job_api.ts";
import { JobManager, type JobManagerOptions } from "./job_manager.ts";
import { registerStreamRuntimeMessages } from "./messages.ts";
import { KvMetaStore, type MetaStore } from "./meta.ts";
import type { JobView } from "./views.ts";
import { StreamWorker } from "./worker.ts";

/** Options of {@link startStreamServices}. */
export interface StreamServicesOptions {
  /** This node's id. */
  nodeId: string;
  /** Its roles (`master` runs the job manager, `worker` runs tasks). */
  roles: readonly string[];
  /** The node's RPC endpoint. */
  rpc: Rpc;
  /** The registry `rpc` validates with (the stream messages are added to it). */
  registry: MessageRegistry;
  /** The metadata store service (masters). */
  kv?: KvService;
  /** A metadata store to use instead of `kv` (tests). */
  meta?: MetaStore;
  /** True while this node is the Raft leader. */
  isLeader: () => boolean;
  /** The leader's id, when known. */
  leaderId?: () => string | undefined;
  /** Master ids (where non-masters send job requests). */
  masters?: readonly string[];
  /** The file system. */
  fs: StreamFs;
  /** The workers. */
  workers: WorkerDirectory;
  /** Task slots of this worker (informational; the directory carries every worker's). */
  slots?: number;
  /** Metrics registry. */
  metrics?: MetricsRegistry;
  /** Where to log. */
  logger?: Logger;
  /** Job manager tuning. */
  manager?: Partial<
    Pick<JobManagerOptions, "batchSize" | "creditWindow" | "tickMs" | "heartbeatMs" | "maxRestarts">
  >;
  /** Longest a user operator call may take (default 30 s). */
  userTimeoutMs?: number;
}

/** The running stream services. */
export interface StreamServices {
  /** The jobs (API contract objects), asked of the leader. */
  jobs(): Promise<JobView[]>;
  /** The job routes for the HTTP API. */
  apiModule: ApiModule;
  /** The job API behind the routes. */
  api: JobApi;
  /** The job manager (masters). */
  manager?: JobManager;
  /** The task executor (workers). */
  worker?: StreamWorker;
  /** Stops everything. */
  stop(): void;
}

/** See the module documentation. */
export function startStreamServices(o: StreamServicesOptions): StreamServices {
  registerStreamRuntimeMessages(o.registry);
  const isMaster = o.roles.includes("master");
  const isWorker = o.roles.includes("worker");
  let manager: JobManager | undefined;
  if (isMaster) {
    const meta = o.meta ?? (o.kv ? new KvMetaStore(o.kv) : undefined);
    if (!meta) throw new RangeError("a master needs kv or meta for the job manager");
    manager = new JobManager({
      nodeId: o.nodeId,
      rpc: o.rpc,
      meta,
      fs: o.fs,
      directory: o.workers,
      isLeader: o.isLeader,
      logger: o.logger,
      ...o.manager,
    });
    manager.start();
  }
  const worker = isWorker
    ? new StreamWorker({
      nodeId: o.nodeId,
      rpc: o.rpc,
      fs: o.fs,
      logger: o.logger,
      userTimeoutMs: o.userTimeoutMs,
    })
    : undefined;
  const api = createJobApi({ rpc: o.rpc, manager, leaderId: o.leaderId, masters: o.masters });
  if (o.metrics) {
    const m = manager;
    o.metrics.gauge("elasticore_stream_jobs", "Stream jobs by state (on the leader)", () => {
      const counts = new Map<string, number>();
      for (const v of m?.views() ?? []) counts.set(v.state, (counts.get(v.state) ?? 0) + 1);
      return [...counts].map(([state, n]) => [{ state }, n]);
    });
    const w = worker;
    o.metrics.gauge("elasticore_stream_tasks", "Stream tasks running on this node", () => [
      [undefined, w?.progress().tasks.length ?? 0],
    ]);
  }
  return {
    jobs: () => api.list(),
    apiModule: jobRoutes({ api, fs: o.fs }),
    api,
    manager,
    worker,
    stop() {
      manager?.stop();
      worker?.close();
    },
  };
}
