/**
 * A node: composes the subsystems its roles need from its configuration.
 * Every node runs the authenticated transport and the HTTPS API; masters run
 * Raft and the replicated metadata store.
 *
 * @module
 */
import "./security/pki.ts"; // loads the reflect polyfill before @peculiar/x509 users
import { MessageRegistry } from "../proto/codec.ts";
import { raftMessages } from "../proto/raft.ts";
import { type Config, parseMember } from "./config/mod.ts";
import { getLogger } from "./log/mod.ts";
import { MetricsRegistry } from "./metrics.ts";
import { registerProcessMetrics } from "./process_metrics.ts";
import { startMallocTrim } from "./malloc_trim.ts";
import { createApiApp } from "./api/app.ts";
import { cachingVerifier } from "./api/auth.ts";
import { dashboardModule } from "./api/dashboard/mod.ts";
import { kvRoutes } from "./api/kv_routes.ts";
import { clusterRoutes, type MemberView } from "./api/cluster_routes.ts";
import { nodeRoutes } from "./api/node_routes.ts";
import { RaftNode } from "./raft/node/raft_node.ts";
import { startLogServices } from "./logs/mod.ts";
import { refuseIfLeft, startDfs } from "./dfs/start.ts";
import { runStopSteps } from "./stop_steps.ts";
import { fsRoutes } from "./api/fs_routes.ts";
import { startStreamServices } from "./stream/runtime/services.ts";
import { DfsStreamFs } from "./stream/runtime/dfs_fs.ts";
import { SLOTS_META_KEY, SwimWorkerDirectory } from "./stream/runtime/swim_directory.ts";
import { SwimNode, swimNodeOptionsFromConfig } from "./swim/node.ts";
import { formatAddr, parseAddr as parseGossipAddr, swimRpcMessages } from "./swim/node_wire.ts";
import { KvService, registerKvMessages } from "./raft/node/kv_service.ts";
import { makeTokenVerifier, readTokenKeyFile } from "./security/tokens.ts";
import { createTransport, type PeerAddress, Rpc } from "./transport/mod.ts";
import { registerTransportMetrics, type Sample, scrapedCounter } from "./transport/prometheus.ts";
import type { StreamServices } from "./stream/runtime/services.ts";
import { ElasticoreError } from "./errors.ts";
import { VERSION } from "./version.ts";
import { ringIdOf } from "./dfs/ring/id.ts";
import { join } from "node:path";

/** A running node. */
export interface RunningNode {
  /** Its configuration. */
  readonly config: Config;
  /** Its RPC endpoint. */
  readonly rpc: Rpc;
  /** Raft (masters only). */
  readonly raft?: RaftNode;
  /** The metadata store service (masters only). */
  readonly kv?: KvService;
  /** SWIM membership. */
  readonly swim: SwimNode;
  /** The metrics registry. */
  readonly metrics: MetricsRegistry;
  /** The API's bound address. */
  readonly apiAddr: Deno.NetAddr;
  /** Stops every subsystem. */
  stop(): Promise<void>;
}

async function readFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new ElasticoreError(
      "node_file_unreadable",
      `cannot read the ${what} ${path}: ${(e as Error).message}`,
      {
        hint: "run `elasticore init` to create the cluster's certificates and keys",
      },
    );
  }
}

