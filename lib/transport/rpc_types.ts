/**
 * Types shared by the RPC client and server halves, and the mapping
 * between thrown errors and `Error` frames.
 *
 * @module
 */
import type { MessageRegistry } from "../../proto/codec.ts";
import { ElasticoreError } from "../errors.ts";
import type { BulkStream } from "./bulk.ts";
import type { OutEnvelope } from "./channel.ts";
import { errorMessage, TransportError } from "./errors.ts";
import type { FaultInjector } from "./faults.ts";
import type { TransportLogger, TransportMetrics } from "./metrics.ts";
import type { Conn, SendOptions, Transport } from "./types.ts";

/** Per-call options. */
export interface CallOptions {
  /** Give up after this many ms (travels to the server in the envelope). */
  deadlineMs?: number;
  /** Aborting it cancels the call (a Cancel frame tells the server). */
  signal?: AbortSignal;
  /**
   * Keep re-dialing a peer that refused the connection (with backoff) until the deadline. By
   * default a call fails fast with `peer_unavailable` once a dial was refused (nothing listens:
   * the peer process is down) and while that peer is in its reconnect backoff, as gRPC does
   * without wait-for-ready: a dead peer costs its callers one refused connection, not their
   * whole deadline. Slow or failed handshakes are retried within the deadline either way.
   */
  waitForReady?: boolean;
}

/** What a handler knows about the request it serves. */
export interface HandlerContext {
  /** The authenticated node id of the caller. */
  readonly peer: string;
  /** The message type. */
  readonly type: string;
  /** The request id (0 for one-way messages). */
  readonly id: number;
  /** The caller's remaining budget when the request arrived, if it set one. */
  readonly deadlineMs?: number;
  /** `Date.now()` value after which the caller no longer waits, if any. */
  readonly deadline?: number;
  /** Aborted when the caller cancels, the deadline passes or the connection dies. */
  readonly signal: AbortSignal;
}

/** Serves requests (its return value is the reply) and one-way messages (ignored). */
export type RequestHandler = (body: unknown, ctx: HandlerContext) => unknown;

/** Serves a bulk stream; its return value is the stream's reply. */
export type StreamHandler = (meta: unknown, stream: BulkStream, ctx: HandlerContext) => unknown;

/** The opener's side of a bulk stream. */
export interface OpenStream extends BulkStream {
  /** The handler's reply, once the stream has finished. */
  readonly result: Promise<unknown>;
}

/** Everything the client and server halves share. */
export interface RpcCore {
  readonly transport: Transport;
  readonly registry: MessageRegistry;
  readonly faults: FaultInjector;
  readonly metrics: TransportMetrics;
  readonly logger: TransportLogger;
  readonly handlers: Map<string, RequestHandler>;
  readonly streamHandlers: Map<string, StreamHandler>;
  readonly defaultDeadlineMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly maxInflightPerConn: number;
  readonly streamWindowBytes: number;
  readonly streamPerRpc: boolean;
  readonly random: () => number;
}

/** Sends one frame to `conn`'s peer, through the fault injector when it is active. */
export function sendVia(
  core: RpcCore,
  conn: Conn,
  env: OutEnvelope,
  opts?: SendOptions,
): Promise<void> {
  if (!core.faults.active) return conn.send(env, opts);
  return core.faults.apply(conn.peerId, () => conn.send(env, opts));
}

/** The `{code, message}` an `Error` frame carries for a thrown value. */
export function errorBodyOf(e: unknown): { code: string; message: string } {
  if (e instanceof ElasticoreError) return { code: e.code, message: e.message };
  return { code: "internal", message: errorMessage(e) };
}

/** The local error for an `Error` frame received from `peer`. */
export function errorFromBody(peer: string, body: { code: string; message: string }): Error {
  if (body.code === "deadline_exceeded" || body.code === "cancelled") {
    return new TransportError(body.code, `${peer}: ${body.message}`);
  }
  return new TransportError("remote_error", `${peer} failed: [${body.code}] ${body.message}`, {
    remoteCode: body.code,
  });
}
