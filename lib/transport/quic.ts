/**
 * The QUIC transport (`Deno.QuicEndpoint`, `Deno.connectQuic`).
 *
 * A connection carries a control stream (the first bidirectional stream the
 * client opens), which holds the client-authentication handshake
 * (`quic_auth.ts`) and then every ordinary request, reply and one-way
 * message, multiplexed by id and written in batches. A request sent with
 * `dedicated: true` (bulk streams, or every request when the RPC layer asks
 * for stream-per-RPC) gets a QUIC stream of its own: all later frames with
 * its id travel on it, and each side finishes its direction after the final
 * reply. One connection per peer is reused for everything.
 *
 * @module
 */
import { type Envelope, FrameKind } from "../../proto/codec.ts";
import {
  type AuthChallengeMsg,
  type AuthHelloMsg,
  type AuthProofMsg,
  TRANSPORT_ALPN,
} from "../../proto/transport.ts";
import { type ChannelHandlers, FrameChannel } from "./channel.ts";
import {
  formatAddr,
  HandlerSlot,
  type ResolvedOptions,
  resolveOptions,
  withTimeout,
} from "./common.ts";
import { errorMessage, TransportError } from "./errors.ts";
import { webStreamDuplex } from "./io.ts";
import { bump, type TransportMetrics } from "./metrics.ts";
import {
  AuthError,
  authTranscript,
  importSigningKey,
  signTranscript,
  verifyClientCertificate,
  verifyProof,
} from "./quic_auth.ts";
import { nodeServerName } from "./tls.ts";
import type {
  Conn,
  ConnHandlers,
  OutEnvelope,
  PeerAddress,
  SendOptions,
  Transport,
  TransportOptions,
} from "./types.ts";

const MAX_STREAMS = 4096;

/** Congestion controller of every connection (cluster links are short and fat). */
const CONGESTION_CONTROL = "throughput";

interface Lane {
  ch: FrameChannel | null;
  ready: Promise<FrameChannel>;
}

class QuicPeerConn implements Conn {
  readonly kind = "quic" as const;
  readonly peerId: string;
  readonly remoteAddr: string;
  readonly initiator: boolean;
  readonly #quic: Deno.QuicConn;
  readonly #control: FrameChannel;
  readonly #slot: HandlerSlot;
  readonly #lanes = new Map<number, Lane>();
  readonly #t: QuicTransport;
  #closed = false;

  constructor(
    t: QuicTransport,
    quic: Deno.QuicConn,
    control: FrameChannel,
    slot: HandlerSlot,
    p: { peerId: string; initiator: boolean },
  ) {
    this.#t = t;
    this.#quic = quic;
    this.#control = control;
    this.#slot = slot;
    this.peerId = p.peerId;
    this.initiator = p.initiator;
    this.remoteAddr = formatAddr(quic.remoteAddr.hostname, quic.remoteAddr.port);
    quic.closed.then(
      (info) => this.close(new Error(`QUIC connection closed: ${info.reason || info.closeCode}`)),
      (e) => this.close(e instanceof Error ? e : new Error(String(e))),
    );
  }

  get closed(): boolean {
    return this.#closed;
  }

  setHandlers(h: ConnHandlers): void {
    this.#slot.set(h);
  }

