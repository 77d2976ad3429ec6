/**
 * The SWIM I/O shell: runs a {@link SwimCore} against the real world. It
 * owns the gossip datagram socket (AES-256-GCM with the cluster keyring and
 * label, `lib/transport/datagram.ts`), serves push/pull and the stream
 * fallback ping on an RPC instance it is given (so one RPC server carries
 * every subsystem), keeps one timer armed for the core's next wake-up,
 * performs the core's effects and publishes membership events and metrics.
 *
 * ```ts
 * const node = new SwimNode({ id: "m1", config, rpc, keys, cluster: "elasticore",
 *   gossipPort: 7401, meta: nodeMeta({ roles: ["master"], rpc: "10.0.0.1:7400", version }) });
 * await node.start();
 * node.events.on("dead", (e) => console.log(`${e.id} failed`));
 * await node.join(["10.0.0.2:7401"]);
 * ```
 *
 * Seeds are gossip addresses; their node id and RPC address are learnt by
 * the discovery exchange described in node_wire.ts before the join's
 * push/pull. The clock is `performance.timeOrigin + performance.now()`:
 * monotonic, and close to Unix milliseconds (event `at` fields use it).
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { MemberMeta } from "../../proto/swim.ts";
import { ElasticoreError } from "../errors.ts";
import { getLogger } from "../log/mod.ts";
import type { MetricsRegistry } from "../metrics.ts";
import {
  DATAGRAM_HEADER_BYTES,
  DATAGRAM_TAG_BYTES,
  DatagramTransport,
  type GossipDatagram,
  MAX_UDP_PAYLOAD,
} from "../transport/datagram.ts";
import type { FaultInjector } from "../transport/faults.ts";
import type { Rpc } from "../transport/rpc.ts";
import { NODE_ID_PATTERN } from "../transport/types.ts";
import type { Config } from "../config/schema.ts";
import { readKeyringFile } from "../security/keyring.ts";
import { VERSION } from "../version.ts";
import { type SwimConfig, swimConfigFromSection } from "./config.ts";
import { SwimCore } from "./core.ts";
import { SwimEvents } from "./node_events.ts";
import { SwimMetrics, type SwimStats } from "./node_metrics.ts";
import { SwimStreamSide } from "./node_stream.ts";
import {
  decodeDatagram,
  encodeDatagram,
  formatAddr,
  nodeMeta,
  parseAddr,
  swimClock,
} from "./node_wire.ts";
import type { MemberStatus, RandomSource, SendEffect } from "./types.ts";

/** Extra room in a datagram beyond the core's packing budget (envelope, key names). */
const DATAGRAM_HEADROOM = 128;

/** Options of a {@link SwimNode}. */
export interface SwimNodeOptions {
  /** This node's id (the CN of its certificate). */
  id: string;
  /** Protocol configuration (`swimConfigFromSection(config.swim)`). */
  config: SwimConfig;
  /** The node's RPC layer (one SwimNode per Rpc); its registry must hold `swimRpcMessages`. */
  rpc: Rpc;
  /** Gossip keyring: raw AES-256 keys, primary first. */
  keys: Uint8Array[];
  /** Cluster label (authenticated in every datagram). */
  cluster: string;
  /** Address the gossip socket binds (default 127.0.0.1). */
  hostname?: string;
  /** Host other members send datagrams to (default: `hostname`). */
  advertise?: string;
  /** Gossip UDP port (default 0: ephemeral). */
  gossipPort?: number;
  /** Gossiped metadata: roles, `rpc` (required for push/pull), `api`, version (see `nodeMeta`). */
  meta?: MemberMeta;
  /** Registry for the `elasticore_swim_*` metrics (a fresh one by default). */
  metrics?: MetricsRegistry;
  /** Fault injector for outgoing datagrams (share `rpc.faults` to disturb both paths). */
  faults?: FaultInjector;
  /** Randomness (default `Math.random`). */
  random?: RandomSource;
  /** Deadline of a push/pull exchange in ms (default 5000). */
  pushPullDeadlineMs?: number;
  /** Logger (default: category `["elasticore", "swim"]`). */
  logger?: Logger;
}

