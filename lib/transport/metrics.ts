/**
 * Counters of the transport layer, as plain fields and maps (the metrics
 * endpoint reads them), and the small logger interface it writes to.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";

/** Structured logging as the transport uses it; `@logtape/logtape` loggers fit. */
export interface TransportLogger {
  /** Detail useful when debugging. */
  debug(message: string, props?: Record<string, unknown>): void;
  /** Normal but notable events (connections, reconnects). */
  info(message: string, props?: Record<string, unknown>): void;
  /** Rejected peers and frames. */
  warn(message: string, props?: Record<string, unknown>): void;
  /** Failures of the node itself. */
  error(message: string, props?: Record<string, unknown>): void;
}

/** The default logger: logtape category `["elasticore", "transport"]`. */
export function defaultTransportLogger(): TransportLogger {
  return getLogger(["elasticore", "transport"]);
}

/** Adds one to `map[key]`. */
export function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/** Counters of stream connections and the RPC layer above them. */
export class TransportMetrics {
  /** Frames decoded and accepted. */
  framesIn = 0;
  /** Frames written. */
  framesOut = 0;
  /** Bytes read from connections (frame headers included). */
  bytesIn = 0;
  /** Bytes written to connections (frame headers included). */
  bytesOut = 0;
  /** Socket writes (one write carries a batch of frames). */
  writes = 0;
  /** Rejected incoming frames by codec error code. */
  readonly rejectedFrames = new Map<string, number>();
  /** Failed handshakes by reason (`no_client_certificate`, `plaintext`, ...). */
  readonly handshakeFailures = new Map<string, number>();
  /** Connections established (both directions). */
  connectionsOpened = 0;
  /** Connections closed (both directions). */
  connectionsClosed = 0;
  /** Connections closed because a peer sent a frame over the maximum. */
  oversizedCloses = 0;
  /** Successful re-dials of a peer whose connection had been lost. */
  reconnects = 0;
  /** Failed dial attempts. */
  dialFailures = 0;
  /** Replies for calls nobody waits for any more (late, duplicate). */
  orphanReplies = 0;
  /** Frames dropped by the fault injector. */
  faultDrops = 0;
}
