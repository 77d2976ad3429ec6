/**
 * HTTP helpers of the proxy: request classification (write or read, may it
 * be retried once it was sent), header rewriting (hop-by-hop headers out,
 * `X-Forwarded-*` in) and {@link ReplayableBody}, a streamed request body
 * that can be replayed to another backend as long as no more than a bounded
 * prefix of it has been read.
 *
 * @module
 */

/** Bodies up to this size are buffered so that any retry can resend them. */
export const MAX_REPLAY_BYTES = 1024 * 1024;

/** How the proxy treats a request. */
export interface RequestKind {
  /** Goes to the leader (PUT, POST, DELETE, PATCH); otherwise to any healthy backend. */
  write: boolean;
  /**
   * Safe to send again after it may have reached a backend: GET, HEAD,
   * OPTIONS, and PUT/DELETE of a KV key (a KV put overwrites), except
   * compare-and-swap (`?cas=`) and `?append`.
   */
  idempotent: boolean;
}

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Classifies a request by method and URL. */
export function classifyRequest(method: string, url: URL): RequestKind {
  const m = method.toUpperCase();
  if (READ_METHODS.has(m)) return { write: false, idempotent: true };
  const kvKey = url.pathname.startsWith("/v1/kv/") && url.pathname.length > "/v1/kv/".length;
  const idempotent = (m === "PUT" || m === "DELETE") && kvKey &&
    !url.searchParams.has("append") && !url.searchParams.has("cas");
  return { write: true, idempotent };
}

/** Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded. */
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

function copyEndToEnd(from: Headers, skip: ReadonlySet<string>): Headers {
  const listed = new Set(
    (from.get("connection") ?? "").split(",").map((t) => t.trim().toLowerCase()).filter(Boolean),
  );
  const out = new Headers();
  for (const [k, v] of from) {
    if (HOP_BY_HOP.has(k) || listed.has(k) || skip.has(k)) continue;
    out.append(k, v);
  }
  return out;
}

const REQUEST_SKIP = new Set(["host", "content-length"]);

/**
 * The headers sent upstream: end-to-end headers of the client's request
 * (`Authorization` included), `Host` and `Content-Length` left to `fetch`,
 * and `X-Forwarded-For` (appended), `-Proto` and `-Host`.
 */
export function upstreamHeaders(req: Headers, clientIp: string, host: string): Headers {
  const out = copyEndToEnd(req, REQUEST_SKIP);
  const prior = req.get("x-forwarded-for");
  out.set("x-forwarded-for", prior ? `${prior}, ${clientIp}` : clientIp);
  out.set("x-forwarded-proto", "https");
  if (!out.has("x-forwarded-host") && host) out.set("x-forwarded-host", host);
  return out;
}

/** Content codings Deno's `fetch` decodes by itself (the body arrives decoded). */
const DECODED_BY_FETCH = new Set(["gzip", "x-gzip", "br"]);

/**
 * The headers sent to the client: end-to-end headers of the backend's
 * response plus `X-Elasticore-Backend`. When `fetch` already decoded the
 * body, its `Content-Encoding` and `Content-Length` no longer apply.
 */
export function downstreamHeaders(res: Headers, backend: string): Headers {
  const out = copyEndToEnd(res, new Set());
  const enc = (res.get("content-encoding") ?? "").trim().toLowerCase();
  if (DECODED_BY_FETCH.has(enc)) {
    out.delete("content-encoding");
    out.delete("content-length");
  }
  out.set("x-elasticore-backend", backend);
  return out;
}

/** Statuses whose responses have no body. */
export function isNullBodyStatus(status: number): boolean {
  return status === 204 || status === 205 || status === 304;
}

/**
 * A request body streamed to one backend at a time. Chunks read from the
 * client are kept while their total stays within `limit`, so an attempt
 * that failed early (e.g. the connection was refused) can be replayed to
 * another backend from byte 0; once more than `limit` bytes were read the
 * body can no longer be replayed and is streamed straight through.
 */
export class ReplayableBody {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #limit: number;
  #log: Uint8Array[] | null = [];
  #bytes = 0;
  #done = false;
  #generation = 0;
  #pending: Promise<Uint8Array | null> | null = null;

  /** Wraps the client's body stream. */
  constructor(source: ReadableStream<Uint8Array>, limit = MAX_REPLAY_BYTES) {
    this.#reader = source.getReader();
    this.#limit = limit;
  }

  /** Whether a new attempt can still start from byte 0. */
  get replayable(): boolean {
    return this.#log !== null;
  }

  /** Bytes read from the client so far. */
  get bytesRead(): number {
    return this.#bytes;
  }

  /** Reads the next client chunk once, however many attempts wait for it. */
  #next(): Promise<Uint8Array | null> {
    this.#pending ??= this.#reader.read().then((r) => {
      this.#pending = null;
      if (r.done) {
        this.#done = true;
        return null;
      }
      this.#bytes += r.value.byteLength;
      if (this.#log) {
        if (this.#bytes > this.#limit) this.#log = null;
        else this.#log.push(r.value);
      }
      return r.value;
    });
    return this.#pending;
  }

  /**
   * A stream of the whole body for a new attempt; the previous attempt's
   * stream errors if it is read again. Throws when no longer replayable.
   */
  stream(): ReadableStream<Uint8Array> {
    if (!this.#log) throw new Error("request body can no longer be replayed");
    const generation = ++this.#generation;
    let i = 0;
    const stale = () => new Error("request body was handed to a newer attempt");
    return new ReadableStream<Uint8Array>({
      pull: async (ctrl) => {
        if (generation !== this.#generation) return ctrl.error(stale());
        if (this.#log && i < this.#log.length) {
          ctrl.enqueue(this.#log[i++]);
          return;
        }
        if (this.#done) return ctrl.close();
        const chunk = await this.#next();
        if (generation !== this.#generation) return ctrl.error(stale());
        if (chunk === null) return ctrl.close();
        i++;
        ctrl.enqueue(chunk);
      },
    });
  }

  /** Stops reading the client's body (after the last attempt). */
  async close(): Promise<void> {
    this.#generation++;
    if (this.#done) return;
    try {
      await this.#reader.cancel();
    } catch {
      // The client's stream is already closed or errored.
    }
  }
}

/**
 * Wraps a response body so that `done` runs exactly once when it ends,
 * errors, or the client cancels it (this is when a request stops being in
 * flight). A null body calls `done` at once.
 */
export function trackBody(
  body: ReadableStream<Uint8Array> | null,
  done: () => void,
): ReadableStream<Uint8Array> | null {
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  if (!body) {
    finish();
    return null;
  }
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const r = await reader.read();
        if (r.done) {
          ctrl.close();
          finish();
        } else ctrl.enqueue(r.value);
      } catch (e) {
        finish();
        ctrl.error(e);
      }
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason).catch(() => {});
    },
  });
}
