/**
 * Typed errors of the transport and RPC layers, with stable codes.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";

/** Stable codes of transport and RPC failures. */
export type TransportErrorCode =
  /** The peer cannot be reached, or its connection died with the call in flight. */
  | "peer_unavailable"
  /** The call's deadline passed before a reply arrived. */
  | "deadline_exceeded"
  /** The caller (or the remote side) cancelled the call. */
  | "cancelled"
  /** The remote handler failed; {@link TransportError.remoteCode} says how. */
  | "remote_error"
  /** Authentication of a connection failed. */
  | "handshake_failed"
  /** A frame exceeds the configured maximum size. */
  | "frame_too_large"
  /** A peer broke the protocol (e.g. sent more than its flow-control credit). */
  | "protocol_error"
  /** The transport or RPC layer has been closed. */
  | "closed";

/** HTTP-ish statuses for API surfaces that forward transport errors. */
const STATUS: Record<TransportErrorCode, number> = {
  peer_unavailable: 503,
  deadline_exceeded: 504,
  cancelled: 499,
  remote_error: 502,
  handshake_failed: 502,
  frame_too_large: 413,
  protocol_error: 502,
  closed: 503,
};

/** A transport/RPC failure with a stable {@link TransportErrorCode}. */
export class TransportError extends ElasticoreError {
  /** The stable code, narrowed to the transport's codes. */
  declare readonly code: TransportErrorCode;
  /** For `remote_error`: the code the remote handler reported. */
  readonly remoteCode?: string;

  /**
   * For `peer_unavailable` from a dial: the peer's host answered that nothing listens on the
   * port (ECONNREFUSED), i.e. the peer process is down, not merely slow.
   */
  readonly refused: boolean;

  /** Creates a transport error; `remoteCode` only for `remote_error`. */
  constructor(
    code: TransportErrorCode,
    message: string,
    opts: { remoteCode?: string; refused?: boolean } = {},
  ) {
    super(code, message, { status: STATUS[code] });
    this.name = "TransportError";
    this.remoteCode = opts.remoteCode;
    this.refused = opts.refused ?? false;
  }
}

/** Whether `e` is a {@link TransportError} with code `code`. */
export function isTransportError(e: unknown, code?: TransportErrorCode): e is TransportError {
  return e instanceof TransportError && (code === undefined || e.code === code);
}

/** The message of any thrown value. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
