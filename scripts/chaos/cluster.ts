/**
 * The cluster a chaos run drives: `elasticore init` into a temporary
 * directory, one `elasticore serve` process per node on 127.0.0.1 (with
 * `ELASTICORE_DEBUG_FAULTS=1`, so `POST /v1/debug/faults` reaches the
 * transport's fault hook), `kill -9` and restart, SIGSTOP/SIGCONT, an HTTPS
 * client that trusts the cluster CA, and `/proc` sampling of each process.
 *
 * @module
 */
import { join } from "node:path";
import { initCluster } from "../../lib/security/init.ts";
import { selfCommand, withMallocTunables } from "../../lib/cli/dev_cluster.ts";
import { DEBUG_FAULTS_ENV } from "../../lib/api/debug_routes.ts";

/** One node process. */
export interface ChaosNode {
  /** Node id (`m1`..., `w1`...). */
  id: string;
  /** Whether it is a master. */
  master: boolean;
  /** API base URL. */
  api: string;
  /** The running process, if any. */
  proc?: Deno.ChildProcess;
  /** Whether it is SIGSTOPped. */
  paused: boolean;
  /** Times it was started. */
  starts: number;
}

/** An HTTP answer. */
export interface Answer {
  /** Status code. */
  status: number;
  /** Body text. */
  text: string;
}

/** Resource use of one process, from `/proc`. */
export interface ProcSample {
  /** Resident set size in KiB. */
  rssKiB: number;
  /** Open file descriptors. */
  fds: number;
  /** JavaScript heap in use in KiB, from the node's `/metrics` (absent when it did not answer). */
  heapKiB?: number;
}

/** Options of {@link ChaosCluster.start}. */
export interface ChaosClusterOptions {
  /** Masters (default 3). */
  masters: number;
  /** Workers (default 4). */
  workers: number;
  /** `--set key=value` overrides for every node. */
  set: string[];
  /** Keep the directory after {@link ChaosCluster.stop}. */
  keep?: boolean;
}

const ROOT = new URL("../../", import.meta.url).pathname;

/** A running chaos cluster. */
export class ChaosCluster {
  /** The directory (configs, certificates, data, `<id>.out` logs). */
  readonly dir: string;
  /** Nodes by id, masters first. */
  readonly nodes = new Map<string, ChaosNode>();
  /** The admin token. */
  readonly token: string;
  readonly #http: Deno.HttpClient;
  readonly #set: string[];
  readonly #keep: boolean;

  private constructor(dir: string, token: string, caPem: string, o: ChaosClusterOptions) {
    this.dir = dir;
    this.token = token;
    this.#http = Deno.createHttpClient({ caCerts: [caPem] });
    this.#set = o.set;
    this.#keep = o.keep ?? false;
  }

  /** Initializes the cluster and starts every node; resolves once a leader answers. */
  static async start(o: ChaosClusterOptions): Promise<ChaosCluster> {
    const dir = await Deno.makeTempDir({ prefix: "ec-chaos-" });
    const ids = [
      ...Array.from({ length: o.masters }, (_, i) => `m${i + 1}`),
      ...Array.from({ length: o.workers }, (_, i) => `w${i + 1}`),
    ];
    const base = await freeBase(ids.length);
    const nodes = ids.map((id, i) => `${id}=127.0.0.1:${base + i * 10}`).join(",");
    const roles = ids.map((id) => `${id}=${id.startsWith("m") ? "master" : "worker"}`).join(",");
    await initCluster(dir, { nodes, roles });
    const token = (await Deno.readTextFile(join(dir, "admin.token"))).trim();
    const c = new ChaosCluster(dir, token, await Deno.readTextFile(join(dir, "ca.pem")), o);
    ids.forEach((id, i) => {
      c.nodes.set(id, {
        id,
        master: id.startsWith("m"),
        api: `https://127.0.0.1:${base + i * 10 + 2}`,
        paused: false,
        starts: 0,
      });
    });
    try {
      for (const id of ids) await c.spawn(id);
      await c.waitForLeader(60_000);
    } catch (e) {
      await c.stop(); // a cluster that did not come up must not keep running
      throw e;
    }
    return c;
  }

