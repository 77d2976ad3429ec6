/**
 * The RPC layer over a {@link Transport}: typed request/response with ids,
 * deadlines that travel to the server, cancellation, one-way messages and
 * bulk streams with credit-based flow control; per-peer connection reuse
 * and reconnection with exponential backoff; a fault-injection hook.
 *
 * ```ts
 * rpc.handle("kv.get", async (body, ctx) => ({ value: lookup(body) }));
 * const reply = await rpc.call("m2", "kv.get", { key: "a" }, { deadlineMs: 500 });
 * await rpc.notify("m2", "swim.gossip", { ... });
 * const s = await rpc.openStream("m2", "dfs.put", { path: "/a" });
 * await someBytes.pipeTo(s.writable); const done = await s.result;
 * ```
 *
 * Replies to type `T` have type `T.reply` (both registered in the registry).
 *
 * @module
 */
import type { MessageRegistry } from "../../proto/codec.ts";
import { DEFAULT_STREAM_WINDOW } from "./bulk.ts";
import { ensureTransportMessages } from "./common.ts";
import { TransportError } from "./errors.ts";
import { FaultInjector } from "./faults.ts";
import { defaultTransportLogger, type TransportLogger, type TransportMetrics } from "./metrics.ts";
import { PeerClient } from "./rpc_client.ts";
import { ServerSession } from "./rpc_server.ts";
import type {
  CallOptions,
  OpenStream,
  RequestHandler,
  RpcCore,
  StreamHandler,
} from "./rpc_types.ts";
import type { Conn, PeerAddress, Transport } from "./types.ts";

export type {
  CallOptions,
  HandlerContext,
  OpenStream,
  RequestHandler,
  StreamHandler,
} from "./rpc_types.ts";

/** Options of {@link Rpc}. */
export interface RpcOptions {
  /** The stream transport (TLS or QUIC). */
  transport: Transport;
  /** The registry the transport validates frames with. */
  registry: MessageRegistry;
  /** Fault injector (a fresh, inactive one by default). */
  faults?: FaultInjector;
  /** Logger (default: logtape category elasticore/transport). */
  logger?: TransportLogger;
  /** Known peers and their addresses. */
  peers?: Record<string, PeerAddress>;
  /** Deadline of calls that set none (default 30 s). */
  defaultDeadlineMs?: number;
  /** First reconnect delay (default 50 ms); doubles per failure. */
  backoffBaseMs?: number;
  /** Largest reconnect delay (default 5 s). */
  backoffMaxMs?: number;
  /** Requests served at once per connection before reading pauses (default 1024). */
  maxInflightPerConn?: number;
  /** Flow-control window of bulk streams per direction (default 1 MiB). */
  streamWindowBytes?: number;
  /** QUIC only: one QUIC stream per request instead of the multiplexed control stream. */
  streamPerRpc?: boolean;
  /** Random source for backoff jitter (default `Math.random`). */
  random?: () => number;
}

/** See the module documentation. */
export class Rpc {
  /** The fault-injection hook: `rpc.faults.set(peer, {...})`, `rpc.faults.clear()`. */
  readonly faults: FaultInjector;
  /** Counters of the transport and this layer. */
  readonly metrics: TransportMetrics;
  readonly #core: RpcCore;
  readonly #clients = new Map<string, PeerClient>();
  #closed = false;

  /** Creates the layer; call {@link start} to accept connections. */
  constructor(opts: RpcOptions) {
    ensureTransportMessages(opts.registry);
    this.faults = opts.faults ?? new FaultInjector();
    this.metrics = opts.transport.metrics;
    this.#core = {
      transport: opts.transport,
      registry: opts.registry,
      faults: this.faults,
      metrics: opts.transport.metrics,
      logger: opts.logger ?? defaultTransportLogger(),
      handlers: new Map(),
      streamHandlers: new Map(),
      defaultDeadlineMs: opts.defaultDeadlineMs ?? 30_000,
      backoffBaseMs: opts.backoffBaseMs ?? 50,
      backoffMaxMs: opts.backoffMaxMs ?? 5_000,
      maxInflightPerConn: opts.maxInflightPerConn ?? 1024,
      streamWindowBytes: opts.streamWindowBytes ?? DEFAULT_STREAM_WINDOW,
      streamPerRpc: opts.streamPerRpc ?? false,
      random: opts.random ?? Math.random,
    };
    for (const [id, addr] of Object.entries(opts.peers ?? {})) this.addPeer(id, addr);
    this.#core.handlers.set("transport.ping", (body) => body);
  }

  /** This node's id. */
  get nodeId(): string {
    return this.#core.transport.nodeId;
  }

  /** Starts accepting connections; resolves with the bound address. */
  start(): Promise<PeerAddress> {
    return this.#core.transport.listen((conn: Conn) => {
      if (this.#closed) {
        conn.close();
        return;
      }
      // The session installs itself as the connection's handler.
      new ServerSession(this.#core, conn);
    });
  }

  /** Adds or updates a peer's address. */
  addPeer(peerId: string, addr: PeerAddress): void {
    const c = this.#clients.get(peerId);
    if (c) c.addr = addr;
    else this.#clients.set(peerId, new PeerClient(this.#core, peerId, addr));
  }

  /** Forgets a peer: its connection closes and calls in flight fail. */
  removePeer(peerId: string): void {
    this.#clients.get(peerId)?.close();
    this.#clients.delete(peerId);
  }

  /** Whether a connection to `peerId` is up. */
  isConnected(peerId: string): boolean {
    return this.#clients.get(peerId)?.connected ?? false;
  }

  /** Registers the handler of requests and one-way messages of `type`. */
  handle(type: string, handler: RequestHandler): void {
    this.#checkType(type);
    this.#core.handlers.set(type, handler);
  }

  /** Registers the handler of bulk streams of `type` (its metadata schema is `type`'s). */
  handleStream(type: string, handler: StreamHandler): void {
    this.#checkType(type);
    this.#core.streamHandlers.set(type, handler);
  }

  #checkType(type: string): void {
    if (!this.#core.registry.get(type)) {
      throw new TransportError("protocol_error", `message type ${type} is not registered`);
    }
  }

  /** Calls `type` on `peer`; resolves with the reply body or fails with a {@link TransportError}. */
  call<R = unknown>(
    peer: string,
    type: string,
    body: unknown,
    opts?: CallOptions,
  ): Promise<R> {
    let client: PeerClient;
    try {
      client = this.#client(peer);
    } catch (e) {
      return Promise.reject(e);
    }
    return client.call(type, body, opts) as Promise<R>;
  }

  /** Sends a one-way message; resolves once it is queued (waits while the queue is full). */
  async notify(peer: string, type: string, body: unknown, opts?: CallOptions): Promise<void> {
    await this.#client(peer).notify(type, body, opts);
  }

  /** Opens a bulk stream to `peer`'s handler of `type`. */
  async openStream(
    peer: string,
    type: string,
    meta: unknown,
    opts?: CallOptions,
  ): Promise<OpenStream> {
    return await this.#client(peer).openStream(type, meta, opts);
  }

  #client(peer: string): PeerClient {
    if (this.#closed) throw new TransportError("closed", "RPC layer is closed");
    let c = this.#clients.get(peer);
    if (!c) {
      c = new PeerClient(this.#core, peer);
      this.#clients.set(peer, c);
    }
    return c;
  }

  /** Closes every connection and the transport. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
    await this.#core.transport.close();
  }
}
