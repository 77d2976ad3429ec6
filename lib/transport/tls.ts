/**
 * The TCP+TLS transport: mutual TLS against the cluster CA with `node:tls`
 * (Deno's own TLS listener cannot see client certificates). The server
 * demands a client certificate signed by the CA (`requestCert`,
 * `rejectUnauthorized`); the client checks that the server's certificate is
 * signed by the CA and names the node it meant to reach
 * (`<peerId>.elasticore` SAN and CN). After TLS, each side sends a
 * `transport.hello` naming itself and its cluster; the dialer considers the
 * connection up only once the server's hello arrived, which also proves the
 * server accepted its certificate (TLS 1.3 reports client-certificate
 * rejection only after the client finished).
 *
 * @module
 */
import * as tls from "node:tls";
import type { Envelope } from "../../proto/codec.ts";
import { FrameKind } from "../../proto/codec.ts";
import type { HelloMsg } from "../../proto/transport.ts";
import { FrameChannel } from "./channel.ts";
import {
  formatAddr,
  HandlerSlot,
  type ResolvedOptions,
  resolveOptions,
  withTimeout,
} from "./common.ts";
import { errorMessage, TransportError } from "./errors.ts";
import { socketDuplex } from "./io.ts";
import { bump, type TransportMetrics } from "./metrics.ts";
import {
  type Conn,
  type ConnHandlers,
  NODE_ID_PATTERN,
  type OutEnvelope,
  type PeerAddress,
  type Transport,
  type TransportOptions,
} from "./types.ts";

/** The DNS SAN every node certificate carries (see `lib/security/pki.ts`). */
export function nodeServerName(nodeId: string): string {
  return `${nodeId}.elasticore`;
}

/** Classifies a TLS server-side handshake error into a stable reason. */
export function classifyTlsError(e: unknown): string {
  const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
  const msg = errorMessage(e);
  if (code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE" || /no certificates/i.test(msg)) {
    return "no_client_certificate";
  }
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || /InvalidContentType|wrong version/i.test(msg)) {
    return "plaintext";
  }
  if (/expired|NotValidYet/i.test(msg)) return "certificate_expired";
  if (/UnknownIssuer|BadSignature|unknown ca|certificate/i.test(msg)) {
    return "certificate_rejected";
  }
  // rustls aborts the handshake without a message when it rejects a client
  // certificate (untrusted issuer, outside its validity period).
  if (code === "ECONNRESET") return "certificate_rejected";
  return "tls_error";
}

/** Classifies a client-side dial error: `unreachable` or a handshake failure reason. */
export function classifyDialError(e: unknown): string {
  const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
  const msg = errorMessage(e);
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID" || /does not match certificate/i.test(msg)) {
    return "server_identity_mismatch";
  }
  if (/UnknownIssuer|BadSignature|certificate|Expired|NotValidYet/i.test(msg)) {
    return "server_certificate_rejected";
  }
  if (/before hello|no hello/i.test(msg)) return "rejected_by_server";
  return "unreachable";
}

class TlsConn implements Conn {
  readonly kind = "tcp" as const;
  readonly peerId: string;
  readonly remoteAddr: string;
  readonly initiator: boolean;
  readonly #ch: FrameChannel;
  readonly #slot: HandlerSlot;

  constructor(ch: FrameChannel, slot: HandlerSlot, peerId: string, remote: string, init: boolean) {
    this.#ch = ch;
    this.#slot = slot;
    this.peerId = peerId;
    this.remoteAddr = remote;
    this.initiator = init;
  }

  get closed(): boolean {
    return this.#ch.closed;
  }

  setHandlers(h: ConnHandlers): void {
    this.#slot.set(h);
  }

  send(env: OutEnvelope): Promise<void> {
    return this.#ch.send(env);
  }

  pauseReading(): void {
    this.#ch.pause();
  }

  resumeReading(): void {
    this.#ch.resume();
  }

  close(err?: Error): void {
    this.#ch.close(err);
  }
}

/** See the module documentation. */
export class TlsTransport implements Transport {
  readonly kind = "tcp" as const;
  readonly nodeId: string;
  readonly metrics: TransportMetrics;
  readonly #o: ResolvedOptions;
  #server: tls.Server | null = null;
  readonly #conns = new Set<Conn>();
  #closed = false;

  /** Creates the transport; nothing listens until {@link listen}. */
  constructor(opts: TransportOptions) {
    this.#o = resolveOptions(opts);
    this.nodeId = opts.identity.nodeId;
    this.metrics = this.#o.metrics;
  }

  listen(onConn: (conn: Conn) => void): Promise<PeerAddress> {
    const o = this.#o;
    const server = tls.createServer({
      key: o.identity.keyPem,
      cert: o.identity.certPem,
      ca: [o.identity.caPem],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    }, (sock) => this.#accepted(sock, onConn));
    server.on("tlsClientError", (e: Error, sock: tls.TLSSocket) => {
      const reason = classifyTlsError(e);
      bump(this.metrics.handshakeFailures, reason);
      o.logger.warn("rejected TLS connection from {remote}: {reason} ({error})", {
        remote: formatAddr(sock?.remoteAddress ?? "?", sock?.remotePort ?? 0),
        reason,
        error: errorMessage(e),
      });
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.port, o.hostname, () => {
        server.off("error", reject);
        const a = server.address();
        if (a === null || typeof a === "string") {
          reject(new TransportError("closed", "TLS server has no address"));
          return;
        }
        resolve({ hostname: a.address, port: a.port });
      });
    });
  }

