/**
 * The API client used by every client command (`kv`, `fs`, `job`, `status`,
 * `logs`, ...): connection options from flags or `ELASTICORE_API`,
 * `ELASTICORE_TOKEN`, `ELASTICORE_CA`; TLS with the cluster CA; failover
 * across several API URLs; API errors turned into one-line CLI errors.
 *
 * @module
 */
import type { Command } from "commander";
import { ElasticoreError } from "../errors.ts";

/** Connection options every client command accepts. */
export interface ClientOptions {
  /** One or more API base URLs (comma-separated), e.g. `https://127.0.0.1:7402`. */
  api?: string;
  /** Bearer token. */
  token?: string;
  /** Path to the cluster CA certificate (PEM). */
  ca?: string;
  /** Machine-readable output. */
  json?: boolean;
}

/** Adds `--api`, `--token`, `--ca` and `--json` to a client command. */
export function withClientOptions(cmd: Command): Command {
  return cmd
    .option("--api <urls>", "API URL(s), comma-separated (env ELASTICORE_API)")
    .option("--token <token>", "bearer token (env ELASTICORE_TOKEN)")
    .option("--ca <file>", "cluster CA certificate (env ELASTICORE_CA)")
    .option("--json", "machine-readable output");
}

/** A request to the API. */
export interface ApiRequest {
  /** HTTP method. */
  method: string;
  /** Path and query, e.g. `/v1/kv/a?consistency=stale`. */
  path: string;
  /** Request body. */
  body?: BodyInit;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** True if the request may be retried on another URL after a connection failure. */
  idempotent?: boolean;
  /** Give up after this many ms. */
  timeoutMs?: number;
}

/** An authenticated client of one cluster. */
export class ApiClient {
  readonly #urls: string[];
  readonly #token?: string;
  readonly #http?: Deno.HttpClient;
  #preferred = 0;

  /** Creates a client; `urls` are tried in turn when one cannot be reached. */
  constructor(urls: string[], token: string | undefined, caPem: string | undefined) {
    if (!urls.length) {
      throw new ElasticoreError("client_no_api", "no API URL given", {
        hint:
          "pass --api https://HOST:PORT or set ELASTICORE_API (see D/client.env after `elasticore dev`)",
      });
    }
    for (const u of urls) {
      try {
        const parsed = new URL(u);
        if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new Error();
      } catch {
        throw new ElasticoreError("client_bad_api", `"${u}" is not an http(s) URL`);
      }
    }
    this.#urls = urls.map((u) => u.replace(/\/+$/, ""));
    this.#token = token;
    if (caPem) this.#http = Deno.createHttpClient({ caCerts: [caPem] });
  }

  /** Builds a client from command options and the environment. */
  static async fromOptions(opts: ClientOptions): Promise<ApiClient> {
    const api = opts.api ?? Deno.env.get("ELASTICORE_API") ?? "";
    const token = opts.token ?? Deno.env.get("ELASTICORE_TOKEN");
    const caFile = opts.ca ?? Deno.env.get("ELASTICORE_CA");
    let caPem: string | undefined;
    if (caFile) {
      try {
        caPem = await Deno.readTextFile(caFile);
      } catch {
        throw new ElasticoreError("client_ca_unreadable", `cannot read CA file ${caFile}`);
      }
    }
    const urls = api.split(",").map((s) => s.trim()).filter(Boolean);
    return new ApiClient(urls, token, caPem);
  }

  /** Sends a request, failing over to the next URL when one cannot be reached. */
  async request(req: ApiRequest): Promise<Response> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < this.#urls.length; attempt++) {
      const i = (this.#preferred + attempt) % this.#urls.length;
      const url = this.#urls[i] + req.path;
      const headers: Record<string, string> = { ...req.headers };
      if (this.#token) headers.authorization = `Bearer ${this.#token}`;
      try {
        const res = await fetch(url, {
          method: req.method,
          headers,
          body: req.body,
          client: this.#http,
          signal: AbortSignal.timeout(req.timeoutMs ?? 30_000),
        });
        // A node that is up but cannot serve (no leader yet, stopping) is worth skipping too.
        if (res.status === 503 && req.idempotent && attempt < this.#urls.length - 1) {
          await res.body?.cancel();
          lastErr = new Error(`503 from ${this.#urls[i]}`);
          continue;
        }
        this.#preferred = i;
        return res;
      } catch (e) {
        lastErr = e;
        // Only requests safe to repeat move on after the request may have been sent.
        if (!req.idempotent && !isConnectError(e)) break;
      }
    }
    const msg = lastErr instanceof Error ? lastErr.message : String(lastErr);
    throw new ElasticoreError("client_unreachable", `cannot reach the API (${msg})`, {
      hint: "check --api / ELASTICORE_API and that the cluster is running",
    });
  }

  /** Sends a request and returns its JSON body, or throws the API's error as one line. */
  async json<T>(req: ApiRequest): Promise<T> {
    const res = await this.request(req);
    return await readJson<T>(res);
  }
}

/** Parses a JSON response, turning `{"error":{...}}` into an {@link ElasticoreError}. */
export async function readJson<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    if (!res.ok) {
      throw new ElasticoreError("api_error", `HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    throw new ElasticoreError("api_bad_response", `the API answered with invalid JSON`);
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ElasticoreError(
      err?.code ?? "api_error",
      err?.message ?? `HTTP ${res.status}`,
      { status: res.status },
    );
  }
  return body as T;
}

function isConnectError(e: unknown): boolean {
  const msg = e instanceof Error ? `${e.name} ${e.message}` : String(e);
  return /connect|refused|unreachable|reset|dns|ECONN|certificate/i.test(msg);
}