  send(env: OutEnvelope, opts?: SendOptions): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new TransportError("peer_unavailable", `connection to ${this.peerId} is closed`),
      );
    }
    let lane = env.id !== 0 ? this.#lanes.get(env.id) : undefined;
    if (!lane && opts?.dedicated && this.initiator && env.kind === FrameKind.Request) {
      lane = this.#openLane(env.id);
    }
    if (!lane) return this.#control.send(env);
    const final = !this.initiator &&
      (env.kind === FrameKind.Response || env.kind === FrameKind.Error);
    const l = lane;
    const write = (ch: FrameChannel) => {
      const p = ch.send(env);
      if (final) {
        this.#lanes.delete(env.id);
        p.then(() => ch.end(), () => {});
      }
      return p;
    };
    return l.ch ? write(l.ch) : l.ready.then(write);
  }

  #openLane(id: number): Lane {
    const lane: Lane = {
      ch: null,
      ready: this.#quic.createBidirectionalStream({ waitUntilAvailable: true }).then((bs) => {
        const ch = this.#t.channel(bs, `quic ${this.#t.nodeId}->${this.peerId} #${id}`);
        ch.start(this.#laneHandlers(ch, id));
        lane.ch = ch;
        return ch;
      }, (e) => {
        this.#lanes.delete(id);
        throw new TransportError(
          "peer_unavailable",
          `cannot open a QUIC stream: ${errorMessage(e)}`,
        );
      }),
    };
    this.#lanes.set(id, lane);
    return lane;
  }

  /** Serves a stream the client opened for one request. */
  acceptLane(bs: Deno.QuicBidirectionalStream): void {
    if (this.#closed) return;
    const ch = this.#t.channel(bs, `quic ${this.peerId}->${this.#t.nodeId} lane`);
    ch.start(this.#laneHandlers(ch, undefined));
  }

  #laneHandlers(ch: FrameChannel, openerId: number | undefined): ChannelHandlers {
    let id = openerId;
    return {
      onEnvelope: (env) => {
        if (id === undefined) {
          // The first frame of a lane the peer opened: its request.
          if (env.kind !== FrameKind.Request || env.id === 0 || this.#lanes.has(env.id)) {
            ch.close(new TransportError("protocol_error", "a lane must start with a new request"));
            return;
          }
          id = env.id;
          this.#lanes.set(id, { ch, ready: Promise.resolve(ch) });
        } else if (env.id !== id) {
          return;
        }
        if (this.initiator && (env.kind === FrameKind.Response || env.kind === FrameKind.Error)) {
          this.#lanes.delete(id);
          ch.end().catch(() => {});
        }
        this.#slot.envelope(env);
      },
      onClose: () => {
        if (id !== undefined && this.#lanes.get(id)?.ch === ch) this.#lanes.delete(id);
      },
      onRemoteEnd: () => {},
      onRejected: (payload, error) => this.#slot.rejected(payload, error),
    };
  }

  pauseReading(): void {
    this.#control.pause();
  }

  resumeReading(): void {
    this.#control.resume();
  }

  close(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const lane of this.#lanes.values()) lane.ch?.close(err);
    this.#lanes.clear();
    this.#control.close(err);
    try {
      this.#quic.close({ closeCode: 0, reason: err ? err.message.slice(0, 100) : "closed" });
    } catch {
      // already closed
    }
    this.#t.forget(this);
    this.#slot.close(err);
  }
}

/** See the module documentation. */
export class QuicTransport implements Transport {
  readonly kind = "quic" as const;
  readonly nodeId: string;
  readonly metrics: TransportMetrics;
  readonly #o: ResolvedOptions;
  #endpoint: Deno.QuicEndpoint | null = null;
  #listener: Deno.QuicListener | null = null;
  #clientEndpoint: Deno.QuicEndpoint | null = null;
  #signingKey: Promise<CryptoKey> | null = null;
  readonly #conns = new Set<QuicPeerConn>();
  #closed = false;

  /** Creates the transport; nothing listens until {@link listen}. */
  constructor(opts: TransportOptions) {
    this.#o = resolveOptions(opts);
    this.nodeId = opts.identity.nodeId;
    this.metrics = this.#o.metrics;
  }

  /** A frame channel over a QUIC stream, with this transport's limits. */
  channel(bs: Deno.QuicBidirectionalStream, label: string): FrameChannel {
    const o = this.#o;
    return new FrameChannel(webStreamDuplex(bs.readable, bs.writable), {
      registry: o.registry,
      maxFrameBytes: o.maxFrameBytes,
      queueFrames: o.queueFrames,
      queueBytes: o.queueBytes,
      metrics: this.metrics,
      logger: o.logger,
      label,
    });
  }

  /** Drops a closed connection from the set. */
  forget(c: QuicPeerConn): void {
    if (this.#conns.delete(c)) this.metrics.connectionsClosed++;
  }

  listen(onConn: (conn: Conn) => void): Promise<PeerAddress> {
    const o = this.#o;
    const endpoint = new Deno.QuicEndpoint({ hostname: o.hostname, port: o.port });
    const listener = endpoint.listen({
      alpnProtocols: [TRANSPORT_ALPN],
      cert: o.identity.certPem,
      key: o.identity.keyPem,
      maxConcurrentBidirectionalStreams: MAX_STREAMS,
    });
    this.#endpoint = endpoint;
    this.#listener = listener;
    (async () => {
      for await (const incoming of listener) {
        this.#accepted(incoming).then((c) => c && onConn(c));
      }
    })().catch((e) => {
      if (!this.#closed) {
        o.logger.error("QUIC listener failed: {error}", { error: errorMessage(e) });
      }
    });
    return Promise.resolve({ hostname: endpoint.addr.hostname, port: endpoint.addr.port });
  }

  async #accepted(incoming: Deno.QuicIncoming): Promise<QuicPeerConn | null> {
    const o = this.#o;
    // Deno 2.9.6: QuicIncoming.remoteAddr throws BadResource, so the address is read after accept.
    let remote = "?";
    let quic: Deno.QuicConn | null = null;
    const fail = (reason: string, detail: string) => {
      bump(this.metrics.handshakeFailures, reason);
      o.logger.warn("rejected QUIC connection from {remote}: {reason} ({error})", {
        remote,
        reason,
        error: detail,
      });
      try {
        quic?.close({ closeCode: 1, reason: `authentication failed: ${reason}` });
      } catch {
        // already closed
      }
      return null;
    };
    try {
      quic = await withTimeout(
        incoming.accept<false>({
          maxConcurrentBidirectionalStreams: MAX_STREAMS,
          congestionControl: CONGESTION_CONTROL,
        }),
        o.connectTimeoutMs,
        () => new Error("QUIC handshake timed out"),
      );
    } catch (e) {
      return fail("tls_error", errorMessage(e));
    }
    const q = quic;
    remote = formatAddr(q.remoteAddr.hostname, q.remoteAddr.port);
    const streams = q.incomingBidirectionalStreams.getReader();
    try {
      const first = await withTimeout(
        streams.read(),
        o.connectTimeoutMs,
        () => new AuthError("bad_certificate", "no authentication stream"),
      );
      if (first.done) return fail("no_auth", "connection closed before authentication");
      const control = this.channel(first.value, `quic ? -> ${this.nodeId}`);
      const slot = new HandlerSlot();
      const peerId = await withTimeout(
        this.#serverAuth(control, slot),
        o.connectTimeoutMs,
        () => new AuthError("bad_certificate", "authentication timed out"),
      );
      const conn = new QuicPeerConn(this, q, control, slot, { peerId, initiator: false });
      this.#adopt(conn, control, slot);
      (async () => {
        for (;;) {
          const r = await streams.read();
          if (r.done) break;
          conn.acceptLane(r.value);
        }
      })().catch(() => conn.close());
      return conn;
    } catch (e) {
      return fail(e instanceof AuthError ? e.reason : "no_auth", errorMessage(e));
    }
  }

  /** Runs the server side of the handshake on the control channel; resolves with the peer id. */
  async #serverAuth(control: FrameChannel, slot: HandlerSlot): Promise<string> {
    const o = this.#o;
    const inbox: Envelope[] = [];
    let wake: (() => void) | null = null;
    let closed: Error | null = null;
    let authed = false;
    control.start({
      onEnvelope: (env) => {
        if (authed) slot.envelope(env);
        else inbox.push(env);
        wake?.();
      },
      onClose: (err) => {
        closed = err ?? new Error("closed during authentication");
        wake?.();
      },
    });
    const next = async (type: string): Promise<Envelope> => {
      while (inbox.length === 0) {
        if (closed) throw closed;
        await new Promise<void>((r) => wake = r);
        wake = null;
      }
      const env = inbox.shift()!;
      if (env.type !== type) {
        throw new AuthError("bad_certificate", `expected ${type}, got ${env.type}`);
      }
      return env;
    };
    try {
      const hello = (await next("transport.auth.hello")).body as AuthHelloMsg;
      if (hello.cluster !== o.cluster) {
        throw new AuthError(
          "bad_certificate",
          `peer is in cluster ${JSON.stringify(hello.cluster)}`,
        );
      }
      const key = await verifyClientCertificate(
        hello.cert,
        o.identity.caPem,
        hello.node,
        new Date(),
      );
      const nonce = crypto.getRandomValues(new Uint8Array(32));
      const challenge: AuthChallengeMsg = { node: this.nodeId, nonce };
      await control.send({
        kind: FrameKind.Message,
        id: 0,
        type: "transport.auth.challenge",
        body: challenge,
      });
      const proof = (await next("transport.auth.proof")).body as AuthProofMsg;
      const transcript = authTranscript({
        cluster: o.cluster,
        clientNode: hello.node,
        serverNode: this.nodeId,
        clientNonce: hello.nonce,
        serverNonce: nonce,
      });
      await verifyProof(key, proof.sig, transcript);
      authed = true;
      for (const env of inbox.splice(0)) slot.envelope(env);
      await control.send({
        kind: FrameKind.Message,
        id: 0,
        type: "transport.auth.ok",
        body: { node: this.nodeId },
      });
      return hello.node;
    } catch (e) {
      control.close();
      throw e;
    }
  }

  #adopt(conn: QuicPeerConn, control: FrameChannel, slot: HandlerSlot): void {
    this.#conns.add(conn);
    this.metrics.connectionsOpened++;
    control.setHandlers({
      ...slot.channelHandlers((err) => conn.close(err)),
    });
  }

  async dial(
    peerId: string,
    addr: PeerAddress,
    opts: { signal?: AbortSignal } = {},
  ): Promise<Conn> {
    const o = this.#o;
    if (this.#closed) throw new TransportError("closed", "transport is closed");
    const remote = formatAddr(addr.hostname, addr.port);
    let quic: Deno.QuicConn | null = null;
    const abort = () => quic?.close({ closeCode: 2, reason: "dial aborted" });
    opts.signal?.addEventListener("abort", abort, { once: true });
    try {
      this.#signingKey ??= importSigningKey(o.identity.keyPem);
      const endpoint = this.#endpoint ?? (this.#clientEndpoint ??= new Deno.QuicEndpoint({
        hostname: o.hostname.includes(":") ? "::" : "0.0.0.0",
        port: 0,
      }));
      quic = await withTimeout(
        Deno.connectQuic<false>({
          hostname: addr.hostname,
          port: addr.port,
          serverName: nodeServerName(peerId),
          alpnProtocols: [TRANSPORT_ALPN],
          caCerts: [o.identity.caPem],
          endpoint,
          maxConcurrentBidirectionalStreams: MAX_STREAMS,
          congestionControl: CONGESTION_CONTROL,
        }),
        o.connectTimeoutMs,
        () => new Error(`QUIC connect timed out after ${o.connectTimeoutMs} ms`),
      );
      const q = quic;
      const bs = await q.createBidirectionalStream();
      const control = this.channel(bs, `quic ${this.nodeId}->${peerId}`);
      const slot = new HandlerSlot();
      await withTimeout(
        this.#clientAuth(control, slot, peerId),
        o.connectTimeoutMs,
        () => new TransportError("handshake_failed", `${peerId} did not finish authentication`),
      );
      const conn = new QuicPeerConn(this, q, control, slot, { peerId, initiator: true });
      this.#adopt(conn, control, slot);
      return conn;
    } catch (e) {
      quic?.close({ closeCode: 1, reason: "handshake failed" });
      this.metrics.dialFailures++;
      if (e instanceof TransportError) throw e;
      const msg = `cannot connect to ${peerId} at ${remote} over QUIC: ${errorMessage(e)}`;
      if (/certificate|handshake failed|UnknownIssuer|NotValidForName/i.test(errorMessage(e))) {
        bump(this.metrics.handshakeFailures, "server_certificate_rejected");
        o.logger.warn("QUIC handshake with {peer} failed: {error}", { peer: peerId, error: msg });
        throw new TransportError("handshake_failed", msg);
      }
      throw new TransportError("peer_unavailable", msg);
    } finally {
      opts.signal?.removeEventListener("abort", abort);
    }
  }

  async #clientAuth(control: FrameChannel, slot: HandlerSlot, peerId: string): Promise<void> {
    const o = this.#o;
    const got = {
      challenge: Promise.withResolvers<Envelope>(),
      ok: Promise.withResolvers<Envelope>(),
    };
    let stage = 0;
    control.start({
      onEnvelope: (env) => {
        if (stage === 0) got.challenge.resolve(env);
        else if (stage === 1) got.ok.resolve(env);
        else slot.envelope(env);
        stage++;
      },
      onClose: (err) => {
        const e = new TransportError(
          "handshake_failed",
          `${peerId} closed the connection during authentication${err ? `: ${err.message}` : ""}`,
        );
        got.challenge.reject(e);
        got.ok.reject(e);
      },
    });
    got.ok.promise.catch(() => {});
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const hello: AuthHelloMsg = {
      node: this.nodeId,
      cluster: o.cluster,
      cert: o.identity.certPem,
      nonce,
    };
    await control.send({
      kind: FrameKind.Message,
      id: 0,
      type: "transport.auth.hello",
      body: hello,
    });
    const ch = await got.challenge.promise;
    const challenge = ch.body as AuthChallengeMsg;
    if (ch.type !== "transport.auth.challenge" || challenge.node !== peerId) {
      throw new TransportError("handshake_failed", `unexpected ${ch.type} from ${peerId}`);
    }
    const sig = await signTranscript(
      await this.#signingKey!,
      authTranscript({
        cluster: o.cluster,
        clientNode: this.nodeId,
        serverNode: peerId,
        clientNonce: nonce,
        serverNonce: challenge.nonce,
      }),
    );
    await control.send({
      kind: FrameKind.Message,
      id: 0,
      type: "transport.auth.proof",
      body: { sig },
    });
    const ok = await got.ok.promise;
    if (ok.type !== "transport.auth.ok") {
      throw new TransportError("handshake_failed", `unexpected ${ok.type} from ${peerId}`);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const c of [...this.#conns]) c.close(new TransportError("closed", "transport closed"));
    this.#listener?.stop();
    this.#endpoint?.close();
    this.#clientEndpoint?.close();
    this.#endpoint = this.#clientEndpoint = null;
    this.#listener = null;
    await Promise.resolve();
  }
}
