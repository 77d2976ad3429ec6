/**
 * `GET|PUT|DELETE /v1/kv/{key}` and `GET /v1/kv?prefix=`: the replicated
 * metadata store over HTTP. Values travel as raw request bodies and come back
 * as JSON strings (UTF-8) or base64 (`"encoding":"base64"`) when not UTF-8.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { ElasticoreError } from "../errors.ts";
import type { Consistency, KvService } from "../raft/node/kv_service.ts";
import type { KvItem } from "../raft/kv_state.ts";
import { MAX_KEY_LENGTH, MAX_VALUE_BYTES } from "../raft/kv_state.ts";
import { need } from "./auth.ts";
import type { ApiModule } from "./app.ts";

/** Keys under this prefix belong to ElastiCore itself and cannot be written through the API. */
export const RESERVED_PREFIX = "_sys/";

/** A key and its value as the API returns them. */
export interface KvItemJson {
  /** The key. */
  key: string;
  /** The value, UTF-8 text or base64. */
  value: string;
  /** Present (`base64`) when the value is not UTF-8. */
  encoding?: "base64";
  /** Raft index of the write that produced it. */
  version: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Renders a stored item as JSON. */
export function itemJson(key: string, item: KvItem): KvItemJson {
  try {
    return { key, value: utf8.decode(item.value), version: item.version };
  } catch {
    let bin = "";
    for (const b of item.value) bin += String.fromCharCode(b);
    return { key, value: btoa(bin), encoding: "base64", version: item.version };
  }
}

/** Validates a key taken from a URL. */
export function validateKey(raw: string, write: boolean): string {
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    throw new ElasticoreError("kv_invalid_key", "the key is not valid percent-encoding");
  }
  if (!key) throw new ElasticoreError("kv_invalid_key", "the key is empty");
  if (key.length > MAX_KEY_LENGTH) {
    throw new ElasticoreError(
      "kv_invalid_key",
      `the key is longer than ${MAX_KEY_LENGTH} characters`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) {
    throw new ElasticoreError("kv_invalid_key", "the key contains control characters");
  }
  if (write && key.startsWith(RESERVED_PREFIX)) {
    throw new ElasticoreError("kv_reserved_key", `keys under "${RESERVED_PREFIX}" are reserved`, {
      status: 403,
    });
  }
  return key;
}

function consistencyOf(c: Context): Consistency {
  const v = c.req.query("consistency") ?? "linearizable";
  if (v !== "linearizable" && v !== "stale") {
    throw new ElasticoreError(
      "kv_invalid_consistency",
      `consistency must be linearizable or stale, got "${v}"`,
    );
  }
  return v;
}

function casOf(c: Context): number | undefined {
  const v = c.req.query("cas");
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v === "" || !Number.isSafeInteger(n) || n < 0) {
    throw new ElasticoreError(
      "kv_invalid_cas",
      `cas must be a version number (0 = must not exist), got "${v}"`,
    );
  }
  return n;
}

function keyOf(c: Context, write: boolean): string {
  const prefix = "/v1/kv/";
  const path = new URL(c.req.url).pathname;
  return validateKey(path.slice(path.indexOf(prefix) + prefix.length), write);
}

function valueTooLarge(): ElasticoreError {
  return new ElasticoreError(
    "kv_value_too_large",
    `values are limited to ${MAX_VALUE_BYTES} bytes`,
    {
      status: 413,
    },
  );
}

/** Reads a value, refusing (without buffering it) a body over the value limit. */
async function readValue(req: Request): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_VALUE_BYTES) throw valueTooLarge();
  if (!req.body) return new Uint8Array(0);
  if (declared !== null && !req.headers.has("transfer-encoding")) {
    const v = new Uint8Array(await req.arrayBuffer());
    if (v.byteLength > MAX_VALUE_BYTES) throw valueTooLarge();
    return v;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_VALUE_BYTES) {
      // Stop reading without cancelling: Deno drains a cancelled request body
      // before it sends the answer.
      reader.releaseLock();
      throw valueTooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const ch of chunks) {
    out.set(ch, off);
    off += ch.byteLength;
  }
  return out;
}

/** The KV routes, served by `kv` (a master's service, or one that forwards to masters). */
export function kvRoutes(kv: () => KvService): ApiModule {
  return (app: Hono) => {
    app.get("/v1/kv", need("kv:read"), async (c) => {
      const prefix = c.req.query("prefix") ?? "";
      const limitRaw = c.req.query("limit") ?? "1000";
      const limit = Number(limitRaw);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 100_000) {
        throw new ElasticoreError("kv_invalid_limit", `limit must be 1..100000, got "${limitRaw}"`);
      }
      const items = await kv().list(prefix, limit, consistencyOf(c));
      return c.json({ items: items.map(([k, it]) => itemJson(k, it)) });
    });
    app.get("/v1/kv/*", need("kv:read"), async (c) => {
      const key = keyOf(c, false);
      const item = await kv().get(key, consistencyOf(c));
      if (!item) {
        throw new ElasticoreError("kv_key_not_found", `key "${key}" does not exist`, {
          status: 404,
        });
      }
      return c.json(itemJson(key, item));
    });
    app.put("/v1/kv/*", need("kv:write"), async (c) => {
      const key = keyOf(c, true);
      const cas = casOf(c);
      const value = await readValue(c.req.raw);
      const r = await kv().put(key, value, cas);
      return c.json({ key, version: r.version, created: !r.existed });
    });
    app.delete("/v1/kv/*", need("kv:write"), async (c) => {
      const key = keyOf(c, true);
      const r = await kv().delete(key, casOf(c));
      return c.json({ key, deleted: r.existed, version: r.version });
    });
  };
}
