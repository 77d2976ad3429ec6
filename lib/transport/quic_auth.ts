/**
 * Client authentication for QUIC. Deno's QUIC API cannot request or read a
 * client certificate, so the client proves its identity inside the
 * connection: it sends its certificate and a nonce, the server answers with
 * a fresh nonce, and the client signs the transcript (both node ids, both
 * nonces, the cluster label) with its node key (ECDSA P-256, SHA-256). The
 * server checks the certificate against the cluster CA and the signature
 * against the certificate's key. The server itself is authenticated by
 * QUIC's TLS (CA-signed, `<nodeId>.elasticore` server name), and its node
 * id is part of what the client signs, so a proof cannot be relayed to
 * another node.
 *
 * Pure functions over WebCrypto: no I/O, no clock (the time is passed in).
 *
 * @module
 */
import { describeCertificate, importPrivateKey, isSignedBy } from "../security/pki.ts";
import { X509Certificate } from "@peculiar/x509";
import { errorMessage } from "./errors.ts";
import { NODE_ID_PATTERN } from "./types.ts";

const ECDSA_SIGN: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const ECDSA_KEY: EcKeyImportParams = { name: "ECDSA", namedCurve: "P-256" };
const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";
const enc = new TextEncoder();

/** Why a client's proof was refused; counted as handshake failure reasons. */
export type AuthFailure =
  | "bad_certificate"
  | "untrusted_certificate"
  | "certificate_expired"
  | "certificate_not_yet_valid"
  | "node_id_mismatch"
  | "bad_signature";

/** A refused proof with its reason. */
export class AuthError extends Error {
  /** The stable reason. */
  readonly reason: AuthFailure;
  /** Creates an error for `reason`. */
  constructor(reason: AuthFailure, message: string) {
    super(message);
    this.name = "AuthError";
    this.reason = reason;
  }
}

/** The bytes the client signs. */
export function authTranscript(p: {
  cluster: string;
  clientNode: string;
  serverNode: string;
  clientNonce: Uint8Array;
  serverNonce: Uint8Array;
}): Uint8Array {
  const head = enc.encode(
    `elasticore-quic-auth-v1\0${p.cluster}\0${p.clientNode}\0${p.serverNode}\0`,
  );
  const out = new Uint8Array(head.length + p.clientNonce.length + p.serverNonce.length);
  out.set(head, 0);
  out.set(p.clientNonce, head.length);
  out.set(p.serverNonce, head.length + p.clientNonce.length);
  return out;
}

/** Imports this node's PKCS#8 PEM key for signing proofs. */
export function importSigningKey(keyPem: string): Promise<CryptoKey> {
  return importPrivateKey(keyPem);
}

/** Signs `transcript` with `key` (raw r||s, 64 bytes). */
export async function signTranscript(key: CryptoKey, transcript: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign(ECDSA_SIGN, key, transcript as BufferSource));
}

/**
 * Checks a client certificate: signed by the CA, valid at `now`, allowed
 * for client authentication, CN = `claimedNode`. Resolves with its public
 * key; rejects with an {@link AuthError}.
 */
export async function verifyClientCertificate(
  certPem: string,
  caPem: string,
  claimedNode: string,
  now: Date,
): Promise<CryptoKey> {
  let info;
  let cert: X509Certificate;
  try {
    info = describeCertificate(certPem);
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new AuthError(
      "bad_certificate",
      `cannot parse the client certificate: ${errorMessage(e)}`,
    );
  }
  let signed = false;
  try {
    signed = await isSignedBy(certPem, caPem);
  } catch {
    signed = false;
  }
  if (!signed) {
    throw new AuthError(
      "untrusted_certificate",
      "client certificate is not signed by the cluster CA",
    );
  }
  if (info.isCa) throw new AuthError("bad_certificate", "client certificate is a CA certificate");
  if (
    info.extendedKeyUsages.length > 0 && !info.extendedKeyUsages.includes(CLIENT_AUTH_OID) &&
    !info.extendedKeyUsages.includes("clientAuth")
  ) {
    throw new AuthError(
      "bad_certificate",
      "client certificate does not allow client authentication",
    );
  }
  if (now.getTime() > info.notAfter.getTime()) {
    throw new AuthError(
      "certificate_expired",
      `client certificate expired at ${info.notAfter.toISOString()}`,
    );
  }
  if (now.getTime() < info.notBefore.getTime()) {
    throw new AuthError(
      "certificate_not_yet_valid",
      `client certificate is valid only from ${info.notBefore.toISOString()}`,
    );
  }
  if (!NODE_ID_PATTERN.test(info.commonName) || info.commonName !== claimedNode) {
    throw new AuthError(
      "node_id_mismatch",
      `client claims node ${JSON.stringify(claimedNode)} but its certificate names ${
        JSON.stringify(info.commonName)
      }`,
    );
  }
  try {
    return await cert.publicKey.export(ECDSA_KEY, ["verify"]);
  } catch (e) {
    throw new AuthError("bad_certificate", `unusable client public key: ${errorMessage(e)}`);
  }
}

/** Verifies a proof signature; rejects with `bad_signature`. */
export async function verifyProof(
  publicKey: CryptoKey,
  signature: Uint8Array,
  transcript: Uint8Array,
): Promise<void> {
  let ok = false;
  try {
    ok = await crypto.subtle.verify(
      ECDSA_SIGN,
      publicKey,
      signature as BufferSource,
      transcript as BufferSource,
    );
  } catch {
    ok = false;
  }
  if (!ok) throw new AuthError("bad_signature", "client proof signature does not verify");
}
