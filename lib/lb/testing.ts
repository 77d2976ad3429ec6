/**
 * Small real HTTPS servers that answer like a node's API as far as the load
 * balancer cares, for the load balancer's tests and benchmark (not used by
 * the product): the health routes (`/v1/health`, `/v1/health/leader`), an
 * in-memory `GET|HEAD|PUT|DELETE /v1/kv/{key}` (writes only on the leader,
 * 503 `not_leader` elsewhere), `POST /v1/jobs`, `PUT /v1/fs/{path}` (answers
 * the SHA-256 of the streamed body) and `GET /v1/blob?bytes=N` (streams N
 * bytes). Tests switch leadership, health, failures and delays at run time.
 *
 * @module
 */
// pki.ts installs the Reflect metadata shim @peculiar/x509 needs: it stays the first import.
import {
  type CertifiedKey,
  type ClusterCa,
  createClusterCa,
  issueNodeCertificate,
} from "../security/pki.ts";
import { type LoadBalancer, type LoadBalancerOptions, startLoadBalancer } from "./server.ts";

/** A cluster CA and certificates for 127.0.0.1, one per name. */
export async function testPki(
  names: string[],
): Promise<{ ca: ClusterCa; certs: Record<string, CertifiedKey> }> {
  const ca = await createClusterCa({ name: "lb-test" });
  const certs: Record<string, CertifiedKey> = {};
  for (const n of names) {
    certs[n] = await issueNodeCertificate(ca, { nodeId: n, hosts: ["127.0.0.1", "localhost"] });
  }
  return { ca, certs };
}
/** Lower-case hexadecimal of `bytes`. */
export function encodeHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One request a test backend received. */
export interface SeenRequest {
  /** Method. */
  method: string;
  /** Path and query. */
  path: string;
  /** Request headers. */
  headers: Headers;
}

/** Options of {@link TestBackend.start}. */
export interface TestBackendOptions {
  /** Name reported by `/v1/health` and in `X-Test-Backend`. */
  name: string;
  /** Certificate, PEM. */
  certPem: string;
  /** Key, PEM. */
  keyPem: string;
  /** Starts as leader. */
  leader?: boolean;
  /** Listen port (0 = ephemeral). */
  port?: number;
  /** Shared KV map (so a new leader sees earlier writes, like a replicated store). */
  kv?: Map<string, Uint8Array>;
  /** Record every request in {@link TestBackend.seen} (off for benchmarks). */
  record?: boolean;
}

/** The byte at position `i` of `/v1/blob` output. */
export function blobByte(i: number): number {
  return (i * 31 + 7) & 0xff;
}

/** A controllable HTTPS backend. */
export class TestBackend {
  /** Name. */
  readonly name: string;
  /** Answers 200 on `/v1/health/leader` and accepts writes. */
  leader: boolean;
  /** Answers 200 on `/v1/health` (and leader) when true, 503 when false. */
  healthy = true;
  /** When set, every non-health route answers this status. */
  failStatus?: number;
  /** Delay before answering non-health routes, ms. */
  delayMs = 0;
  /** Requests seen on non-health routes. */
  readonly seen: SeenRequest[] = [];
  /** Number of health probes answered. */
  probes = 0;
  /** Requests in progress on non-health routes. */
  inFlight = 0;
  /** The KV data. */
  readonly kv: Map<string, Uint8Array>;
  readonly #opts: TestBackendOptions;
  #gate?: Promise<void>;
  #server?: Deno.HttpServer<Deno.NetAddr>;
  #port = 0;

  private constructor(opts: TestBackendOptions) {
    this.name = opts.name;
    this.leader = opts.leader ?? false;
    this.kv = opts.kv ?? new Map();
    this.#opts = opts;
  }

  /** Starts a backend on 127.0.0.1. */
  static start(opts: TestBackendOptions): TestBackend {
    const b = new TestBackend(opts);
    b.#listen(opts.port ?? 0);
    return b;
  }