/** Starts a node from its configuration. */
export async function startNode(
  config: Config,
  opts: { onFatal?: (e: unknown) => void } = {},
): Promise<RunningNode> {
  const log = getLogger("node");
  // First: a node that left must not open a port or a store on its stale data.
  await refuseIfLeft(config.node.data_dir, config.node.id);
  const metrics = new MetricsRegistry();
  registerProcessMetrics(metrics);
  const sec = config.security;
  const [caPem, certPem, keyPem] = await Promise.all([
    readFile(sec.ca_file, "CA certificate"),
    readFile(sec.cert_file, "node certificate"),
    readFile(sec.key_file, "node key"),
  ]);
  const tokenKey = await readTokenKeyFile(sec.token_key_file);
  const verify = cachingVerifier(makeTokenVerifier(tokenKey, sec.cluster_label));
  const registry = new MessageRegistry().register(raftMessages).register(swimRpcMessages);
  registerKvMessages(registry);

  const transport = createTransport(config.transport.kind, {
    identity: { nodeId: config.node.id, caPem, certPem, keyPem },
    cluster: sec.cluster_label,
    registry,
    hostname: config.addresses.bind,
    port: config.addresses.rpc_port,
    maxFrameBytes: config.transport.max_frame_bytes,
    queueFrames: config.transport.send_queue_frames,
    connectTimeoutMs: config.transport.connect_timeout_ms,
  });
  const rpc = new Rpc({ transport, registry });
  await rpc.start();
  registerTransportMetrics(metrics, { transport: () => rpc.metrics });

  const isMaster = config.node.roles.includes("master");
  const members = new Map<string, PeerAddress>();
  for (const m of config.raft.members) {
    const p = parseMember(m);
    if (p) members.set(p.id, { hostname: p.host, port: p.port });
  }
  let raft: RaftNode | undefined;
  let kv: KvService | undefined;
  if (isMaster) {
    raft = await RaftNode.open({
      id: config.node.id,
      dir: join(config.node.data_dir, "raft"),
      rpc,
      members,
      electionTimeoutMs: config.raft.election_timeout_ms,
      heartbeatIntervalMs: config.raft.heartbeat_interval_ms,
      snapshotThreshold: config.raft.snapshot_threshold,
      maxBatchEntries: config.raft.max_batch_entries,
      logger: getLogger("raft"),
      metrics,
      onFatal: opts.onFatal,
    });
    kv = new KvService(raft, rpc);
  } else {
    for (const [id, addr] of members) rpc.addPeer(id, addr);
  }

  const swimOpts = await swimNodeOptionsFromConfig(config, { rpc, metrics, faults: rpc.faults });
  if (config.node.roles.includes("worker")) {
    swimOpts.meta = { ...swimOpts.meta, [SLOTS_META_KEY]: config.stream.slots };
  }
  const swim = new SwimNode(swimOpts);
  const peerFromMeta = (id: string, meta: Record<string, string | number>) => {
    if (id === config.node.id || typeof meta.rpc !== "string") return;
    try {
      rpc.addPeer(id, parseGossipAddr(meta.rpc, "rpc address"));
    } catch {
      log.warn("member {id} gossips an unusable rpc address {rpc}", { id, rpc: meta.rpc });
    }
  };
  swim.events.on("*", (e) => {
    if (e.kind === "join" || e.kind === "alive" || e.kind === "updated") peerFromMeta(e.id, e.meta);
    if (e.kind !== "updated") {
      log.info("member {id} {kind} (incarnation {inc})", { id: e.id, kind: e.kind, inc: e.inc });
    }
  });
  const gossipAddr = await swim.start();
  const ownGossip = formatAddr(
    config.addresses.advertise ?? config.addresses.bind,
    config.addresses.gossip_port,
  );
  const seeds = config.swim.seeds.filter((s) => s !== ownGossip && s !== gossipAddr);
  if (seeds.length) {
    // Seeds may still be starting; the core retries. Do not hold up this node's start.
    swim.join(seeds, { timeoutMs: 120_000 }).catch((e) =>
      log.warn("could not join through {seeds}: {error}", {
        seeds: seeds.join(","),
        error: String(e),
      })
    );
  }
  const liveMembers = () =>
    swim.members().filter((m) => m.state === "alive" || m.state === "suspect");

  const dfs = await startDfs(config, {
    rpc,
    registry,
    swim,
    masters: members,
    metrics,
    logger: getLogger("dfs"),
    quorumRead: raft ? (ms) => raft.linearizableRead(ms) : undefined,
  });
  const streamFs = new DfsStreamFs(() => dfs.dfs);
  const stream = startStreamServices({
    nodeId: config.node.id,
    roles: config.node.roles,
    rpc,
    registry,
    kv,
    isLeader: () => raft?.isLeader() ?? false,
    leaderId: () => raft?.leader() || undefined,
    masters: [...members.keys()],
    fs: streamFs,
    workers: new SwimWorkerDirectory(swim),
    slots: config.stream.slots,
    metrics,
    logger: getLogger("stream"),
  });
  registerStreamMetrics(metrics, stream);

  const logs = startLogServices({
    nodeId: config.node.id,
    dataDir: config.node.data_dir,
    rpc,
    registry,
    members: () =>
      [...new Set([config.node.id, ...liveMembers().map((m) => m.id)])].map((id) => ({ id })),
    metrics,
    // The cluster log: per-node, per-hour files in the DFS, so logs outlive the node.
    sink: { append: (path, bytes) => streamFs.append(path, bytes) },
    onShipError: (e) => log.debug("log shipping will retry: {error}", { error: String(e) }),
  });

  const memberViews = (): MemberView[] =>
    swim.members().map((m) => ({
      id: m.id,
      state: m.state,
      incarnation: m.incarnation,
      roles: String(m.meta.roles ?? "").split(",").filter(Boolean),
      rpc: typeof m.meta.rpc === "string" ? m.meta.rpc : undefined,
      api: typeof m.meta.api === "string" ? `https://${m.meta.api}` : undefined,
      gossip: m.addr,
    }));
  const ringView = () => {
    const nodes = memberViews().filter((m) => m.state === "alive" || m.state === "suspect").map(
      (m) => {
        const meta = swim.members().find((x) => x.id === m.id)?.meta ?? {};
        return {
          id: m.id,
          position: ringIdOf(m.id).toString(16).padStart(16, "0"),
          blocks: Number(meta.dfs_blocks ?? 0),
          bytes: Number(meta.dfs_bytes ?? 0),
        };
      },
    );
    return { replication: config.dfs.replication, nodes };
  };
  // DFS use travels in SWIM metadata; refreshed when it changes (each update is gossiped).
  let lastUsage = "";
  const usageTimer = setInterval(() => {
    const st = dfs.store.stats();
    const blocks = dfs.dfs.localBlocks().length;
    const usage = `${blocks}/${st.usedBytes}`;
    if (usage === lastUsage) return;
    lastUsage = usage;
    swim.updateMeta({ ...swimOpts.meta, dfs_blocks: blocks, dfs_bytes: st.usedBytes });
  }, 5_000);

  let status: "starting" | "ok" | "stopping" = "starting";
  const app = createApiApp({
    verify,
    metrics,
    maxBodyBytes: config.api.max_body_bytes,
    health: () => ({ node: config.node.id, status, roles: config.node.roles, version: VERSION }),
    isLeader: () => raft?.isLeader() ?? false,
    modules: [
      dashboardModule,
      clusterRoutes({
        node: config.node.id,
        version: VERSION,
        members: memberViews,
        kv: () => kv,
        ring: () => ringView(),
        jobs: () => stream.jobs(),
      }),
      ...(kv ? [kvRoutes(() => kv!)] : []),
      fsRoutes(() => dfs.dfs),
      stream.apiModule,
      logs.routes,
      // Fault injection for `deno task chaos`: only with ELASTICORE_DEBUG_FAULTS=1.
      ...(await import("./api/debug_routes.ts")).debugModulesFromEnv({
        node: config.node.id,
        faults: rpc.faults,
        localMeta: (path) => dfs.dfs.localMeta(path),
      }),
      // Leaving = a DFS metadata hand-off, then the same graceful stop as SIGTERM (serve's
      // handler runs stop()).
      nodeRoutes(config.node.id, {
        handOff: () => dfs.decommission(),
        stop: () => Deno.kill(Deno.pid, "SIGTERM"),
      }),
    ],
  });
  let resolveAddr: (a: Deno.NetAddr) => void = () => {};
  const listening = new Promise<Deno.NetAddr>((r) => (resolveAddr = r));
  const server = Deno.serve({
    hostname: config.addresses.bind,
    port: config.addresses.api_port,
    cert: certPem,
    key: keyPem,
    onListen: (addr) => resolveAddr(addr as Deno.NetAddr),
  }, app.fetch);
  const apiAddr = await listening;
  status = "ok";
  log.info("node {id} serving: api https://{api}, rpc {rpc}, roles {roles}", {
    id: config.node.id,
    api: `${apiAddr.hostname}:${apiAddr.port}`,
    rpc: `${config.addresses.bind}:${config.addresses.rpc_port}`,
    roles: config.node.roles.join("+"),
  });

  // Started last: a timer left running by a failed start would keep the process alive.
  const trimmer = startMallocTrim(metrics);
  return {
    config,
    rpc,
    raft,
    kv,
    swim,
    metrics,
    apiAddr,
    async stop() {
      status = "stopping";
      clearInterval(usageTimer);
      trimmer.stop();
      // Each step bounded: the process exits once stop() returns, whatever is left behind.
      await runStopSteps([
        { name: "the HTTPS API (requests in flight)", run: () => server.shutdown(), limitMs: 3000 },
        { name: "the SWIM leave announcement", run: () => swim.leave(), limitMs: 3000 },
        { name: "the stream engine", run: () => stream.stop(), limitMs: 8000 },
        { name: "SWIM", run: () => swim.stop(), limitMs: 2000 },
        { name: "Raft", run: () => raft?.stop(), limitMs: 3000 },
        { name: "the log services", run: () => logs.stop(), limitMs: 3000 },
        { name: "the DFS", run: () => dfs.stop(), limitMs: 3000 },
        { name: "the RPC layer", run: () => rpc.close(), limitMs: 2000 },
      ], log);
    },
  };
}

