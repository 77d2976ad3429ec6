/**
 * The gossip keyring file: AES-256 keys in standard base64, one per line; the
 * first key is the primary (it encrypts), all keys decrypt. Blank lines and
 * lines starting with `#` are ignored. Errors name the file and line.
 *
 * Rotation, as in memberlist: install a new key on every node (`installKey`),
 * make it primary everywhere (`useKey`), then remove the old one (`removeKey`).
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { fromBase64, toBase64 } from "./encoding.ts";
import { readKeyMaterial, writeSecretFile } from "./files.ts";

/** Length of a gossip key, bytes (AES-256). */
export const GOSSIP_KEY_BYTES = 32;
/** Most keys a keyring may hold. */
export const MAX_KEYRING_KEYS = 16;

/** A parsed keyring: `keys[0]` is the primary. */
export interface Keyring {
  /** All keys, primary first; never empty. */
  keys: Uint8Array[];
}

/** A fresh random AES-256 key. */
export function generateGossipKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(GOSSIP_KEY_BYTES));
}

/** A keyring with one fresh key. */
export function generateKeyring(): Keyring {
  return { keys: [generateGossipKey()] };
}

/** The primary (encrypting) key. */
export function primaryKey(ring: Keyring): Uint8Array {
  return ring.keys[0];
}

/** Renders a keyring as file text, with a header comment. */
export function formatKeyring(ring: Keyring): string {
  checkRing(ring);
  return [
    "# ElastiCore gossip keyring: base64 AES-256 keys, one per line; the first is primary.",
    ...ring.keys.map((k) => toBase64(k)),
    "",
  ].join("\n");
}

/** Parses keyring file text; `source` names the file in errors. */
export function parseKeyring(text: string, source = "gossip keyring"): Keyring {
  const keys: Uint8Array[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line.length === 0 || line.startsWith("#")) continue;
    const where = `${source} line ${i + 1}`;
    const bytes = fromBase64(line);
    if (!bytes) {
      throw new ElasticoreError("keyring_invalid", `${where}: key is not valid base64`);
    }
    if (bytes.length !== GOSSIP_KEY_BYTES) {
      throw new ElasticoreError(
        "keyring_invalid",
        `${where}: key is ${bytes.length} bytes, need ${GOSSIP_KEY_BYTES} (AES-256)`,
      );
    }
    const first = seen.get(line);
    if (first !== undefined) {
      throw new ElasticoreError(
        "keyring_invalid",
        `${where}: duplicate of the key on line ${first}`,
      );
    }
    seen.set(line, i + 1);
    keys.push(bytes);
  }
  if (keys.length === 0) {
    throw new ElasticoreError("keyring_invalid", `${source}: holds no keys`, {
      hint: "run `elasticore init` or add a base64 AES-256 key",
    });
  }
  if (keys.length > MAX_KEYRING_KEYS) {
    throw new ElasticoreError(
      "keyring_invalid",
      `${source}: holds ${keys.length} keys, at most ${MAX_KEYRING_KEYS} allowed`,
    );
  }
  return { keys };
}

/** Reads and parses a keyring file. */
export async function readKeyringFile(path: string): Promise<Keyring> {
  return parseKeyring(await readKeyMaterial(path, "gossip keyring"), `gossip keyring ${path}`);
}

/** Writes a keyring file, mode 0600. */
export async function writeKeyringFile(path: string, ring: Keyring): Promise<void> {
  await writeSecretFile(path, formatKeyring(ring));
}

/** A keyring with `key` added as a secondary key (no change if present). */
export function installKey(ring: Keyring, key: Uint8Array): Keyring {
  checkKey(key);
  if (indexOf(ring, key) >= 0) return ring;
  const next = { keys: [...ring.keys, key] };
  checkRing(next);
  return next;
}

/** A keyring with the (installed) `key` made primary. */
export function useKey(ring: Keyring, key: Uint8Array): Keyring {
  const i = indexOf(ring, key);
  if (i < 0) throw new ElasticoreError("keyring_no_such_key", "key is not in the keyring");
  return { keys: [ring.keys[i], ...ring.keys.filter((_, j) => j !== i)] };
}

/** A keyring without `key`; the primary key cannot be removed. */
export function removeKey(ring: Keyring, key: Uint8Array): Keyring {
  const i = indexOf(ring, key);
  if (i < 0) throw new ElasticoreError("keyring_no_such_key", "key is not in the keyring");
  if (i === 0) {
    throw new ElasticoreError("keyring_remove_primary", "cannot remove the primary key", {
      hint: "make another key primary first",
    });
  }
  return { keys: ring.keys.filter((_, j) => j !== i) };
}

function indexOf(ring: Keyring, key: Uint8Array): number {
  const text = toBase64(key);
  return ring.keys.findIndex((k) => toBase64(k) === text);
}

function checkKey(key: Uint8Array): void {
  if (key.length !== GOSSIP_KEY_BYTES) {
    throw new ElasticoreError(
      "keyring_invalid",
      `gossip key is ${key.length} bytes, need ${GOSSIP_KEY_BYTES}`,
    );
  }
}

function checkRing(ring: Keyring): void {
  if (ring.keys.length === 0) throw new ElasticoreError("keyring_invalid", "keyring is empty");
  if (ring.keys.length > MAX_KEYRING_KEYS) {
    throw new ElasticoreError(
      "keyring_invalid",
      `keyring holds more than ${MAX_KEYRING_KEYS} keys`,
    );
  }
  ring.keys.forEach(checkKey);
}
