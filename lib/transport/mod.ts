/**
 * The transport layer: authenticated stream connections (TCP+TLS or QUIC),
 * the RPC layer over them, encrypted gossip datagrams and fault injection.
 *
 * @module
 */
import { QuicTransport } from "./quic.ts";
import { TlsTransport } from "./tls.ts";
import type { Transport, TransportKind, TransportOptions } from "./types.ts";

export * from "./types.ts";
export * from "./errors.ts";
export * from "./metrics.ts";
export { FaultInjector, type FaultSpec } from "./faults.ts";
export { type BulkStream, DEFAULT_STREAM_WINDOW } from "./bulk.ts";
export { Rpc, type RpcOptions } from "./rpc.ts";
export type {
  CallOptions,
  HandlerContext,
  OpenStream,
  RequestHandler,
  StreamHandler,
} from "./rpc_types.ts";
export {
  DatagramCodec,
  type DatagramOptions,
  DatagramTransport,
  type GossipDatagram,
} from "./datagram.ts";
export { QuicTransport } from "./quic.ts";
export { TlsTransport } from "./tls.ts";

/** Creates the transport that config `transport.kind` selects. */
export function createTransport(kind: TransportKind, opts: TransportOptions): Transport {
  switch (kind) {
    case "tcp":
      return new TlsTransport(opts);
    case "quic":
      return new QuicTransport(opts);
  }
}
