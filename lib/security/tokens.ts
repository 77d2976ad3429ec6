/**
 * Signed bearer tokens.
 *
 * Format: `<tag>.<base64url payload>.<base64url signature>`, where the tag is
 * `ec1` for HMAC-SHA256 with the cluster token key (32 bytes) and `ec1e` for
 * Ed25519. The signature covers the ASCII text `<tag>.<payload>`. The payload
 * is JSON `{sub, role, iat, exp, cluster, jti}` (times in whole seconds since
 * the epoch). A verifier accepts only the tag of the key it holds, so a token
 * cannot choose its own algorithm. Signatures are compared by
 * `crypto.subtle.verify` (constant time); the payload is parsed only after the
 * signature checks out. Verification never throws: it returns a result or a
 * typed error.
 *
 * Time and randomness are parameters (`now`, `jti`) with real defaults, so
 * callers and tests control them.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { fromBase64, fromBase64Url, toBase64, toBase64Url } from "./encoding.ts";
import { readKeyMaterial } from "./files.ts";
import { isRole, type Role } from "./roles.ts";

/** Tag of HMAC-SHA256 tokens. */
export const HMAC_TAG = "ec1";
/** Tag of Ed25519 tokens. */
export const ED25519_TAG = "ec1e";
/** Length of the cluster token key, bytes. */
export const TOKEN_KEY_BYTES = 32;
/** Longest token string `verifyToken` will look at. */
export const MAX_TOKEN_LENGTH = 4096;
/** Longest subject. */
export const MAX_SUBJECT_LENGTH = 128;

/** A key that signs and verifies tokens. */
export type TokenKey =
  | { kind: "hmac"; key: CryptoKey }
  | { kind: "ed25519"; privateKey?: CryptoKey; publicKey: CryptoKey };

/** What a valid token says. */
export interface TokenClaims {
  /** Who the token was issued to. */
  sub: string;
  /** Role granted. */
  role: Role;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch (exclusive). */
  exp: number;
  /** Cluster label the token is valid for. */
  cluster: string;
  /** Unique token id. */
  jti: string;
}

/** Why a token was refused. */
export type TokenErrorCode =
  | "token_malformed"
  | "token_bad_signature"
  | "token_expired"
  | "token_wrong_cluster";

/** A refused token: a stable code and a human-readable reason. */
export interface TokenError {
  /** Stable code. */
  code: TokenErrorCode;
  /** What is wrong. */
  message: string;
}

/** Outcome of `verifyToken`. */
export type TokenResult = { ok: true; claims: TokenClaims } | { ok: false; error: TokenError };

/** Turns a refused token into a 401 `ElasticoreError` for the API and CLI. */
export function tokenErrorToElasticore(error: TokenError): ElasticoreError {
  return new ElasticoreError(error.code, error.message, { status: 401 });
}

/** 32 fresh random bytes for a cluster token key. */
export function generateTokenKeyBytes(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(TOKEN_KEY_BYTES));
}

/** The text of a token key file: the key in base64 and a newline. */
export function formatTokenKeyFile(bytes: Uint8Array): string {
  return `${toBase64(bytes)}\n`;
}

/** Parses the text of a token key file; `source` names it in errors. */
export function parseTokenKeyFile(text: string, source = "token key file"): Uint8Array {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) =>
    l.length > 0 && !l.startsWith("#")
  );
  if (lines.length !== 1) {
    throw new ElasticoreError(
      "token_key_invalid",
      `${source} must hold exactly one base64 key, found ${lines.length} lines`,
    );
  }
  const bytes = fromBase64(lines[0]);
  if (!bytes) throw new ElasticoreError("token_key_invalid", `${source} is not valid base64`);
  if (bytes.length !== TOKEN_KEY_BYTES) {
    throw new ElasticoreError(
      "token_key_invalid",
      `${source} holds ${bytes.length} bytes, need ${TOKEN_KEY_BYTES}`,
    );
  }
  return bytes;
}

/** Imports 32 key bytes as an HMAC-SHA256 token key. */
export async function importHmacTokenKey(bytes: Uint8Array): Promise<TokenKey> {
  if (bytes.length !== TOKEN_KEY_BYTES) {
    throw new ElasticoreError(
      "token_key_invalid",
      `token key holds ${bytes.length} bytes, need ${TOKEN_KEY_BYTES}`,
    );
  }
  const key = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(bytes),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  return { kind: "hmac", key };
}

