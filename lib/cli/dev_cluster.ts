/**
 * A local development cluster: `init` into a directory, then one
 * `elasticore serve` process per node on loopback, with TLS and tokens,
 * `client.env` for the CLI, and a clean stop (SIGTERM, then SIGKILL).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { initCluster } from "../security/init.ts";
import { ElasticoreError } from "../errors.ts";

/** Options of a {@link DevCluster}. */
export interface DevClusterOptions {
  /** Number of masters. */
  masters: number;
  /** Number of workers. */
  workers: number;
  /** Directory for configs, certificates and data. */
  dir: string;
  /** First RPC port; node i uses portBase + 10·i (rpc), +1 (gossip), +2 (api). */
  portBase: number;
  /** Stream transport. */
  transport: "tcp" | "quic";
  /** Extra `--set` overrides for every node. */
  set?: string[];
}

/** One node of the dev cluster. */
export interface DevNode {
  /** Node id. */
  id: string;
  /** Its API URL. */
  api: string;
  /** Whether it is a master. */
  master: boolean;
  /** Its process. */
  proc?: Deno.ChildProcess;
}

/**
 * The command line that runs `elasticore` again: the compiled binary itself,
 * or `deno run -P main.ts` when running from source.
 */
export function selfCommand(): { cmd: string; args: string[] } {
  const exe = Deno.execPath();
  const base = exe.split(/[\\/]/).pop() ?? "";
  if (/^deno(\.exe)?$/.test(base)) {
    const main = new URL("../../main.ts", import.meta.url);
    return { cmd: exe, args: ["run", "-P", "--no-prompt", main.pathname] };
  }
  return { cmd: exe, args: [] };
}

/** A cluster of separate node processes on 127.0.0.1. */
export class DevCluster {
  /** Nodes in start order. */
  readonly nodes: DevNode[] = [];
  readonly #o: DevClusterOptions;
  /** The absolute directory. */
  readonly dir: string;

  /** Prepares (does not start) a cluster. */
  constructor(opts: DevClusterOptions) {
    if (opts.masters < 1) {
      throw new ElasticoreError("dev_bad_masters", "--masters must be at least 1");
    }
    if (opts.workers < 0) {
      throw new ElasticoreError("dev_bad_workers", "--workers must be 0 or more");
    }
    const count = opts.masters + opts.workers;
    if (opts.portBase < 1024 || opts.portBase + count * 10 > 65535) {
      throw new ElasticoreError(
        "dev_bad_ports",
        `--port-base ${opts.portBase} leaves no room for ${count} nodes`,
      );
    }
    this.#o = opts;
    this.dir = resolve(opts.dir);
    for (let i = 0; i < count; i++) {
      const master = i < opts.masters;
      const id = master ? `m${i + 1}` : `w${i - opts.masters + 1}`;
      this.nodes.push({ id, master, api: `https://127.0.0.1:${opts.portBase + i * 10 + 2}` });
    }
  }

  /** Writes certificates, tokens and configs unless the directory already holds this layout. */
  async init(): Promise<void> {
    const want = this.nodes.map((n) => n.id);
    const have = await Promise.all(want.map((id) => exists(join(this.dir, `${id}.toml`))));
    if (have.every(Boolean) && await exists(join(this.dir, "admin.token"))) return;
    const nodes = this.nodes.map((n, i) => `${n.id}=127.0.0.1:${this.#o.portBase + i * 10}`).join(
      ",",
    );
    const roles = this.nodes.map((n) => `${n.id}=${n.master ? "master" : "worker"}`).join(",");
    await initCluster(this.dir, { nodes, roles, force: true });
  }

