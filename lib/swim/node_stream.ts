/**
 * The stream-transport half of the SWIM shell: push/pull (active and
 * passive), the stream fallback ping (both sides) and seed discovery (see
 * node_wire.ts), over the node's shared RPC layer. `SwimNode` (node.ts)
 * owns the datagram socket, the timer and the core; this class reaches them
 * through a {@link ShellContext}.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Ack, AliveUpdate, Ping, PushPull } from "../../proto/swim.ts";
import { ElasticoreError } from "../errors.ts";
import type { Rpc } from "../transport/rpc.ts";
import type { SwimConfig } from "./config.ts";
import type { SwimCore } from "./core.ts";
import type { SwimMetrics } from "./node_metrics.ts";
import {
  DISCOVERY_SEQ_BASE,
  encodeDatagram,
  formatAddr,
  parseAddr,
  PUSH_PULL_RPC,
  seedFromAck,
  type SeedIdentity,
  STREAM_PING_RPC,
  swimClock,
} from "./node_wire.ts";
import type { PushPullEffect, StreamPingEffect } from "./types.ts";

/** Added to an RPC call's deadline beyond its abort-signal bound (above the reconnect backoff). */
const CALL_DEADLINE_SLACK_MS = 30_000;
/** Interval between discovery pings to one seed. */
const DISCOVERY_RESEND_MS = 250;

/** What the stream half needs from the shell. */
export interface ShellContext {
  /** Our node id. */
  readonly id: string;
  /** Protocol configuration. */
  readonly cfg: SwimConfig;
  /** The shared RPC layer. */
  readonly rpc: Rpc;
  /** Metrics. */
  readonly metrics: SwimMetrics;
  /** Logger. */
  readonly log: Logger;
  /** Deadline of a push/pull exchange in ms. */
  readonly pushPullDeadlineMs: number;
  /** The running core (undefined before start or after stop). */
  core(): SwimCore | undefined;
  /** Performs the core's pending effects. */
  pump(): void;
  /** Sends an encoded datagram payload of SWIM type `type` to `addr` (node `to`). */
  sendPayload(addr: string, to: string | undefined, type: string, payload: Uint8Array): void;
  /** Largest datagram payload. */
  maxPayload(): number;
}