  /** Its origin, `https://127.0.0.1:PORT` (the same across restarts). */
  get url(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  /** Whether it is listening. */
  get running(): boolean {
    return this.#server !== undefined;
  }

  /** Holds every non-health request until the returned function is called. */
  hold(): () => void {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#gate = promise;
    return () => {
      this.#gate = undefined;
      resolve();
    };
  }

  /** Requests seen with `method` whose path starts with `prefix`. */
  count(method: string, prefix = "/"): number {
    return this.seen.filter((r) => r.method === method && r.path.startsWith(prefix)).length;
  }

  #listen(port: number): void {
    this.#server = Deno.serve({
      hostname: "127.0.0.1",
      port,
      cert: this.#opts.certPem,
      key: this.#opts.keyPem,
      onListen: () => {},
    }, (req) => this.#handle(req));
    this.#port = this.#server.addr.port;
  }

  /** Shuts the server down (in-flight requests finish first). */
  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    await s?.shutdown();
  }

  /** Listens again on the same port. */
  restart(): void {
    if (!this.#server) this.#listen(this.#port);
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    const headers = { "x-test-backend": this.name };
    if (path === "/v1/health" || path === "/v1/health/leader") {
      this.probes++;
      const ok = this.healthy && (path === "/v1/health" || this.leader);
      return Response.json({ node: this.name, status: ok ? "ok" : "unavailable" }, {
        status: ok ? 200 : 503,
        headers,
      });
    }
    if (this.#opts.record !== false) {
      this.seen.push({
        method: req.method,
        path: path + url.search,
        headers: new Headers(req.headers),
      });
    }
    this.inFlight++;
    try {
      if (this.#gate) await this.#gate;
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      if (this.failStatus !== undefined) {
        await req.body?.cancel();
        return Response.json({ error: { code: "test_failure", message: this.name } }, {
          status: this.failStatus,
          headers,
        });
      }
      return await this.#route(req, url, headers);
    } finally {
      this.inFlight--;
    }
  }

  async #route(req: Request, url: URL, headers: Record<string, string>): Promise<Response> {
    const path = url.pathname;
    const write = req.method !== "GET" && req.method !== "HEAD";
    if (write && !this.leader) {
      await req.body?.cancel();
      return Response.json(
        { error: { code: "not_leader", message: `${this.name} is a follower` } },
        {
          status: 503,
          headers,
        },
      );
    }
    if (path.startsWith("/v1/kv/")) {
      const key = decodeURIComponent(path.slice("/v1/kv/".length));
      if (req.method === "GET" || req.method === "HEAD") {
        const v = this.kv.get(key);
        if (!v) {
          return Response.json({ error: { code: "not_found", message: key } }, {
            status: 404,
            headers,
          });
        }
        return new Response(req.method === "HEAD" ? null : v.slice(), { headers });
      }
      if (req.method === "PUT") {
        this.kv.set(key, new Uint8Array(await req.arrayBuffer()));
        return Response.json({ ok: true, key }, { headers });
      }
      if (req.method === "DELETE") {
        return Response.json({ deleted: this.kv.delete(key) }, { headers });
      }
    }
    if (path === "/v1/jobs" && req.method === "POST") {
      await req.body?.cancel();
      return Response.json({ id: `job-${this.seen.length}` }, { status: 201, headers });
    }
    if (path.startsWith("/v1/fs/") && req.method === "PUT" && req.body) {
      let bytes = 0;
      const chunks: Uint8Array[] = [];
      for await (const c of req.body) {
        bytes += c.byteLength;
        chunks.push(c);
      }
      const all = new Uint8Array(bytes);
      let off = 0;
      for (const c of chunks) {
        all.set(c, off);
        off += c.byteLength;
      }
      const sha256 = encodeHex(new Uint8Array(await crypto.subtle.digest("SHA-256", all)));
      return Response.json({ bytes, sha256 }, { headers });
    }
    if (path === "/v1/blob" && req.method === "GET") {
      const total = Number(url.searchParams.get("bytes") ?? "0");
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(ctrl) {
          if (sent >= total) return ctrl.close();
          const n = Math.min(64 * 1024, total - sent);
          const chunk = new Uint8Array(n);
          for (let i = 0; i < n; i++) chunk[i] = blobByte(sent + i);
          sent += n;
          ctrl.enqueue(chunk);
        },
      });
      return new Response(body, {
        headers: { ...headers, "content-type": "application/octet-stream" },
      });
    }
    await req.body?.cancel();
    return Response.json({ error: { code: "not_found", message: path } }, { status: 404, headers });
  }
}

/**
 * A TLS server that answers the health routes (as a leader, or not) but
 * drops every other request's connection after reading it: the request
 * was sent and may have been acted on, yet no answer comes back.
 */
export class DroppingBackend {
  /** Requests read and dropped. */
  dropped = 0;
  /** Answers 200 on `/v1/health/leader`. */
  leader: boolean;
  readonly #listener: Deno.TlsListener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #loop: Promise<void>;