/**
 * Stream series beyond the runtime's own job and task gauges, read at scrape
 * time: records through the tasks running here (sampled: the last records of
 * a task that ends between two scrapes are not seen), and on the leader the
 * records through every stage of its jobs (exact once a job ended), each
 * running job's last checkpoint, and restarts.
 */
function registerStreamMetrics(metrics: MetricsRegistry, stream: StreamServices): void {
  // Progress restarts from zero with every attempt: accumulate per (task or job) and attempt.
  const accumulate = () => {
    const seen = new Map<string, { attempt: number; in: number; out: number }>();
    const totals = { in: 0, out: 0 };
    return (items: { key: string; attempt: number; in: number; out: number }[]): Sample[] => {
      const now = new Set<string>();
      for (const p of items) {
        now.add(p.key);
        const prev = seen.get(p.key);
        const same = prev?.attempt === p.attempt;
        totals.in += Math.max(0, p.in - (same ? prev.in : 0));
        totals.out += Math.max(0, p.out - (same ? prev.out : 0));
        seen.set(p.key, p);
      }
      for (const key of seen.keys()) if (!now.has(key)) seen.delete(key);
      return [[{ dir: "in" }, totals.in], [{ dir: "out" }, totals.out]];
    };
  };
  const tasks = accumulate();
  scrapedCounter(
    metrics,
    "elasticore_stream_records_total",
    "Records through tasks here",
    () =>
      tasks(
        (stream.worker?.progress().tasks ?? []).map((p) => ({
          key: `${p.job}/${p.task}`,
          attempt: p.attempt,
          in: p.recordsIn,
          out: p.recordsOut,
        })),
      ),
  );
  const views = () => stream.manager?.views() ?? [];
  const jobs = accumulate();
  scrapedCounter(
    metrics,
    "elasticore_stream_job_records_total",
    "Records through every stage of the jobs this leader drives",
    () =>
      jobs(
        views().map((j) => ({
          key: j.id,
          attempt: j.attempt,
          in: j.stages.reduce((n, s) => n + s.recordsIn, 0),
          out: j.stages.reduce((n, s) => n + s.recordsOut, 0),
        })),
      ),
  );
  const running = () => views().filter((j) => j.state === "running");
  metrics.gauge(
    "elasticore_stream_checkpoint_seconds",
    "Duration of each running job's last completed checkpoint (on the leader)",
    () =>
      running().flatMap((j): Sample[] =>
        j.lastCheckpoint ? [[{ job: j.id }, j.lastCheckpoint.durationMs / 1000]] : []
      ),
  );
  metrics.gauge(
    "elasticore_stream_checkpoint_id",
    "Id of each running job's last completed checkpoint (on the leader)",
    () => running().map((j): Sample => [{ job: j.id }, j.lastCheckpoint?.id ?? 0]),
  );
  scrapedCounter(
    metrics,
    "elasticore_stream_restarts_total",
    "Job restarts after failures (on the leader)",
    () => [[undefined, views().reduce((n, j) => n + j.restarts, 0)]],
  );
}