  /** Starts every node process; their stderr goes to `<dir>/<id>.out` (JSON logs: `data/<id>/logs`). */
  async start(): Promise<void> {
    const self = selfCommand();
    for (const n of this.nodes) {
      const out = await Deno.open(join(this.dir, `${n.id}.out`), { create: true, append: true });
      const args = [...self.args, "serve", "--config", join(this.dir, `${n.id}.toml`)];
      args.push("--transport", this.#o.transport);
      for (const s of this.#o.set ?? []) args.push("--set", s);
      n.proc = new Deno.Command(self.cmd, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        clearEnv: true,
        env: nodeEnv(),
      }).spawn();
      n.proc.stderr.pipeTo(out.writable).catch(() => {});
    }
  }

  /** The CA certificate path. */
  get caFile(): string {
    return join(this.dir, "ca.pem");
  }

  /** The admin token. */
  async token(): Promise<string> {
    return (await Deno.readTextFile(join(this.dir, "admin.token"))).trim();
  }

  /** Waits until a master answers `/v1/health/leader` with 200; returns its id. */
  async waitForLeader(timeoutMs: number): Promise<string> {
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(this.caFile)] });
    try {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        for (const n of this.nodes.filter((x) => x.master)) {
          const ok = await fetch(`${n.api}/v1/health/leader`, {
            client,
            signal: AbortSignal.timeout(1000),
          })
            .then(async (r) => {
              await r.body?.cancel();
              return r.status === 200;
            })
            .catch(() => false);
          if (ok) return n.id;
        }
        const dead = this.nodes.find((n) => n.proc && exitedEarly(n));
        if (dead) {
          throw new ElasticoreError(
            "dev_node_exited",
            `node ${dead.id} exited; see ${join(this.dir, `${dead.id}.out`)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new ElasticoreError(
        "dev_no_leader",
        `no leader within ${timeoutMs} ms; see ${this.dir}/*.out`,
      );
    } finally {
      client.close();
    }
  }

  /** Waits until every worker is alive in the cluster view (SWIM) of the API `client` reaches. */
  async waitForWorkers(
    client: {
      json<T>(
        r: { method: string; path: string; idempotent?: boolean; timeoutMs?: number },
      ): Promise<T>;
    },
    timeoutMs: number,
  ): Promise<void> {
    const want = this.nodes.filter((n) => !n.master).map((n) => n.id);
    const deadline = Date.now() + timeoutMs;
    let seen: { id: string; state: string }[] = [];
    let lastError = "";
    while (Date.now() < deadline) {
      // A short limit per poll: one slow answer must not use up the whole wait.
      const c = await client.json<{ members: { id: string; state: string }[] }>({
        method: "GET",
        path: "/v1/cluster",
        idempotent: true,
        timeoutMs: 5_000,
      }).catch((e) => {
        lastError = e instanceof Error ? e.message : String(e);
        return { members: [] };
      });
      if (c.members.length) seen = c.members;
      const alive = new Set(c.members.filter((m) => m.state === "alive").map((m) => m.id));
      if (want.every((id) => alive.has(id))) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    // Name each missing worker, how the masters last saw it, and the end of its log.
    const missing = this.nodes.filter((n) =>
      !n.master && seen.find((m) => m.id === n.id)?.state !== "alive"
    );
    const details = await Promise.all(missing.map(async (n) => {
      const state = seen.find((m) => m.id === n.id)?.state ?? "not a member";
      const exited = n.proc && exitedEarly(n) ? ", its process exited" : "";
      const log = join(this.dir, `${n.id}.out`);
      // stderr first; the node's own log (data/<id>/logs) when stderr has nothing.
      let tail = (await Deno.readTextFile(log).catch(() => "")).trimEnd().split("\n")
        .filter((l) => l && !l.startsWith("Warning Permissions")).slice(-5);
      if (!tail.length) {
        const own = join(this.dir, "data", n.id, "logs", "node.jsonl");
        tail = (await Deno.readTextFile(own).catch(() => "")).trimEnd().split("\n")
          .filter(Boolean).slice(-5).map((l) => l.slice(0, 300));
      }
      return `${n.id} (${state}${exited}; ${log}${
        tail.length ? `, ending:\n    ${tail.join("\n    ")}` : ""
      })`;
    }));
    const view = seen.length
      ? ""
      : `; the cluster view was never read (last error: ${lastError || "no members listed"})`;
    throw new ElasticoreError(
      "dev_workers_missing",
      `workers did not all join within ${timeoutMs} ms: ${details.join("; ")}${view}`,
    );
  }

  /** Writes `<dir>/client.env` (ELASTICORE_API, ELASTICORE_TOKEN, ELASTICORE_CA); returns its path. */
  async writeClientEnv(): Promise<string> {
    const apis = this.nodes.filter((n) => n.master).map((n) => n.api).join(",");
    const path = join(this.dir, "client.env");
    const text = `ELASTICORE_API=${apis}\nELASTICORE_TOKEN=${await this
      .token()}\nELASTICORE_CA=${this.caFile}\n`;
    await Deno.writeTextFile(path, text, { mode: 0o600 });
    return path;
  }

  /** Stops every node: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    const running = this.nodes.filter((n) => n.proc);
    for (const n of running) {
      try {
        n.proc!.kill("SIGTERM");
      } catch {
        // already gone
      }
    }
    await Promise.all(running.map(async (n) => {
      const timer = setTimeout(() => {
        try {
          n.proc!.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, graceMs);
      await n.proc!.status;
      clearTimeout(timer);
      n.proc = undefined;
    }));
  }
}

/**
 * glibc malloc settings every node process runs with (the systemd unit sets the same): a fixed
 * mmap threshold. By default glibc raises the threshold to the size of each large block it frees
 * (up to 32 MiB), after which DFS blocks, chunks and request bodies come from the main heap, and
 * the heap keeps the freed pages: resident memory then climbs for hours while live memory stays
 * flat. Fixed at 128 KiB, buffers above it are mapped and returned to the system when freed.
 */
export const NODE_MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=131072";

/** `env` with `GLIBC_TUNABLES` set to {@link NODE_MALLOC_TUNABLES}, unless it sets its own. */
export function withMallocTunables(env: Record<string, string>): Record<string, string> {
  return env.GLIBC_TUNABLES === undefined ? { ...env, GLIBC_TUNABLES: NODE_MALLOC_TUNABLES } : env;
}

/**
 * The environment of a node process: ours without `ELASTICORE_*` variables
 * (a node takes its configuration from its file; unknown `ELASTICORE_*`
 * variables are errors there), except the debugging switches.
 */
function nodeEnv(): Record<string, string> {
  const keep = new Set(["ELASTICORE_DEBUG", "ELASTICORE_DEBUG_FAULTS"]);
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) =>
      !k.startsWith("ELASTICORE_") || keep.has(k)
    ),
  );
  return withMallocTunables({ ...env, NO_COLOR: "1" });
}

const exitedStatus = new WeakMap<Deno.ChildProcess, boolean>();
function exitedEarly(n: DevNode): boolean {
  const p = n.proc!;
  if (!exitedStatus.has(p)) {
    exitedStatus.set(p, false);
    p.status.then(() => exitedStatus.set(p, true));
  }
  return exitedStatus.get(p) ?? false;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