  /** Starts listening on 127.0.0.1 (HTTP/1.1 only). */
  constructor(opts: { certPem: string; keyPem: string; leader?: boolean }) {
    this.leader = opts.leader ?? false;
    this.#listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: opts.certPem,
      key: opts.keyPem,
    });
    this.#loop = this.#accept();
  }

  /** Its origin. */
  get url(): string {
    return `https://127.0.0.1:${(this.#listener.addr as Deno.NetAddr).port}`;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) this.#serve(conn);
    } catch {
      // The listener was closed.
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    this.#conns.add(conn);
    const buf = new Uint8Array(64 * 1024);
    let text = "";
    try {
      while (!text.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) return;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      const [method, target] = text.split(" ", 2);
      if (method === "GET" && (target === "/v1/health" || target === "/v1/health/leader")) {
        const ok = target === "/v1/health" || this.leader;
        const body = ok ? '{"status":"ok"}' : '{"status":"follower"}';
        const head = `HTTP/1.1 ${ok ? "200 OK" : "503 Service Unavailable"}\r\n` +
          `content-type: application/json\r\ncontent-length: ${body.length}\r\n` +
          `connection: close\r\n\r\n`;
        await conn.write(new TextEncoder().encode(head + body));
      } else {
        this.dropped++;
      }
    } catch {
      // The peer went away.
    } finally {
      this.#conns.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }

  /** Stops listening and closes open connections. */
  async stop(): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // Already closed.
      }
    }
    await this.#loop;
  }
}

/** Backends plus a load balancer in front of them, all on 127.0.0.1. */
export interface TestCluster {
  /** The CA everything trusts. */
  ca: ClusterCa;
  /** Certificates by name (`lb`, `b1`, `b2`, ...). */
  certs: Record<string, CertifiedKey>;
  /** The controllable backends, in configured order (before `extra`). */
  backends: TestBackend[];
  /** The load balancer. */
  lb: LoadBalancer;
  /** A client trusting the CA. */
  client: Deno.HttpClient;
  /** `fetch` through the load balancer. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Stops the load balancer and the backends. */
  close(): Promise<void>;
}

/** Options of {@link startTestCluster}. */
export interface TestClusterOptions {
  /** Number of backends (default 3). */
  backends?: number;
  /** Index of the leader, or null for none (default 0). */
  leader?: number | null;
  /** Extra backend origins appended after the test backends (e.g. a {@link DroppingBackend}). */
  extra?: (certs: Record<string, CertifiedKey>) => string[];
  /** Load balancer settings over the test defaults. */
  lb?: Partial<Omit<LoadBalancerOptions, "caPem" | "certPem" | "keyPem" | "backends">>;
  /** Record requests in the backends (default true). */
  record?: boolean;
}

let pkiCache: Promise<{ ca: ClusterCa; certs: Record<string, CertifiedKey> }> | undefined;

/** Starts backends sharing one KV map and a load balancer in front of them. */
export async function startTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const n = opts.backends ?? 3;
  pkiCache ??= testPki(["lb", "b1", "b2", "b3", "b4", "x1"]);
  const { ca, certs } = await pkiCache;
  const kv = new Map<string, Uint8Array>();
  const leader = opts.leader === undefined ? 0 : opts.leader;
  const backends = Array.from({ length: n }, (_, i) =>
    TestBackend.start({
      name: `b${i + 1}`,
      ...certs[`b${i + 1}`],
      leader: i === leader,
      kv,
      record: opts.record,
    }));
  const extra = opts.extra?.(certs) ?? [];
  const lb = await startLoadBalancer({
    hostname: "127.0.0.1",
    port: 0,
    backends: [...backends.map((b) => b.url), ...extra],
    caPem: ca.certPem,
    certPem: certs.lb.certPem,
    keyPem: certs.lb.keyPem,
    policy: "round-robin",
    checkIntervalMs: 50,
    fall: 2,
    rise: 2,
    timeoutMs: 2000,
    retries: 2,
    ...opts.lb,
  });
  const client = Deno.createHttpClient({ caCerts: [ca.certPem] });
  return {
    ca,
    certs,
    backends,
    lb,
    client,
    fetch: (path, init = {}) => fetch(lb.url + path, { ...init, client }),
    async close() {
      await lb.stop();
      await Promise.all(backends.map((b) => b.stop()));
      client.close();
    },
  };
}