/** Reads and imports a token key file (`token.key`). */
export async function readTokenKeyFile(path: string): Promise<TokenKey> {
  const text = await readKeyMaterial(path, "token key file");
  return await importHmacTokenKey(parseTokenKeyFile(text, `token key file ${path}`));
}

/** Generates an Ed25519 token key pair (sign with it; share only the public half). */
export async function generateEd25519TokenKey(): Promise<TokenKey> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  return { kind: "ed25519", privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/** What to put in a new token. */
export interface CreateTokenOptions {
  /** Who the token is for. */
  subject: string;
  /** Role granted. */
  role: Role;
  /** Cluster label. */
  cluster: string;
  /** Lifetime, milliseconds (rounded down to whole seconds, at least 1 s). */
  ttlMs: number;
  /** Current time, ms since the epoch (default: `Date.now()`). */
  now?: number;
  /** Token id (default: 16 random bytes, base64url). */
  jti?: string;
}

/** Creates and signs a token. Throws `ElasticoreError` on invalid options. */
export async function createToken(key: TokenKey, opts: CreateTokenOptions): Promise<string> {
  if (!isRole(opts.role)) {
    throw new ElasticoreError("bad_role", `unknown role "${String(opts.role)}"`);
  }
  if (!validSubject(opts.subject)) {
    throw new ElasticoreError(
      "token_bad_subject",
      `subject must be 1-${MAX_SUBJECT_LENGTH} printable characters, got "${opts.subject}"`,
    );
  }
  if (!validLabel(opts.cluster)) {
    throw new ElasticoreError("token_bad_cluster", `cluster label "${opts.cluster}" is invalid`);
  }
  const ttlS = Math.floor(opts.ttlMs / 1000);
  if (!Number.isSafeInteger(ttlS) || ttlS < 1) {
    throw new ElasticoreError("bad_ttl", `token lifetime must be at least 1s`);
  }
  if (opts.jti !== undefined && !/^[\x21-\x7e]{1,64}$/.test(opts.jti)) {
    throw new ElasticoreError("token_bad_jti", "token id must be 1-64 printable characters");
  }
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  const claims: TokenClaims = {
    sub: opts.subject,
    role: opts.role,
    iat,
    exp: iat + ttlS,
    cluster: opts.cluster,
    jti: opts.jti ?? toBase64Url(crypto.getRandomValues(new Uint8Array(16))),
  };
  const tag = key.kind === "hmac" ? HMAC_TAG : ED25519_TAG;
  const body = toBase64Url(new TextEncoder().encode(JSON.stringify(claims)));
  const signed = `${tag}.${body}`;
  const sig = await sign(key, new TextEncoder().encode(signed));
  return `${signed}.${toBase64Url(sig)}`;
}

/** Options of `verifyToken`. */
export interface VerifyTokenOptions {
  /** The cluster label this node belongs to. */
  cluster: string;
  /** Current time, ms since the epoch (default: `Date.now()`). */
  now?: number;
}

/** Verifies a token. Never throws; returns the claims or why the token is refused. */
export async function verifyToken(
  key: TokenKey,
  token: string,
  opts: VerifyTokenOptions,
): Promise<TokenResult> {
  try {
    return await verifyUnsafe(key, token, opts);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return refuse("token_malformed", `token could not be checked: ${msg}`);
  }
}

async function verifyUnsafe(
  key: TokenKey,
  token: unknown,
  opts: VerifyTokenOptions,
): Promise<TokenResult> {
  if (typeof token !== "string" || token.length === 0) {
    return refuse("token_malformed", "token is empty");
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    return refuse("token_malformed", `token is longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  const parts = token.split(".");
  if (parts.length !== 3) {
    return refuse("token_malformed", "token must have three dot-separated parts");
  }
  const [tag, body, sigText] = parts;
  const expectedTag = key.kind === "hmac" ? HMAC_TAG : ED25519_TAG;
  if (tag !== HMAC_TAG && tag !== ED25519_TAG) {
    return refuse("token_malformed", "token does not start with a known version tag");
  }
  const payload = fromBase64Url(body);
  const sig = fromBase64Url(sigText);
  if (!payload || payload.length === 0 || !sig || sig.length === 0) {
    return refuse("token_malformed", "token parts are not valid base64url");
  }
  if (sig.length !== (tag === HMAC_TAG ? 32 : 64)) {
    return refuse("token_malformed", "token signature has the wrong length");
  }
  if (tag !== expectedTag) {
    return refuse("token_bad_signature", "token is signed with a different kind of key");
  }
  const ok = await verifySignature(key, sig, new TextEncoder().encode(`${tag}.${body}`));
  if (!ok) return refuse("token_bad_signature", "token signature does not match");
  const claims = parseClaims(payload);
  if (!claims) return refuse("token_malformed", "token payload is not a valid claim set");
  if (claims.cluster !== opts.cluster) {
    return refuse(
      "token_wrong_cluster",
      `token is for cluster "${claims.cluster}", this is "${opts.cluster}"`,
    );
  }
  const nowS = Math.floor((opts.now ?? Date.now()) / 1000);
  if (nowS >= claims.exp) {
    return refuse("token_expired", `token expired at ${new Date(claims.exp * 1000).toISOString()}`);
  }
  return { ok: true, claims };
}

/** Who a verified token speaks for (the API's `Principal` shape plus the claims). */
export interface TokenPrincipal {
  /** Token subject. */
  subject: string;
  /** Role granted. */
  role: Role;
  /** All claims of the token. */
  claims: TokenClaims;
}

/**
 * A verifier for the HTTP API: resolves a token to its principal or rejects
 * with a 401 `ElasticoreError` carrying the token error code.
 */
export function makeTokenVerifier(
  key: TokenKey,
  cluster: string,
  clock: () => number = Date.now,
): (token: string) => Promise<TokenPrincipal> {
  return async (token) => {
    const r = await verifyToken(key, token, { cluster, now: clock() });
    if (!r.ok) throw tokenErrorToElasticore(r.error);
    return { subject: r.claims.sub, role: r.claims.role, claims: r.claims };
  };
}

function refuse(code: TokenErrorCode, message: string): TokenResult {
  return { ok: false, error: { code, message } };
}

function parseClaims(payload: Uint8Array): TokenClaims | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v);
  if (keys.length !== 6) return undefined;
  const { sub, role, iat, exp, cluster, jti } = v;
  if (typeof sub !== "string" || !validSubject(sub)) return undefined;
  if (!isRole(role)) return undefined;
  if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) return undefined;
  if ((exp as number) <= (iat as number) || (iat as number) < 0) return undefined;
  if (typeof cluster !== "string" || !validLabel(cluster)) return undefined;
  if (typeof jti !== "string" || !/^[\x21-\x7e]{1,64}$/.test(jti)) return undefined;
  return { sub, role, iat: iat as number, exp: exp as number, cluster, jti };
}

async function sign(key: TokenKey, data: Uint8Array): Promise<Uint8Array> {
  if (key.kind === "hmac") {
    return new Uint8Array(await crypto.subtle.sign("HMAC", key.key, new Uint8Array(data)));
  }
  if (!key.privateKey) {
    throw new ElasticoreError("token_key_invalid", "this Ed25519 token key can only verify");
  }
  return new Uint8Array(await crypto.subtle.sign("Ed25519", key.privateKey, new Uint8Array(data)));
}

async function verifySignature(key: TokenKey, sig: Uint8Array, data: Uint8Array) {
  const s = new Uint8Array(sig);
  const d = new Uint8Array(data);
  if (key.kind === "hmac") return await crypto.subtle.verify("HMAC", key.key, s, d);
  return await crypto.subtle.verify("Ed25519", key.publicKey, s, d);
}

/** Whether `s` is an acceptable token subject: 1-128 printable ASCII characters. */
export function validSubject(s: string): boolean {
  return s.length > 0 && s.length <= MAX_SUBJECT_LENGTH && /^[\x21-\x7e]+$/.test(s);
}

/** Whether `s` is an acceptable cluster label (as `security.cluster_label` allows). */
export function validLabel(s: string): boolean {
  return /^[A-Za-z0-9._-]{1,64}$/.test(s);
}

const TTL_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longest token lifetime `parseTtl` accepts: 10 years. */
export const MAX_TTL_MS = 3650 * TTL_UNITS.d;

/** Parses a lifetime such as `30s`, `15m`, `24h` or `7d` into milliseconds. */
export function parseTtl(text: string): number {
  const m = /^([0-9]{1,9})([smhd])$/.exec(text.trim());
  if (!m) {
    throw new ElasticoreError("bad_ttl", `ttl "${text}" is invalid`, {
      hint: "use a whole number followed by s, m, h or d, e.g. 30s, 15m, 24h, 7d",
    });
  }
  const ms = Number(m[1]) * TTL_UNITS[m[2]];
  if (ms < 1000) throw new ElasticoreError("bad_ttl", `ttl "${text}" must be at least 1s`);
  if (ms > MAX_TTL_MS) throw new ElasticoreError("bad_ttl", `ttl "${text}" exceeds 3650d`);
  return ms;
}