/** One member as {@link SwimNode.members} reports it. */
export interface MemberView {
  /** Node id. */
  id: string;
  /** Liveness as this node sees it. */
  state: MemberStatus;
  /** Highest incarnation seen. */
  incarnation: number;
  /** Gossip address. */
  addr: string;
  /** Gossiped metadata. */
  meta: MemberMeta;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

const mathRandom: RandomSource = { int: (n) => Math.floor(Math.random() * n) };

/** See the module documentation. */
export class SwimNode {
  /** This node's id. */
  readonly id: string;
  /** Membership events: `events.on("dead", fn)` or `for await (const e of events.subscribe())`. */
  readonly events: SwimEvents;
  /** Counters and gauges (`metrics.registry`, `metrics.snapshot()`). */
  readonly metrics: SwimMetrics;
  readonly #opts: SwimNodeOptions;
  readonly #cfg: SwimConfig;
  readonly #log: Logger;
  #core: SwimCore | undefined;
  #dgram: DatagramTransport | undefined;
  #addr = "";
  #overhead = 0;
  #maxPayload = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #lastInc = 0;
  #joinWaiters: Waiter[] = [];
  readonly #stream: SwimStreamSide;

  /** Validates the options and registers the RPC handlers; call {@link start} next. */
  constructor(opts: SwimNodeOptions) {
    if (!NODE_ID_PATTERN.test(opts.id)) {
      throw new ElasticoreError("swim_bad_id", `node id ${JSON.stringify(opts.id)} is invalid`);
    }
    this.id = opts.id;
    this.#opts = opts;
    this.#cfg = opts.config;
    this.#log = opts.logger ?? getLogger("swim");
    this.events = new SwimEvents((e) =>
      this.#log.error("membership event listener failed: {error}", { error: String(e) })
    );
    this.metrics = new SwimMetrics({
      health: () => this.#core?.health ?? 0,
      incarnation: () => this.#core?.incarnation ?? 0,
      memberCounts: () => {
        const c: Record<MemberStatus, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
        for (const m of this.#core?.members() ?? []) c[m.status]++;
        return c;
      },
    }, opts.metrics);
    this.#stream = new SwimStreamSide({
      id: this.id,
      cfg: this.#cfg,
      rpc: opts.rpc,
      metrics: this.metrics,
      log: this.#log,
      pushPullDeadlineMs: opts.pushPullDeadlineMs ?? 5000,
      core: () => this.#stopped ? undefined : this.#core,
      pump: () => this.#pump(),
      sendPayload: (addr, to, type, payload) => this.#sendRaw(addr, to, type, payload),
      maxPayload: () => this.#maxPayload,
    });
  }

  /** Our gossip address (`host:port`), once started. */
  get addr(): string {
    return this.#addr;
  }

  /** Our incarnation number. */
  get incarnation(): number {
    return this.#core?.incarnation ?? 0;
  }

  /** Lifeguard local health score (0 = healthy). */
  get health(): number {
    return this.#core?.health ?? 0;
  }

  /** True once a join succeeded (or none was needed). */
  get joined(): boolean {
    return this.#core?.joined ?? false;
  }

