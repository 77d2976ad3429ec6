/**
 * The cluster PKI: a self-signed cluster CA and node certificates it issues,
 * ECDSA P-256 with SHA-256 over WebCrypto (`@peculiar/x509`). Every node
 * certificate carries both the serverAuth and clientAuth extended key usages,
 * so the same certificate serves both sides of a mutual-TLS connection; its
 * subject CN is the node id.
 *
 * @module
 */
import "./reflect_metadata.ts";
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  type JsonGeneralName,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from "@peculiar/x509";
import { isIP } from "node:net";
import { ElasticoreError } from "../errors.ts";

/** A PEM certificate and its PKCS#8 PEM private key. */
export interface CertifiedKey {
  /** The certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  certPem: string;
  /** The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  keyPem: string;
}

/** The cluster certificate authority: its certificate, key and common name. */
export interface ClusterCa extends CertifiedKey {
  /** The CA's subject common name. */
  name: string;
}

/** What a certificate says about itself, for checks and diagnostics. */
export interface CertificateInfo {
  /** Subject common name (the node id for node certificates). */
  commonName: string;
  /** Issuer common name. */
  issuerCommonName: string;
  /** DNS subject alternative names. */
  dnsNames: string[];
  /** IP subject alternative names, in textual form. */
  ipAddresses: string[];
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
  /** Whether basicConstraints says CA:true. */
  isCa: boolean;
  /** Extended key usage OIDs. */
  extendedKeyUsages: string[];
  /** Serial number, hexadecimal. */
  serialNumber: string;
}

/** Default lifetime of the cluster CA, in days. */
export const DEFAULT_CA_VALID_DAYS = 3650;
/** Default lifetime of a node certificate, in days. */
export const DEFAULT_NODE_VALID_DAYS = 825;
/** DNS suffix of the per-node SAN `<nodeId>.elasticore`. */
export const NODE_DNS_SUFFIX = "elasticore";

const KEY_ALGORITHM: EcKeyImportParams & EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
/** Backdating of notBefore, tolerating clock skew between nodes. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

/** Creates a self-signed cluster CA (basicConstraints CA:true, keyCertSign). */
export async function createClusterCa(
  opts: { name: string; validDays?: number; notBefore?: Date },
): Promise<ClusterCa> {
  const name = opts.name.trim();
  if (name.length === 0 || name.length > 64) {
    throw new ElasticoreError(
      "pki_bad_name",
      `CA name must be 1-64 characters, got "${opts.name}"`,
    );
  }
  const { notBefore, notAfter } = validity(
    opts.notBefore,
    undefined,
    opts.validDays ?? DEFAULT_CA_VALID_DAYS,
  );
  const keys = await generateKeyPair();
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [name] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { name, certPem: cert.toString("pem"), keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * Issues a node certificate signed by `ca`. The CN is `nodeId`; the SANs are
 * `<nodeId>.elasticore` plus every entry of `hosts` (IP SANs for addresses,
 * DNS SANs for names). `notAfter`, when given, overrides `validDays` (tests use
 * it to make expired certificates).
 */
export async function issueNodeCertificate(ca: ClusterCa, opts: {
  nodeId: string;
  hosts: string[];
  validDays?: number;
  notBefore?: Date;
  notAfter?: Date;
}): Promise<CertifiedKey> {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(opts.nodeId)) {
    throw new ElasticoreError(
      "pki_bad_node_id",
      `node id "${opts.nodeId}" is invalid`,
      { hint: "use 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit" },
    );
  }
  const sans = subjectAltNames(opts.nodeId, opts.hosts);
  const { notBefore, notAfter } = validity(
    opts.notBefore,
    opts.notAfter,
    opts.validDays ?? DEFAULT_NODE_VALID_DAYS,
  );
  const caCert = parsePem(ca.certPem, "CA certificate");
  const caKey = await importPrivateKey(ca.keyPem);
  const keys = await generateKeyPair();
  const cert = await X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [opts.nodeId] }],
    issuer: caCert.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth]),
      new SubjectAlternativeNameExtension(sans),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
      await AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * The node id a certificate names: its subject CN. Accepts PEM text or DER
 * bytes (as `node:tls` `getPeerCertificate().raw` gives them). Rejects with
 * an `ElasticoreError` on an unparsable certificate or a missing CN.
 */
