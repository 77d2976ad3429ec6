/**
 * Distributed logging for one node: the RPC service over its own log
 * files, cluster-wide grep and tail bound to the node's members, the HTTP
 * routes, and (when a sink is given) the shipper to the cluster log.
 *
 * ```ts
 * registry.register(logsMessages);            // before the node's Rpc is built
 * const logs = startLogServices({ nodeId, dataDir, rpc, members, metrics, sink });
 * createApiApp({ ..., modules: [..., logs.routes] });
 * await logs.stop();
 * ```
 *
 * @module
 */
import type { MessageRegistry } from "../../proto/codec.ts";
import { type LogsGrepRequest, logsMessages } from "../../proto/logs.ts";
import type { ApiModule } from "../api/app.ts";
import { logsRoutes } from "../api/logs_routes.ts";
import type { MetricsRegistry } from "../metrics.ts";
import type { Rpc } from "../transport/rpc.ts";
import {
  clusterGrep,
  type ClusterGrepResult,
  type ClusterQueryOptions,
  clusterTail,
  type ClusterTailRequest,
  type ClusterTailResult,
  type MemberList,
} from "./cluster.ts";
import { LogService } from "./service.ts";
import { LogShipper, type LogSink } from "./shipper.ts";

export { logsMessages } from "../../proto/logs.ts";
export { LogService } from "./service.ts";
export { LogShipper, type LogSink } from "./shipper.ts";
export {
  clusterGrep,
  type ClusterGrepResult,
  clusterTail,
  type ClusterTailRequest,
  type ClusterTailResult,
} from "./cluster.ts";

/** Options of {@link startLogServices}. */
export interface LogServicesOptions {
  /** This node's id. */
  nodeId: string;
  /** Its data directory (logs in `<dataDir>/logs`). */
  dataDir: string;
  /** The node's RPC layer; the logs handlers are registered on it. */
  rpc: Rpc;
  /**
   * The node's registry; `logsMessages` is registered in it when missing.
   * Omit it when the caller registered `logsMessages` itself.
   */
  registry?: MessageRegistry;
  /** Live members (SWIM, or the configured members); the local node is always included. */
  members: MemberList;
  /** The node's metrics registry. */
  metrics?: MetricsRegistry;
  /** Cluster-log sink: when given, this node's lines are shipped to `/_logs/<node>/`. */
  sink?: LogSink;
  /** Default wait for every node of a grep, in ms (default 10 s). */
  grepTimeoutMs?: number;
  /** Default wait for every node of a tail, in ms (default 5 s). */
  tailTimeoutMs?: number;
  /** Told about shipping failures (e.g. to log them, rate-limited). */
  onShipError?: (e: unknown) => void;
}

/** Running log services of a node. */
export interface LogServices {
  /** The local service. */
  readonly service: LogService;
  /** The shipper, when a sink was given. */
  readonly shipper?: LogShipper;
  /** Cluster grep over the live members. */
  grep(req: LogsGrepRequest, opts?: ClusterQueryOptions): Promise<ClusterGrepResult>;
  /** Cluster tail over the live members. */
  tail(req: ClusterTailRequest, opts?: ClusterQueryOptions): Promise<ClusterTailResult>;
  /** `GET /v1/logs/grep` and `GET /v1/logs/tail`, for `createApiApp({ modules })`. */
  readonly routes: ApiModule;
  /** Stops the shipper (waits for its append in flight). */
  stop(): Promise<void>;
}

/** Registers the handlers, starts the shipper and returns the cluster functions; see the module docs. */
export function startLogServices(opts: LogServicesOptions): LogServices {
  if (opts.registry && !opts.registry.get("logs.grep")) opts.registry.register(logsMessages);
  const service = new LogService({
    nodeId: opts.nodeId,
    dataDir: opts.dataDir,
    metrics: opts.metrics,
  });
  service.register(opts.rpc);
  const partials = opts.metrics?.counter(
    "elasticore_logs_cluster_queries_total",
    "Cluster log queries answered by this node, by kind and completeness",
  );
  const grep = async (req: LogsGrepRequest, q: ClusterQueryOptions = {}) => {
    const r = await clusterGrep(opts.members, opts.rpc, req, {
      timeoutMs: opts.grepTimeoutMs,
      ...q,
      local: service,
    });
    partials?.inc({ kind: "grep", partial: String(r.partial) });
    return r;
  };
  const tail = async (req: ClusterTailRequest, q: ClusterQueryOptions = {}) => {
    const r = await clusterTail(opts.members, opts.rpc, req, {
      timeoutMs: opts.tailTimeoutMs,
      ...q,
      local: service,
    });
    partials?.inc({ kind: "tail", partial: String(r.partial) });
    return r;
  };
  let shipper: LogShipper | undefined;
  if (opts.sink) {
    shipper = new LogShipper({
      nodeId: opts.nodeId,
      dataDir: opts.dataDir,
      sink: opts.sink,
      metrics: opts.metrics,
      onError: opts.onShipError,
    });
    shipper.start();
  }
  return {
    service,
    shipper,
    grep,
    tail,
    routes: logsRoutes({ grep, tail }),
    async stop() {
      await shipper?.stop();
    },
  };
}