  /** Binds the gossip socket and starts probing; resolves with the gossip address. */
  async start(): Promise<string> {
    if (this.#core) return this.#addr;
    if (this.#stopped) throw new ElasticoreError("swim_stopped", "the SWIM node was stopped");
    const o = this.#opts;
    const hostname = o.hostname ?? "127.0.0.1";
    if (o.advertise === undefined && (hostname === "0.0.0.0" || hostname === "::")) {
      throw new ElasticoreError(
        "swim_no_advertise",
        `gossip binds the wildcard address ${hostname}; other members cannot send to it`,
        { hint: "set addresses.advertise to an address the other nodes can reach" },
      );
    }
    const maxBytes = Math.min(MAX_UDP_PAYLOAD, this.#cfg.maxDatagramBytes + DATAGRAM_HEADROOM);
    let dgram: DatagramTransport;
    try {
      dgram = await DatagramTransport.listen({
        nodeId: this.id,
        keys: o.keys,
        cluster: o.cluster,
        hostname,
        port: o.gossipPort ?? 0,
        maxDatagramBytes: maxBytes,
        faults: o.faults,
      });
    } catch (e) {
      if (e instanceof ElasticoreError) throw e;
      throw new ElasticoreError(
        "swim_bind_failed",
        `cannot bind the gossip socket ${formatAddr(hostname, o.gossipPort ?? 0)}: ${
          e instanceof Error ? e.message : String(e)
        }`,
        { hint: "choose a free addresses.gossip_port or stop the process that holds it" },
      );
    }
    if (this.#core || this.#stopped) {
      dgram.close();
      throw new ElasticoreError("swim_bad_state", "start() called twice at once, or stopped");
    }
    this.#dgram = dgram;
    this.#overhead = DATAGRAM_HEADER_BYTES + DATAGRAM_TAG_BYTES + 1 +
      new TextEncoder().encode(this.id).length;
    this.#maxPayload = dgram.codec.maxPayloadBytes(this.id);
    const advertise = o.advertise ?? hostname;
    this.#addr = formatAddr(advertise, dgram.addr.port);
    const now = swimClock();
    this.#core = new SwimCore({
      self: { id: this.id, addr: this.#addr, meta: o.meta ?? {} },
      config: this.#cfg,
      rng: o.random ?? mathRandom,
      now,
    });
    dgram.onDatagram((d) => this.#onDatagram(d));
    this.#core.start(now);
    this.#pump();
    this.#log.info("SWIM node {id} gossiping on {addr}", { id: this.id, addr: this.#addr });
    return this.#addr;
  }

  /**
   * Joins through `seeds` (gossip addresses). Resolves once one seed
   * answered a push/pull; rejects with `swim_join_failed` when the core gives
   * up (`joinMaxAttempts`) or after `timeoutMs`. The core keeps retrying in
   * the background until it succeeds or gives up, whatever the timeout.
   */
  join(seeds: readonly string[], opts: { timeoutMs?: number } = {}): Promise<void> {
    let core: SwimCore;
    try {
      core = this.#started();
      for (const s of seeds) parseAddr(s, "seed");
    } catch (e) {
      return Promise.reject(e);
    }
    core.join(seeds, swimClock());
    this.#pump();
    if (core.joined) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const w: Waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#joinWaiters.push(w);
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#joinWaiters = this.#joinWaiters.filter((x) => x !== w);
          reject(
            new ElasticoreError(
              "swim_join_failed",
              `no seed of ${seeds.join(", ")} answered within ${opts.timeoutMs} ms`,
              { hint: "check swim.seeds, the gossip keyring and the cluster label" },
            ),
          );
        }, opts.timeoutMs);
      }
    });
  }

  /**
   * Leaves gracefully: gossips "left" and waits until the update has been
   * sent its retransmission count, or `timeoutMs` (default 10 gossip
   * intervals). Call {@link stop} afterwards.
   */
  async leave(timeoutMs = 10 * this.#cfg.gossipIntervalMs): Promise<void> {
    const core = this.#started();
    core.leave(swimClock());
    this.#lastInc = core.incarnation;
    this.#pump();
    const end = performance.now() + timeoutMs;
    while (core.queuedBroadcasts > 0 && performance.now() < end && !this.#stopped) {
      await new Promise((r) => setTimeout(r, Math.min(50, this.#cfg.gossipIntervalMs)));
    }
  }

  /** Replaces our metadata and gossips it (with a higher incarnation). */
  updateMeta(meta: MemberMeta): void {
    const core = this.#started();
    core.updateMeta(meta, swimClock());
    this.#lastInc = core.incarnation;
    this.#pump();
  }

  /** Every known member, the local node and tombstones included, sorted by id. */
  members(): MemberView[] {
    const all = this.#core?.members() ?? [];
    return all.map((m) => ({
      id: m.id,
      state: m.status,
      incarnation: m.inc,
      addr: m.addr,
      meta: m.meta,
    })).sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  /** Counters now (probes, acks, suspicions, deaths, refutations, bytes, health). */
  stats(): SwimStats {
    return this.metrics.snapshot();
  }

  /** Stops at once: no more datagrams, timers or events (peers will find us dead). */
  stop(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dgram?.close();
    this.events.closeAll();
    const err = new ElasticoreError("swim_stopped", "the SWIM node was stopped");
    for (const w of this.#joinWaiters.splice(0)) w.reject(err);
    this.#stream.close();
    return Promise.resolve();
  }

  #started(): SwimCore {
    if (this.#stopped) throw new ElasticoreError("swim_stopped", "the SWIM node was stopped");
    if (!this.#core) {
      throw new ElasticoreError("swim_not_started", "the SWIM node is not started", {
        hint: "call start() first",
      });
    }
    return this.#core;
  }

  /** Performs every effect the core produced. */
  #pump(): void {
    const core = this.#core;
    if (!core || this.#stopped) return;
    for (const e of core.drain()) {
      switch (e.type) {
        case "send":
          this.#send(e);
          break;
        case "wake":
          this.#arm(e.at);
          break;
        case "event":
          this.metrics.event(e.event.kind);
          this.events.emit(e.event);
          break;
        case "push_pull":
          void this.#stream.pushPull(e);
          break;
        case "stream_ping":
          void this.#stream.streamPing(e);
          break;
        case "join_failed": {
          const err = new ElasticoreError(
            "swim_join_failed",
            `no seed answered after ${e.attempts} attempts`,
            { hint: "check swim.seeds, the gossip keyring and the cluster label" },
          );
          for (const w of this.#joinWaiters.splice(0)) w.reject(err);
          break;
        }
      }
    }
    if (core.incarnation > this.#lastInc) {
      this.#lastInc = core.incarnation;
      this.metrics.refuted();
      this.#log.info("refuted a suspicion of ourselves: incarnation {inc}", {
        inc: core.incarnation,
      });
    }
    if (core.joined && this.#joinWaiters.length > 0) {
      for (const w of this.#joinWaiters.splice(0)) w.resolve();
    }
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped || !this.#core) return;
      this.#core.tick(swimClock());
      this.#pump();
    }, Math.max(0, Math.ceil(at - swimClock())));
  }

  #send(e: SendEffect): void {
    let payload: Uint8Array;
    try {
      payload = encodeDatagram(e.msg, this.#maxPayload);
    } catch (err) {
      this.metrics.dropped("too_large");
      this.#log.warn("{type} to {addr} not sent: {error}", {
        type: e.msg.type,
        addr: e.addr,
        error: String(err),
      });
      return;
    }
    this.#sendRaw(e.addr, e.to, e.msg.type, payload);
  }

  #sendRaw(addr: string, to: string | undefined, type: string, payload: Uint8Array): void {
    const dgram = this.#dgram;
    if (!dgram) return;
    let dest;
    try {
      dest = parseAddr(addr, "gossip address");
    } catch {
      this.metrics.dropped("bad_address");
      return;
    }
    this.metrics.sent(type, payload.byteLength + this.#overhead);
    dgram.send(dest, payload, to ?? addr).catch((err) => {
      this.#log.warn("{type} to {addr} not sent: {error}", { type, addr, error: String(err) });
    });
  }

  #onDatagram(d: GossipDatagram): void {
    const core = this.#core;
    if (!core || this.#stopped) return;
    // Node ids are ASCII (NODE_ID_PATTERN), so their length is their byte count.
    this.metrics.received(
      d.payload.byteLength + DATAGRAM_HEADER_BYTES + DATAGRAM_TAG_BYTES + 1 + d.from.length,
    );
    const msg = decodeDatagram(d.payload, this.#maxPayload + this.#overhead);
    if (!msg.ok) return this.metrics.dropped(msg.reason);
    if (msg.body.from !== d.from) return this.metrics.dropped("sender_mismatch");
    const fromAddr = formatAddr(d.addr.hostname, d.addr.port);
    if (msg.type === "swim.ping" && msg.body.target === "") {
      return this.#stream.answerDiscovery(fromAddr, d.from, msg.body.seq);
    }
    if (msg.type === "swim.ack" && this.#stream.isDiscoverySeq(msg.body.seq)) {
      return this.#stream.onDiscoveryAck(d.from, msg.body);
    }
    const err = core.receiveUnknown(fromAddr, msg.type, msg.body, swimClock());
    if (err) {
      this.metrics.dropped("bad_message");
      this.#log.debug("datagram from {from} refused: {error}", {
        from: d.from,
        error: err.message,
      });
    } else {
      this.metrics.accepted(msg.type);
    }
    this.#pump();
  }
}

/**
 * The options of the node described by a loaded configuration: id, bind and
 * advertised addresses, gossip port, cluster label, the `[swim]` section,
 * the keyring file's keys and the gossiped metadata (roles, RPC and API
 * addresses, version). `rpc` must already carry `swimRpcMessages`.
 */
export async function swimNodeOptionsFromConfig(
  config: Config,
  deps: { rpc: Rpc; metrics?: MetricsRegistry; faults?: FaultInjector },
): Promise<SwimNodeOptions> {
  const a = config.addresses;
  const host = a.advertise ?? a.bind;
  const ring = await readKeyringFile(config.security.gossip_keyring_file);
  return {
    id: config.node.id,
    config: swimConfigFromSection(config.swim),
    rpc: deps.rpc,
    keys: ring.keys,
    cluster: config.security.cluster_label,
    hostname: a.bind,
    advertise: a.advertise,
    gossipPort: a.gossip_port,
    meta: nodeMeta({
      roles: config.node.roles,
      rpc: formatAddr(host, a.rpc_port),
      api: formatAddr(host, a.api_port),
      version: VERSION,
    }),
    metrics: deps.metrics,
    faults: deps.faults,
  };
}