  #accepted(sock: tls.TLSSocket, onConn: (conn: Conn) => void): void {
    const o = this.#o;
    const remote = formatAddr(sock.remoteAddress ?? "?", sock.remotePort ?? 0);
    const fail = (reason: string, detail: string) => {
      bump(this.metrics.handshakeFailures, reason);
      o.logger.warn("rejected TLS connection from {remote}: {reason} ({error})", {
        remote,
        reason,
        error: detail,
      });
      sock.destroy();
    };
    if (this.#closed) {
      sock.destroy();
      return;
    }
    if (!sock.authorized) {
      fail("certificate_rejected", String(sock.authorizationError ?? "unauthorized"));
      return;
    }
    const cn = peerCommonName(sock);
    if (!cn || !NODE_ID_PATTERN.test(cn)) {
      fail("bad_node_id", `certificate CN ${JSON.stringify(cn)} is not a node id`);
      return;
    }
    this.#handshake(sock, cn, false).then((conn) => {
      o.logger.debug("accepted connection from {peer} at {remote}", { peer: cn, remote });
      onConn(conn);
    }, (e) => fail(e instanceof TransportError ? "bad_hello" : "no_hello", errorMessage(e)));
  }

  async dial(peerId: string, addr: PeerAddress, opts: { signal?: AbortSignal } = {}) {
    const o = this.#o;
    if (this.#closed) throw new TransportError("closed", "transport is closed");
    const remote = formatAddr(addr.hostname, addr.port);
    const sock = tls.connect({
      host: addr.hostname,
      port: addr.port,
      servername: nodeServerName(peerId),
      ca: [o.identity.caPem],
      cert: o.identity.certPem,
      key: o.identity.keyPem,
      minVersion: "TLSv1.2",
    });
    const onAbort = () => sock.destroy(new Error("dial aborted"));
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const connected = new Promise<void>((resolve, reject) => {
        sock.once("secureConnect", () => resolve());
        sock.once("error", reject);
        sock.once("close", () => reject(new Error("connection closed during TLS handshake")));
      });
      await withTimeout(
        connected,
        o.connectTimeoutMs,
        () => new Error(`TLS handshake timed out after ${o.connectTimeoutMs} ms`),
      );
      const cn = peerCommonName(sock);
      if (cn !== peerId) {
        throw new TransportError(
          "handshake_failed",
          `${remote} presented a certificate for ${JSON.stringify(cn)}, expected ${peerId}`,
        );
      }
      return await this.#handshake(sock, peerId, true);
    } catch (e) {
      sock.destroy();
      this.metrics.dialFailures++;
      if (e instanceof TransportError) throw e;
      const reason = classifyDialError(e);
      const msg = `cannot connect to ${peerId} at ${remote}: ${errorMessage(e)}`;
      if (reason === "unreachable") {
        const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
        throw new TransportError("peer_unavailable", msg, { refused: code === "ECONNREFUSED" });
      }
      bump(this.metrics.handshakeFailures, reason);
      o.logger.warn("TLS handshake with {peer} failed: {reason} ({error})", {
        peer: peerId,
        reason,
        error: errorMessage(e),
      });
      throw new TransportError("handshake_failed", msg);
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Exchanges hellos over a fresh channel; resolves with the ready connection. */
  async #handshake(sock: tls.TLSSocket, peerId: string, initiator: boolean): Promise<Conn> {
    const o = this.#o;
    const remote = formatAddr(sock.remoteAddress ?? "?", sock.remotePort ?? 0);
    sock.setNoDelay(true);
    const ch = new FrameChannel(socketDuplex(sock), {
      registry: o.registry,
      maxFrameBytes: o.maxFrameBytes,
      queueFrames: o.queueFrames,
      queueBytes: o.queueBytes,
      metrics: this.metrics,
      logger: o.logger,
      label: `tcp ${initiator ? `${this.nodeId}->${peerId}` : `${peerId}->${this.nodeId}`}`,
    });
    const slot = new HandlerSlot();
    const hello = Promise.withResolvers<Envelope>();
    let gotHello = false;
    ch.start({
      onEnvelope: (env) => {
        // Frames right behind the hello (same read) belong to the RPC layer.
        if (gotHello) slot.envelope(env);
        else {
          gotHello = true;
          hello.resolve(env);
        }
      },
      onClose: (err) => hello.reject(err ?? new Error("connection closed before hello")),
    });
    const mine: HelloMsg = { node: this.nodeId, cluster: o.cluster };
    await ch.send({ kind: FrameKind.Message, id: 0, type: "transport.hello", body: mine });
    let env: Envelope;
    try {
      env = await withTimeout(
        hello.promise,
        o.connectTimeoutMs,
        () => new Error(`no hello from ${remote} within ${o.connectTimeoutMs} ms`),
      );
    } catch (e) {
      ch.close();
      throw e;
    }
    const body = env.body as HelloMsg;
    if (env.type !== "transport.hello" || body.node !== peerId || body.cluster !== o.cluster) {
      ch.close();
      throw new TransportError(
        "handshake_failed",
        `bad hello from ${remote}: ${env.type} ${
          JSON.stringify(env.body)
        } (expected node ${peerId}, cluster ${o.cluster})`,
      );
    }
    const conn = new TlsConn(ch, slot, peerId, remote, initiator);
    this.#conns.add(conn);
    this.metrics.connectionsOpened++;
    ch.setHandlers(slot.channelHandlers((err) => {
      this.#conns.delete(conn);
      this.metrics.connectionsClosed++;
      slot.close(err);
    }));
    return conn;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const c of [...this.#conns]) c.close(new TransportError("closed", "transport closed"));
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function peerCommonName(sock: tls.TLSSocket): string | undefined {
  const cert = sock.getPeerCertificate();
  const cn = cert?.subject?.CN;
  return Array.isArray(cn) ? undefined : cn;
}