/** Push/pull, stream pings and seed discovery for one node. */
export class SwimStreamSide {
  readonly #x: ShellContext;
  #discoverySeq = DISCOVERY_SEQ_BASE;
  readonly #discovery = new Map<
    number,
    { resolve: (s: SeedIdentity) => void; reject: (e: Error) => void }
  >();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  /** Registers the RPC handlers; throws `swim_rpc_unregistered` if the registry lacks them. */
  constructor(x: ShellContext) {
    this.#x = x;
    try {
      // The RPC layer validated both bodies against swimRpcMessages before calling.
      x.rpc.handle(PUSH_PULL_RPC, (body, ctx) => this.#servePushPull(body as PushPull, ctx.peer));
      x.rpc.handle(STREAM_PING_RPC, (body) => this.#serveStreamPing(body as Ping));
    } catch (e) {
      throw new ElasticoreError(
        "swim_rpc_unregistered",
        `the RPC registry lacks the SWIM messages: ${e instanceof Error ? e.message : String(e)}`,
        { hint: "register swimRpcMessages (lib/swim/node_wire.ts) in the node's MessageRegistry" },
      );
    }
  }

  /** Forgets pending discoveries (the node stopped). */
  close(): void {
    const err = new ElasticoreError("swim_stopped", "the SWIM node was stopped");
    for (const d of this.#discovery.values()) d.reject(err);
    this.#discovery.clear();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  /** Whether `seq` belongs to a discovery ping (its ack is ours, not the core's). */
  isDiscoverySeq(seq: unknown): boolean {
    return typeof seq === "number" && seq >= DISCOVERY_SEQ_BASE;
  }

  /** A discovery ack arrived from `from`. */
  onDiscoveryAck(from: string, body: Record<string, unknown>): void {
    const seed = seedFromAck(from, body);
    const waiter = this.#discovery.get(body.seq as number);
    if (seed && waiter) waiter.resolve(seed);
  }

  /** A discovery ping arrived: answer with our own alive update (see node_wire.ts). */
  answerDiscovery(fromAddr: string, from: string, seq: unknown): void {
    const x = this.#x;
    const self = x.core()?.member(x.id);
    if (!self || self.status !== "alive" || typeof seq !== "number") return;
    const alive: AliveUpdate = {
      t: "alive",
      id: self.id,
      inc: self.inc,
      addr: self.addr,
      meta: self.meta,
    };
    const ack: Ack = { seq, from: x.id, gossip: [alive] };
    try {
      const payload = encodeDatagram({ type: "swim.ack", body: ack }, x.maxPayload());
      x.sendPayload(fromAddr, from, "swim.ack", payload);
    } catch (err) {
      x.log.warn("discovery answer to {addr} not sent: {error}", {
        addr: fromAddr,
        error: String(err),
      });
    }
  }

  /** Learns the node id and RPC address behind a seed's gossip address. */
  async #discover(addr: string): Promise<SeedIdentity> {
    const x = this.#x;
    const seq = this.#discoverySeq++;
    const ping: Ping = { seq, from: x.id, target: "" };
    const payload = encodeDatagram({ type: "swim.ping", body: ping }, x.maxPayload());
    const wait = Math.max(DISCOVERY_RESEND_MS, x.cfg.joinRetryMs);
    try {
      return await new Promise<SeedIdentity>((resolve, reject) => {
        const started = performance.now();
        const resend = () => {
          if (!this.#discovery.has(seq)) return;
          if (performance.now() - started >= wait || !x.core()) {
            this.#discovery.delete(seq);
            reject(new ElasticoreError("swim_seed_silent", `seed ${addr} did not answer`));
            return;
          }
          x.sendPayload(addr, undefined, "swim.ping", payload);
          const t = setTimeout(() => {
            this.#timers.delete(t);
            resend();
          }, DISCOVERY_RESEND_MS);
          this.#timers.add(t);
        };
        this.#discovery.set(seq, { resolve, reject });
        resend();
      });
    } finally {
      this.#discovery.delete(seq);
    }
  }

  /** Runs the active side of a push/pull (a join when the peer is a seed). */
  async pushPull(e: PushPullEffect): Promise<void> {
    const x = this.#x;
    try {
      let peer = e.to;
      let rpcAddr: string | undefined;
      if (peer === undefined) {
        const seed = await this.#discover(e.addr);
        peer = seed.id;
        rpcAddr = formatAddr(seed.rpc.hostname, seed.rpc.port);
      } else {
        const meta = x.core()?.member(peer)?.meta.rpc;
        rpcAddr = typeof meta === "string" ? meta : undefined;
      }
      if (peer === x.id) return;
      if (rpcAddr === undefined) {
        throw new ElasticoreError("swim_no_rpc_address", `member ${peer} gossips no rpc address`);
      }
      x.rpc.addPeer(peer, parseAddr(rpcAddr, `rpc address of ${peer}`));
      const remote = await this.#call<PushPull>(peer, PUSH_PULL_RPC, e.state, x.pushPullDeadlineMs);
      const core = x.core();
      if (!core) return;
      if (remote.from !== peer) {
        throw new ElasticoreError(
          "swim_bad_peer",
          `push/pull answer from ${peer} names ${remote.from}`,
        );
      }
      core.mergeRemoteState(remote, swimClock());
      x.metrics.pushPull("active", "ok");
      x.pump();
    } catch (err) {
      x.metrics.pushPull("active", "failed");
      x.log.debug("push/pull with {addr} failed: {error}", { addr: e.addr, error: String(err) });
    }
  }

  /** Runs a stream fallback ping and reports an answer to the core. */
  async streamPing(e: StreamPingEffect): Promise<void> {
    const x = this.#x;
    const rpcAddr = x.core()?.member(e.to)?.meta.rpc;
    if (typeof rpcAddr !== "string") return;
    try {
      x.rpc.addPeer(e.to, parseAddr(rpcAddr, `rpc address of ${e.to}`));
      const ack = await this.#call<Ack>(
        e.to,
        STREAM_PING_RPC,
        e.ping,
        Math.max(1, x.cfg.probeIntervalMs - x.cfg.probeTimeoutMs),
      );
      const core = x.core();
      if (!core || ack.seq !== e.ping.seq || ack.from !== e.to) return;
      x.metrics.streamPing("ack");
      core.streamAck(e.ping.seq, swimClock());
      x.pump();
    } catch (err) {
      x.metrics.streamPing("failed");
      x.log.debug("stream ping to {to} failed: {error}", { to: e.to, error: String(err) });
    }
  }

  /**
   * An RPC call bounded by `ms`. The bound is enforced with an abort signal
   * while the call's own deadline is kept well beyond it: the RPC client
   * leaves a failed dial unobserved (an unhandled rejection) when a call's
   * deadline is already spent as its dial starts, which a short deadline
   * racing the reconnect backoff can hit.
   */
  async #call<R>(peer: string, type: string, body: unknown, ms: number): Promise<R> {
    const ac = new AbortController();
    const timer = setTimeout(
      () =>
        ac.abort(new ElasticoreError("swim_rpc_timeout", `${type} to ${peer} took over ${ms} ms`)),
      ms,
    );
    try {
      return await this.#x.rpc.call<R>(peer, type, body, {
        deadlineMs: ms + CALL_DEADLINE_SLACK_MS,
        signal: ac.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  #running(): SwimCore {
    const core = this.#x.core();
    if (!core) throw new ElasticoreError("swim_not_running", "the SWIM node is not running");
    return core;
  }

  #servePushPull(remote: PushPull, peer: string): PushPull {
    const x = this.#x;
    const core = this.#running();
    if (remote.from !== peer) {
      x.metrics.pushPull("passive", "failed");
      throw new ElasticoreError(
        "swim_bad_peer",
        `push/pull from ${peer} claims to be ${remote.from}`,
      );
    }
    const local = core.handlePushPull(remote, swimClock());
    x.metrics.pushPull("passive", "ok");
    x.pump();
    return local;
  }

  #serveStreamPing(ping: Ping): Ack {
    const ack = this.#running().answerStreamPing(ping);
    if (!ack) {
      throw new ElasticoreError(
        "swim_wrong_target",
        `ping for ${ping.target} reached ${this.#x.id}`,
      );
    }
    return ack;
  }
}