  /** Master ids. */
  get masters(): string[] {
    return [...this.nodes.values()].filter((n) => n.master).map((n) => n.id);
  }

  /**
   * Starts (or restarts) the process of `id`; its stderr is appended to `<dir>/<id>.out`.
   * Refuses while a process of `id` still runs (two would fight over its ports).
   */
  async spawn(id: string): Promise<void> {
    const n = this.nodes.get(id)!;
    if (n.proc && !exited.has(n.proc)) throw new Error(`${id} already runs (pid ${n.proc.pid})`);
    const self = selfCommand();
    const args = [...self.args, "serve", "--config", join(this.dir, `${id}.toml`)];
    for (const s of this.#set) args.push("--set", s);
    const env = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("ELASTICORE_")),
    );
    const out = await Deno.open(join(this.dir, `${id}.out`), { create: true, append: true });
    n.proc = new Deno.Command(self.cmd, {
      args,
      cwd: ROOT,
      clearEnv: true,
      env: withMallocTunables({ ...env, NO_COLOR: "1", [DEBUG_FAULTS_ENV]: "1" }),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    n.proc.stderr.pipeTo(out.writable).catch(() => {});
    const p = n.proc;
    p.status.then(() => exited.add(p)).catch(() => {});
    n.paused = false;
    n.starts++;
  }

  /** `kill -9` of `id` (a paused process is killed as it is). */
  async kill(id: string): Promise<void> {
    const n = this.nodes.get(id)!;
    const p = n.proc;
    if (!p) return;
    try {
      p.kill("SIGKILL");
    } catch {
      // already gone
    }
    await p.status;
    forget(n, p);
  }

  /**
   * `elasticore node leave` of `id` (`POST /v1/node/leave`: DFS metadata hand-off, SWIM
   * "left", a graceful stop); waits for its process to exit. Returns the API's answer.
   */
  async leave(id: string): Promise<string> {
    const n = this.nodes.get(id)!;
    const p = n.proc;
    if (!p) throw new Error(`${id} is not running`);
    const r = await this.request(id, "POST", "/v1/node/leave", undefined, 40_000);
    if (r.status !== 202) throw new Error(`leave of ${id}: ${r.status} ${r.text}`);
    const gone = await Promise.race([p.status.then(() => true), sleep(45_000)]);
    if (!gone) throw new Error(`${id} still runs 45 s after it was told to leave`);
    forget(n, p);
    return r.text;
  }

  /**
   * Moves the data directory of `id` (which left, so it refuses to start on it) aside to
   * `data/<id>.left-<n>`, logs kept for a post-mortem: its next start is a new node's.
   */
  async retireData(id: string): Promise<void> {
    const from = join(this.dir, "data", id);
    for (let n = 1;; n++) {
      const to = `${from}.left-${n}`;
      try {
        await Deno.lstat(to);
      } catch {
        await Deno.rename(from, to);
        return;
      }
    }
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

  /** Ids of nodes that run and are not paused. */
  up(filter: (n: ChaosNode) => boolean = () => true): string[] {
    return [...this.nodes.values()].filter((n) => n.proc && !n.paused && filter(n)).map((n) =>
      n.id
    );
  }

  /** An HTTPS request to `id`'s API with the admin token; throws on network errors/timeouts. */
  async request(
    id: string,
    method: string,
    path: string,
    body?: BodyInit,
    timeoutMs = 3_000,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const n = this.nodes.get(id)!;
    const res = await fetch(n.api + path, {
      method,
      body,
      client: this.#http,
      headers: { authorization: `Bearer ${this.token}`, ...headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, text: await res.text() };
  }

  /** The current leader among running, unpaused masters, if one answers. */
  async leader(): Promise<string | undefined> {
    for (const id of this.up((n) => n.master)) {
      const r = await this.request(id, "GET", "/v1/health/leader", undefined, 1_000).catch(() =>
        undefined
      );
      if (r?.status === 200) return id;
    }
    return undefined;
  }

  /** Waits until some master leads. */
  async waitForLeader(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const l = await this.leader();
      if (l) return l;
      const dead = [...this.nodes.values()].find((n) => n.proc && exited.has(n.proc));
      if (dead) throw new Error(`node ${dead.id} exited; see ${join(this.dir, `${dead.id}.out`)}`);
      await sleep(100);
    }
    throw new Error(`no leader within ${timeoutMs} ms; see ${this.dir}/*.out`);
  }

  /** Waits until `via` sees every node alive (SWIM). */
  async waitAllAlive(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const want = [...this.nodes.keys()];
    while (Date.now() < deadline) {
      const via = this.up((n) => n.master)[0];
      const r = via
        ? await this.request(via, "GET", "/v1/cluster", undefined, 2_000).catch(() => undefined)
        : undefined;
      if (r?.status === 200) {
        const members = (JSON.parse(r.text) as { members: { id: string; state: string }[] })
          .members;
        const alive = new Set(members.filter((m) => m.state === "alive").map((m) => m.id));
        if (want.every((id) => alive.has(id))) return true;
      }
      await sleep(250);
    }
    return false;
  }

  /** RSS and open descriptors of every running process (Linux `/proc`). */
  async sample(): Promise<Map<string, ProcSample>> {
    const out = new Map<string, ProcSample>();
    for (const n of this.nodes.values()) {
      if (!n.proc) continue;
      const s = await procSample(n.proc.pid).catch(() => undefined);
      if (!s) continue;
      const heap = n.paused ? undefined : await this.#heapBytes(n.id);
      out.set(n.id, heap === undefined ? s : { ...s, heapKiB: Math.round(heap / 1024) });
    }
    return out;
  }

  /** `elasticore_js_heap_used_bytes` of `id`, or undefined when it does not answer in 2 s. */
  async #heapBytes(id: string): Promise<number | undefined> {
    const r = await this.request(id, "GET", "/metrics", undefined, 2_000).catch(() => undefined);
    const m = r?.status === 200 ? /^elasticore_js_heap_used_bytes (\d+)$/m.exec(r.text) : null;
    return m ? Number(m[1]) : undefined;
  }

  /** Kills every process; removes the directory unless kept. */
  async stop(): Promise<void> {
    for (const n of this.nodes.values()) {
      if (n.paused) this.resume(n.id);
      await this.kill(n.id).catch(() => {});
    }
    this.#http.close();
    if (!this.#keep) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Clears `n`'s process if it is still `p` (another fault may have restarted it meanwhile). */
function forget(n: ChaosNode, p: Deno.ChildProcess): void {
  if (n.proc !== p) return;
  n.proc = undefined;
  n.paused = false;
}

/** Processes that have exited. */
const exited = new WeakSet<Deno.ChildProcess>();

/** RSS (KiB) and open file descriptors of process `pid`. */
export async function procSample(pid: number): Promise<ProcSample> {
  // Deno lets a program read /proc/<pid> only with --allow-all, so ask `cat` and `ls` (the
  // project's permission set has `run`); a failure throws, so no sample is silently zero.
  const run = async (cmd: string, args: string[]) => {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed`);
    return new TextDecoder().decode(out.stdout);
  };
  const status = await run("cat", [`/proc/${pid}/status`]);
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  const fds = (await run("ls", ["-1", `/proc/${pid}/fd`])).split("\n").filter((l) => l).length;
  return { rssKiB: Number(m[1]), fds };
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A port base with `count` × 10 consecutive free TCP and UDP ports, below Linux's ephemeral
 * range (32768+): there the kernel hands out source ports of outgoing connections, and one
 * could take a node's port between this check and the node's bind (seed 3206: "Address
 * already in use"). The integration tests' clusters draw from 20000-32000, so this draws
 * from 10000-20000.
 */
async function freeBase(count: number): Promise<number> {
  const span = count * 10;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10000 + Math.floor(Math.random() * ((20000 - 10000 - span) / 10)) * 10;
    let ok = true;
    for (let i = 0; i < count * 10 && ok; i++) {
      if (i % 10 > 2) continue; // a node uses rpc, gossip (+1) and api (+2)
      try {
        Deno.listen({ hostname: "127.0.0.1", port: base + i }).close();
        Deno.listenDatagram({ hostname: "127.0.0.1", port: base + i, transport: "udp" }).close();
      } catch {
        ok = false;
      }
    }
    if (ok) return base;
    await sleep(10);
  }
  throw new Error("no free port range found");
}