export function nodeIdFromCertificate(cert: string | Uint8Array): Promise<string> {
  try {
    return Promise.resolve(nodeIdFromCertificateSync(cert));
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Synchronous form of {@linkcode nodeIdFromCertificate}, for TLS callbacks; throws. */
export function nodeIdFromCertificateSync(cert: string | Uint8Array): string {
  const cn = parseCertificate(cert).subjectName.getField("CN");
  if (cn.length !== 1 || cn[0].length === 0) {
    throw new ElasticoreError("pki_no_node_id", "certificate has no single subject common name");
  }
  return cn[0];
}

/** Parses a certificate (PEM or DER) and reports its names, validity and usages. */
export function describeCertificate(cert: string | Uint8Array): CertificateInfo {
  const parsed = parseCertificate(cert);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const san = parsed.getExtension(SubjectAlternativeNameExtension);
  for (const item of san?.names.toJSON() ?? []) {
    if (item.type === "dns") dnsNames.push(item.value);
    if (item.type === "ip") ipAddresses.push(item.value);
  }
  const bc = parsed.getExtension(BasicConstraintsExtension);
  const eku = parsed.getExtension(ExtendedKeyUsageExtension);
  return {
    commonName: parsed.subjectName.getField("CN")[0] ?? "",
    issuerCommonName: parsed.issuerName.getField("CN")[0] ?? "",
    dnsNames,
    ipAddresses,
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    isCa: bc?.ca ?? false,
    extendedKeyUsages: Array.from(eku?.usages ?? [], (u) => String(u)),
    serialNumber: parsed.serialNumber,
  };
}

/** Checks that `cert` carries a valid signature by the CA certificate `caPem`. */
export async function isSignedBy(cert: string | Uint8Array, caPem: string): Promise<boolean> {
  const parsed = parseCertificate(cert);
  const caCert = parsePem(caPem, "CA certificate");
  return await parsed.verify({ publicKey: caCert.publicKey, signatureOnly: true });
}

function parseCertificate(cert: string | Uint8Array): X509Certificate {
  if (typeof cert === "string") return parsePem(cert, "certificate");
  try {
    return new X509Certificate(new Uint8Array(cert));
  } catch (e) {
    throw new ElasticoreError("pki_bad_certificate", `cannot parse certificate: ${message(e)}`);
  }
}

function parsePem(pem: string, what: string): X509Certificate {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ElasticoreError("pki_bad_certificate", `${what} is not a PEM certificate`);
  }
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new ElasticoreError("pki_bad_certificate", `cannot parse ${what}: ${message(e)}`);
  }
}

/** Imports a PKCS#8 PEM ECDSA P-256 private key for signing. */
export async function importPrivateKey(keyPem: string): Promise<CryptoKey> {
  if (!keyPem.includes("-----BEGIN PRIVATE KEY-----")) {
    throw new ElasticoreError("pki_bad_key", "private key is not a PKCS#8 PEM key");
  }
  try {
    const der = PemConverter.decodeFirst(keyPem);
    return await crypto.subtle.importKey("pkcs8", der, KEY_ALGORITHM, false, ["sign"]);
  } catch (e) {
    throw new ElasticoreError("pki_bad_key", `cannot import private key: ${message(e)}`);
  }
}

function subjectAltNames(nodeId: string, hosts: string[]): JsonGeneralName[] {
  const seen = new Set<string>();
  const out: JsonGeneralName[] = [];
  const add = (type: "dns" | "ip", value: string) => {
    const key = `${type}:${value}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ type, value });
    }
  };
  add("dns", `${nodeId}.${NODE_DNS_SUFFIX}`);
  for (const raw of hosts) {
    const host = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
    if (isIP(host) !== 0) add("ip", host);
    else if (isDnsName(host)) add("dns", host.toLowerCase());
    else {
      throw new ElasticoreError(
        "pki_bad_host",
        `host "${raw}" is neither an IP address nor a DNS name`,
      );
    }
  }
  return out;
}

/** Whether `name` is a syntactically valid DNS host name. */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => DNS_LABEL.test(label));
}

function validity(
  notBefore: Date | undefined,
  notAfter: Date | undefined,
  validDays: number,
): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(validDays) || validDays <= 0) {
    throw new ElasticoreError("pki_bad_validity", `validDays must be positive, got ${validDays}`);
  }
  const start = notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  const end = notAfter ?? new Date(start.getTime() + validDays * DAY_MS);
  if (end.getTime() <= start.getTime()) {
    throw new ElasticoreError("pki_bad_validity", "notAfter must be later than notBefore");
  }
  return { notBefore: start, notAfter: end };
}

async function generateKeyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return PemConverter.encode(der, "PRIVATE KEY");
}

/** A positive 128-bit serial number (high bit cleared), hexadecimal. */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
