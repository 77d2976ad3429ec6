/**
 * Helpers shared by the TLS and QUIC transports: resolved options, a
 * connection wrapper that buffers frames until the RPC layer attaches, and
 * the peek at a rejected frame that lets a server answer a bad request.
 *
 * @module
 */
import { decode } from "@msgpack/msgpack";
import type { CodecError, Envelope, MessageRegistry } from "../../proto/codec.ts";
import { transportMessages } from "../../proto/transport.ts";
import type { ChannelHandlers } from "./channel.ts";
import { defaultTransportLogger, type TransportLogger, TransportMetrics } from "./metrics.ts";
import { type ConnHandlers, TRANSPORT_DEFAULTS, type TransportOptions } from "./types.ts";

/** {@link TransportOptions} with every default filled in. */
export interface ResolvedOptions extends Required<Omit<TransportOptions, "metrics" | "logger">> {
  /** Counters. */
  metrics: TransportMetrics;
  /** Logger. */
  logger: TransportLogger;
}

/** Fills in defaults and registers the transport's own messages in the registry. */
export function resolveOptions(opts: TransportOptions): ResolvedOptions {
  ensureTransportMessages(opts.registry);
  const d = TRANSPORT_DEFAULTS;
  return {
    identity: opts.identity,
    cluster: opts.cluster,
    registry: opts.registry,
    hostname: opts.hostname ?? d.hostname,
    port: opts.port ?? d.port,
    maxFrameBytes: opts.maxFrameBytes ?? d.maxFrameBytes,
    queueFrames: opts.queueFrames ?? d.queueFrames,
    queueBytes: opts.queueBytes ?? d.queueBytes,
    connectTimeoutMs: opts.connectTimeoutMs ?? d.connectTimeoutMs,
    metrics: opts.metrics ?? new TransportMetrics(),
    logger: opts.logger ?? defaultTransportLogger(),
  };
}

/** Registers the `transport.*` message types unless already there. */
export function ensureTransportMessages(registry: MessageRegistry): void {
  if (!registry.get("transport.hello")) registry.register(transportMessages);
}

/** What can be read from a frame that failed validation (to answer a request with an error). */
export function peekRejected(
  payload: Uint8Array,
  error: CodecError,
): { id?: number; kind?: number; type?: string; code: string } {
  try {
    const n = payload.byteLength;
    const raw = decode(payload, {
      maxStrLength: n,
      maxBinLength: n,
      maxArrayLength: n,
      maxMapLength: n,
      maxExtLength: n,
    });
    if (Array.isArray(raw) && raw.length >= 4) {
      const [, kind, id, type] = raw;
      if (typeof kind === "number" && typeof id === "number" && Number.isSafeInteger(id)) {
        return { id, kind, type: typeof type === "string" ? type : undefined, code: error.code };
      }
    }
  } catch {
    // the envelope itself is unreadable
  }
  return { code: error.code };
}

/**
 * Bridges channel callbacks to the RPC layer's {@link ConnHandlers}: frames
 * arriving before `setHandlers` are buffered (bounded by the peer's send
 * window, which the handshake keeps tiny) and replayed.
 */
export class HandlerSlot {
  #handlers: ConnHandlers | null = null;
  #pending: Envelope[] = [];
  #closed: { err?: Error } | null = null;

  /** Installs the handlers and replays what arrived before. */
  set(h: ConnHandlers): void {
    this.#handlers = h;
    const pending = this.#pending;
    this.#pending = [];
    for (const env of pending) h.onEnvelope(env);
    if (this.#closed) h.onClose(this.#closed.err);
  }

  /** Delivers a frame (or buffers it). */
  envelope(env: Envelope): void {
    if (this.#handlers) this.#handlers.onEnvelope(env);
    else if (this.#pending.length < 4096) this.#pending.push(env);
  }

  /** Reports the close (once). */
  close(err?: Error): void {
    if (this.#closed) return;
    this.#closed = { err };
    this.#handlers?.onClose(err);
  }

  /** Reports a rejected frame. */
  rejected(payload: Uint8Array, error: CodecError): void {
    this.#handlers?.onRejected?.(peekRejected(payload, error));
  }

  /** Channel handlers that feed this slot. */
  channelHandlers(onClose: (err?: Error) => void): ChannelHandlers {
    return {
      onEnvelope: (env) => this.envelope(env),
      onClose,
      onRejected: (payload, error) => this.rejected(payload, error),
    };
  }
}

/** Rejects after `ms` with `make()`, unless `p` settles first. */
export function withTimeout<T>(p: Promise<T>, ms: number, make: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(make()), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** `host:port`, with brackets around IPv6 literals. */
export function formatAddr(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
