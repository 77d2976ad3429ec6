/**
 * The `Transport` contract shared by the TCP+TLS and QUIC implementations,
 * and the options both take.
 *
 * Connections are directional: the node that dials sends requests, one-way
 * messages and stream opens; the node that accepts answers them. Two nodes
 * that call each other therefore hold one connection per direction (as
 * memberlist and hashicorp/raft do), which keeps request ids unambiguous.
 *
 * @module
 */
import type { Envelope, MessageRegistry } from "../../proto/codec.ts";
import type { OutEnvelope } from "./channel.ts";
import type { TransportLogger, TransportMetrics } from "./metrics.ts";

/** Which stream transport a node uses (config `transport.kind`). */
export type TransportKind = "tcp" | "quic";

/** Where a peer listens. */
export interface PeerAddress {
  /** Host name or IP literal. */
  hostname: string;
  /** Port number. */
  port: number;
}

/** Callbacks the RPC layer installs on a {@link Conn}. */
export interface ConnHandlers {
  /** A valid frame arrived from the peer. */
  onEnvelope(env: Envelope): void;
  /** The connection closed; `err` says why when it was not a clean close. */
  onClose(err?: Error): void;
  /** A frame failed to decode; `id`/`kind` when they could be read (to answer a request). */
  onRejected?(info: { id?: number; kind?: number; type?: string; code: string }): void;
}

/** Per-send options. */
export interface SendOptions {
  /**
   * Give this request (and every later frame with its id) its own lane: a
   * QUIC stream of its own. Ignored by TCP, where all frames share one
   * ordered byte stream.
   */
  dedicated?: boolean;
}

/** One authenticated connection to a peer. */
export interface Conn {
  /** The transport it belongs to. */
  readonly kind: TransportKind;
  /** The authenticated node id of the peer (certificate CN). */
  readonly peerId: string;
  /** The peer's address as `host:port`. */
  readonly remoteAddr: string;
  /** True on the dialing side. */
  readonly initiator: boolean;
  /** Whether the connection has closed. */
  readonly closed: boolean;
  /** Installs the handlers; frames that arrived earlier are delivered now. */
  setHandlers(h: ConnHandlers): void;
  /** Queues a frame; waits while the send queue is full. */
  send(env: OutEnvelope, opts?: SendOptions): Promise<void>;
  /** Stops reading from the peer (inbound backpressure). */
  pauseReading(): void;
  /** Resumes reading. */
  resumeReading(): void;
  /** Closes the connection. */
  close(err?: Error): void;
}

/** A stream transport: accepts and dials authenticated connections. */
export interface Transport {
  /** Which implementation this is. */
  readonly kind: TransportKind;
  /** This node's id. */
  readonly nodeId: string;
  /** Counters shared by every connection. */
  readonly metrics: TransportMetrics;
  /** Starts accepting connections; resolves with the bound address. */
  listen(onConn: (conn: Conn) => void): Promise<PeerAddress>;
  /** Dials `peerId` at `addr`; fails with a typed error when it cannot authenticate it. */
  dial(peerId: string, addr: PeerAddress, opts?: { signal?: AbortSignal }): Promise<Conn>;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/** Identity and trust material of a node (PEM text). */
export interface NodeIdentity {
  /** This node's id, the CN of its certificate. */
  nodeId: string;
  /** The cluster CA certificate. */
  caPem: string;
  /** This node's certificate. */
  certPem: string;
  /** This node's PKCS#8 private key. */
  keyPem: string;
}

/** Options common to both transports. */
export interface TransportOptions {
  /** Identity and trust material. */
  identity: NodeIdentity;
  /** Cluster label; peers with another label are rejected. */
  cluster: string;
  /** Registry that validates incoming frames (transport messages are added if missing). */
  registry: MessageRegistry;
  /** Address to listen on (default 127.0.0.1). */
  hostname?: string;
  /** Port to listen on (default 0 = ephemeral). */
  port?: number;
  /** Largest frame payload (default 16 MiB). */
  maxFrameBytes?: number;
  /** Bound of each connection's send queue in frames (default 1024). */
  queueFrames?: number;
  /** Bound of each connection's send queue in bytes (default 8 MiB). */
  queueBytes?: number;
  /** Dial and handshake timeout (default 3000 ms). */
  connectTimeoutMs?: number;
  /** Counters (a fresh set by default). */
  metrics?: TransportMetrics;
  /** Logger (default: logtape category elasticore/transport). */
  logger?: TransportLogger;
}

/** Defaults of {@link TransportOptions}, matching the config file's defaults. */
export const TRANSPORT_DEFAULTS = {
  hostname: "127.0.0.1",
  port: 0,
  maxFrameBytes: 16 * 1024 * 1024,
  queueFrames: 1024,
  queueBytes: 8 * 1024 * 1024,
  connectTimeoutMs: 3000,
} as const;

/** The frame as handed to {@link Conn.send}. */
export type { OutEnvelope };

/** Node ids as the config and PKI define them. */
export const NODE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
