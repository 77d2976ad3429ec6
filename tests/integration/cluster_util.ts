/**
 * Test helper: a real multi-process ElastiCore cluster on 127.0.0.1, built
 * with `elasticore init` and run as `elasticore serve` processes, with
 * `kill -9`, SIGSTOP/SIGCONT and restart, and an HTTPS client trusting the
 * cluster CA.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { initCluster } from "../../lib/security/init.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Number of masters (default 3). */
  masters?: number;
  /** Number of workers (default 0). */
  workers?: number;
  /** Extra `--set section.key=value` overrides for every node. */
  set?: string[];
}

/**
 * A base port with `span` free TCP and UDP ports above it. Bases stay below
 * Linux's ephemeral range (32768+), where the kernel hands out the source
 * ports of outgoing connections: a node port there could already be taken by
 * some client socket, and the node would fail to bind.
 */
function freePortBase(span: number): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * ((32000 - 20000 - span) / 10)) * 10;
    if (portsFree(base, span)) return base;
  }
  throw new Error(`no ${span} free ports between 20000 and 32000`);
}

/** Whether every port in `[base, base + span)` can be bound on 127.0.0.1, TCP and UDP. */
function portsFree(base: number, span: number): boolean {
  const held: { close(): void }[] = [];
  try {
    for (let p = base; p < base + span; p++) {
      held.push(Deno.listen({ hostname: "127.0.0.1", port: p }));
      held.push(Deno.listenDatagram({ hostname: "127.0.0.1", port: p, transport: "udp" }));
    }
    return true;
  } catch {
    return false;
  } finally {
    for (const h of held) h.close();
  }
}

/** One node process of a test cluster. */
export interface TestNode {
  /** Node id. */
  id: string;
  /** API base URL. */
  api: string;
  /** RPC address `host:port`. */
  rpc: string;
  /** The running process, if any. */
  proc?: Deno.ChildProcess;
  /** Whether it is SIGSTOPped. */
  paused: boolean;
}

/** A running test cluster. */
export class TestCluster {
  /** The directory `init` wrote (configs, certificates, data). */
  readonly dir: string;
  /** Nodes by id. */
  readonly nodes = new Map<string, TestNode>();
  /** The admin token. */
  readonly token: string;
  readonly #http: Deno.HttpClient;
  readonly #set: string[];

  private constructor(dir: string, token: string, caPem: string, set: string[]) {
    this.dir = dir;
    this.token = token;
    this.#http = Deno.createHttpClient({ caCerts: [caPem] });
    this.#set = set;
  }

  /** Initializes and starts a cluster; resolves once a leader answers. */
  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const masters = opts.masters ?? 3;
    const workers = opts.workers ?? 0;
    const dir = await Deno.makeTempDir({ prefix: "ec-cluster-" });
    const ids = [
      ...Array.from({ length: masters }, (_, i) => `m${i + 1}`),
      ...Array.from({ length: workers }, (_, i) => `w${i + 1}`),
    ];
    const base = freePortBase(ids.length * 10);
    const nodes = ids.map((id, i) => `${id}=127.0.0.1:${base + i * 10}`).join(",");
    const roles = ids.map((id) => `${id}=${id.startsWith("m") ? "master" : "worker"}`).join(",");
    await initCluster(dir, { nodes, roles });
    const token = (await Deno.readTextFile(join(dir, "admin.token"))).trim();
    const caPem = await Deno.readTextFile(join(dir, "ca.pem"));
    const c = new TestCluster(dir, token, caPem, opts.set ?? []);
    ids.forEach((id, i) => {
      const port = base + i * 10;
      c.nodes.set(id, {
        id,
        api: `https://127.0.0.1:${port + 2}`,
        rpc: `127.0.0.1:${port}`,
        paused: false,
      });
    });
    for (const id of ids) c.spawn(id);
    await c.waitForLeader(45_000);
    return c;
  }

  /** Starts (or restarts) the process of `id`. */
  spawn(id: string, extraSet: string[] = []): void {
    const n = this.nodes.get(id)!;
    const args = ["run", "-P", "main.ts", "serve", "--config", join(this.dir, `${id}.toml`)];
    for (const s of [...this.#set, ...extraSet]) args.push("--set", s);
    const env = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("ELASTICORE_")),
    );
    n.proc = new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      clearEnv: true,
      env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    n.paused = false;
  }

  /** `kill -9` of `id`. */
  async kill(id: string): Promise<void> {
    const n = this.nodes.get(id)!;
    if (!n.proc) return;
    if (n.paused) n.proc.kill("SIGCONT");
    n.proc.kill("SIGKILL");
    await n.proc.status;
    n.proc = undefined;
    n.paused = false;
  }

  /** SIGSTOP of `id`. */
  pause(id: string): void {
    const n = this.nodes.get(id)!;
    n.proc?.kill("SIGSTOP");
    n.paused = true;
  }

  /** SIGCONT of `id`. */
  resume(id: string): void {
    const n = this.nodes.get(id)!;
    n.proc?.kill("SIGCONT");
    n.paused = false;
  }

  /** Ids of nodes whose process runs (paused or not). */
  running(): string[] {
    return [...this.nodes.values()].filter((n) => n.proc).map((n) => n.id);
  }

  /** An HTTPS request to node `id`'s API with the admin token. */
  async request(
    id: string,
    method: string,
    path: string,
    body?: BodyInit,
    timeoutMs = 3_000,
  ): Promise<{ status: number; json: Record<string, unknown> | undefined; text: string }> {
    const n = this.nodes.get(id)!;
    const res = await fetch(n.api + path, {
      method,
      body,
      client: this.#http,
      headers: { authorization: `Bearer ${this.token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  }

  /** The id of the node whose `/v1/health/leader` answers 200, if any (paused nodes skipped). */
  async leader(): Promise<string | undefined> {
    for (const n of this.nodes.values()) {
      if (!n.proc || n.paused) continue;
      try {
        const r = await this.request(n.id, "GET", "/v1/health/leader", undefined, 1_000);
        if (r.status === 200) return n.id;
      } catch {
        // down or starting
      }
    }
    return undefined;
  }

  /** Waits until some node leads. */
  async waitForLeader(timeoutMs: number, not?: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const l = await this.leader();
      if (l && l !== not) return l;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no leader${not ? ` other than ${not}` : ""} within ${timeoutMs} ms`);
  }

  /**
   * Kills every process and removes the directory (kept, with the nodes' log
   * files, when `ELASTICORE_TEST_KEEP=1`).
   */
  async stop(): Promise<void> {
    for (const id of this.nodes.keys()) await this.kill(id).catch(() => {});
    this.#http.close();
    if (Deno.env.get("ELASTICORE_TEST_KEEP") === "1") {
      console.error(`test cluster kept in ${this.dir}`);
      return;
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
