/**
 * Strict base64 codecs for secrets and tokens. Decoding accepts only the
 * canonical encoding of some byte string (no whitespace, no stray padding, no
 * non-zero trailing bits), so one value has exactly one accepted spelling.
 *
 * @module
 */

const URL_CHARS = /^[A-Za-z0-9_-]*$/;
const STD_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;

/** Encodes bytes as unpadded base64url. */
export function toBase64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Decodes canonical unpadded base64url; `undefined` for anything else. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (!URL_CHARS.test(text) || text.length % 4 === 1) return undefined;
  try {
    const bytes = Uint8Array.fromBase64(text, { alphabet: "base64url" });
    return toBase64Url(bytes) === text ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** Encodes bytes as padded standard base64. */
export function toBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

/** Decodes canonical padded standard base64; `undefined` for anything else. */
export function fromBase64(text: string): Uint8Array | undefined {
  if (!STD_CHARS.test(text) || text.length % 4 !== 0) return undefined;
  try {
    const bytes = Uint8Array.fromBase64(text);
    return toBase64(bytes) === text ? bytes : undefined;
  } catch {
    return undefined;
  }
}
