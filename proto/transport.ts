/**
 * Wire messages of the transport layer itself (version 1): the connection
 * hello, the QUIC client-authentication handshake, liveness pings and the
 * data/credit frames of bulk streams.
 *
 * Conventions every subsystem follows when it registers RPC types:
 * - a request of type `T` is answered by a frame of type `T.reply`
 *   ({@link replyType}); both must be registered;
 * - a bulk stream of type `T` opens with a request of type `T` (its body is
 *   the stream's metadata) and ends with a `T.reply`.
 *
 * @module
 */
import { bool, bytes, type Infer, object, optional, str, uint } from "./schema.ts";

/** ALPN protocol name announced on QUIC connections. */
export const TRANSPORT_ALPN = "elasticore/1";

/** Largest certificate PEM accepted in a handshake message. */
export const MAX_CERT_PEM_CHARS = 8192;

/** Largest data chunk of one bulk-stream frame. */
export const MAX_STREAM_CHUNK_BYTES = 64 * 1024;

/** The type name of the reply to a request of type `type`. */
export function replyType(type: string): string {
  return `${type}.reply`;
}

/** First frame each side sends on a TLS connection after the handshake. */
export const Hello = object({
  /** Sender's node id. */
  node: str(63),
  /** Sender's cluster label; both sides must agree. */
  cluster: str(128),
});

/** QUIC step 1 (client → server): identity claim, certificate and a client nonce. */
export const AuthHello = object({
  node: str(63),
  cluster: str(128),
  cert: str(MAX_CERT_PEM_CHARS),
  nonce: bytes(32),
});

/** QUIC step 2 (server → client): the server's node id and a fresh nonce to sign. */
export const AuthChallenge = object({
  node: str(63),
  nonce: bytes(32),
});

/** QUIC step 3 (client → server): ECDSA P-256 signature over the handshake transcript. */
export const AuthProof = object({
  sig: bytes(132),
});

/** QUIC step 4 (server → client): the client is authenticated. */
export const AuthOk = object({
  node: str(63),
});

/** A liveness probe; answered by {@link Pong}. */
export const Ping = object({ seq: uint });

/** The reply to {@link Ping}. */
export const Pong = object({ seq: uint });

/** A chunk of a bulk stream (kind Message, id = the stream's request id). */
export const StreamData = object({
  /** Payload bytes, at most {@link MAX_STREAM_CHUNK_BYTES}. */
  d: bytes(MAX_STREAM_CHUNK_BYTES),
  /** Set on the last chunk of this direction. */
  fin: optional(bool),
});

/** Flow-control credit of a bulk stream: the receiver consumed `n` more bytes. */
export const StreamCredit = object({ n: uint });

/** The transport's own message types, to register in a `MessageRegistry`. */
export const transportMessages = {
  "transport.hello": Hello,
  "transport.auth.hello": AuthHello,
  "transport.auth.challenge": AuthChallenge,
  "transport.auth.proof": AuthProof,
  "transport.auth.ok": AuthOk,
  "transport.ping": Ping,
  "transport.ping.reply": Pong,
  "transport.data": StreamData,
  "transport.credit": StreamCredit,
};

/** TypeScript type of {@link Hello}. */
export type HelloMsg = Infer<typeof Hello>;
/** TypeScript type of {@link AuthHello}. */
export type AuthHelloMsg = Infer<typeof AuthHello>;
/** TypeScript type of {@link AuthChallenge}. */
export type AuthChallengeMsg = Infer<typeof AuthChallenge>;
/** TypeScript type of {@link AuthProof}. */
export type AuthProofMsg = Infer<typeof AuthProof>;
/** TypeScript type of {@link StreamData}. */
export type StreamDataMsg = Infer<typeof StreamData>;
/** TypeScript type of {@link StreamCredit}. */
export type StreamCreditMsg = Infer<typeof StreamCredit>;
