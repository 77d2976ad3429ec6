/**
 * The two 3-member clusters `deno task bench raft` compares, each as real
 * processes on loopback in a temporary directory: ElastiCore masters
 * (`elasticore init` + `elasticore serve`, default configuration) and etcd
 * 3.4 (`/usr/bin/etcd`, default durability: every commit fsynced) with TLS on
 * the client port and mutual TLS between peers, certificates from the
 * cluster PKI (`lib/security/pki.ts`).
 *
 * etcd's client port gets `--cert-file`/`--key-file` only: in etcd 3.4,
 * `--trusted-ca-file` on the client URLs makes client certificates mandatory,
 * and `wrk` cannot present one. That is server-authenticated TLS, like
 * ElastiCore's HTTPS API (which authenticates clients with a bearer token).
 *
 * @module
 */
// pki.ts installs the Reflect metadata shim @peculiar/x509 needs: it stays the first import.
import { createClusterCa, issueNodeCertificate } from "../../lib/security/pki.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { b64, freeBase, waitFor } from "./_raft_wrk.ts";

/** Path of Debian's etcd server. */
export const ETCD = "/usr/bin/etcd";
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A child process whose output goes to a log file. */
export interface Member {
  /** Member name. */
  name: string;
  /** The process. */
  proc: Deno.ChildProcess;
  /** Where its stdout and stderr go. */
  log: string;
  /** Client (HTTPS) base URL. */
  url: string;
}

async function spawnLogged(
  cmd: string,
  args: string[],
  log: string,
  cwd?: string,
): Promise<Deno.ChildProcess> {
  const proc = new Deno.Command(cmd, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const file = await Deno.open(log, { create: true, write: true, truncate: true });
  const sink = () =>
    new WritableStream<Uint8Array>({
      async write(chunk) {
        let off = 0;
        while (off < chunk.length) off += await file.write(chunk.subarray(off));
      },
    });
  // Both streams go to the same file; it closes once both ended.
  Promise.allSettled([proc.stdout.pipeTo(sink()), proc.stderr.pipeTo(sink())])
    .finally(() => file.close());
  return proc;
}

async function stopAll(members: Member[]): Promise<void> {
  for (const m of members) {
    try {
      m.proc.kill("SIGKILL");
    } catch {
      // already exited
    }
    await m.proc.status.catch(() => {});
  }
}

async function tail(path: string, lines = 15): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Last lines of every member's log, for error reports. */
export async function logsOf(members: Member[]): Promise<string> {
  const parts: string[] = [];
  for (const m of members) parts.push(`--- ${m.name} (${m.log})\n${await tail(m.log)}`);
  return parts.join("\n");
}

/** Three ElastiCore masters started with `init` + `serve`. */
export class OursCluster {
  /** The members. */
  readonly members: Member[] = [];
  /** The admin token. */
  token = "";
  readonly #dir: string;
  readonly #http: { client?: Deno.HttpClient } = {};

  /** A cluster to be started in `dir`. */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Runs `elasticore init`, starts three `serve` processes and waits for a leader. */
  async start(): Promise<Member> {
    const base = freeBase([0, 1, 2, 10, 11, 12, 20, 21, 22]);
    const ids = ["m1", "m2", "m3"];
    const nodes = ids.map((id, i) => `${id}=127.0.0.1:${base + 10 * i}`).join(",");
    const conf = join(this.#dir, "cluster");
    const init = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-P", "main.ts", "init", conf, "--nodes", nodes],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!init.success) {
      throw new Error(`elasticore init failed: ${new TextDecoder().decode(init.stderr)}`);
    }
    this.token = (await Deno.readTextFile(join(conf, "admin.token"))).trim();
    this.#http.client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(join(conf, "ca.pem"))],
    });
    for (const [i, id] of ids.entries()) {
      const log = join(this.#dir, `${id}.log`);
      const proc = await spawnLogged(
        Deno.execPath(),
        ["run", "-P", "main.ts", "serve", "--config", join(conf, `${id}.toml`)],
        log,
        ROOT,
      );
      this.members.push({ name: id, proc, log, url: `https://127.0.0.1:${base + 10 * i + 2}` });
    }
    return await waitFor(() => this.leader(), 30_000, "an ElastiCore leader");
  }

  /** The member whose `/v1/health/leader` answers 200, if any. */
  async leader(): Promise<Member | undefined> {
    for (const m of this.members) {
      const res = await fetch(`${m.url}/v1/health/leader`, {
        client: this.#http.client,
        signal: AbortSignal.timeout(1000),
      }).catch(() => undefined);
      await res?.body?.cancel();
      if (res?.status === 200) return m;
    }
    return undefined;
  }

  /** The applied index of `m` (every write is one Raft entry). */
  async applied(m: Member): Promise<number> {
    const res = await fetch(`${m.url}/v1/cluster`, {
      client: this.#http.client,
      headers: { authorization: `Bearer ${this.token}` },
    });
    const j = await res.json() as { raft?: { applied?: number } };
    const applied = j.raft?.applied;
    if (typeof applied !== "number") throw new Error(`no raft.applied in /v1/cluster of ${m.name}`);
    return applied;
  }

  /** Reads `key` back (stale read on `m`); resolves with its value or undefined. */
  async get(m: Member, key: string): Promise<string | undefined> {
    const res = await fetch(`${m.url}/v1/kv/${key}?consistency=stale`, {
      client: this.#http.client,
      headers: { authorization: `Bearer ${this.token}` },
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      return undefined;
    }
    return (await res.json() as { value?: string }).value;
  }

  /** Kills every member. */
  async stop(): Promise<void> {
    await stopAll(this.members);
    this.#http.client?.close();
  }
}

/** Three etcd members, TLS on client URLs, mutual TLS between peers. */
export class EtcdCluster {
  /** The members. */
  readonly members: Member[] = [];
  /** The CA's certificate, PEM. */
  caPem = "";
  readonly #dir: string;
  readonly #http: { client?: Deno.HttpClient } = {};
  readonly #ids = new Map<string, Member>();

  /** A cluster to be started in `dir`. */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Writes certificates, starts three etcd processes and waits for a leader. */
  async start(): Promise<Member> {
    const base = freeBase([0, 1, 10, 11, 20, 21]);
    const names = ["e1", "e2", "e3"];
    const ca = await createClusterCa({ name: "etcd-bench" });
    this.caPem = ca.certPem;
    const caFile = join(this.#dir, "etcd-ca.pem");
    await Deno.writeTextFile(caFile, ca.certPem);
    this.#http.client = Deno.createHttpClient({ caCerts: [ca.certPem] });
    const peer = (i: number) => `https://127.0.0.1:${base + 10 * i + 1}`;
    const initial = names.map((n, i) => `${n}=${peer(i)}`).join(",");
    for (const [i, name] of names.entries()) {
      const cert = await issueNodeCertificate(ca, {
        nodeId: name,
        hosts: ["127.0.0.1", "localhost"],
      });
      const certFile = join(this.#dir, `${name}.pem`);
      const keyFile = join(this.#dir, `${name}-key.pem`);
      await Deno.writeTextFile(certFile, cert.certPem);
      await Deno.writeTextFile(keyFile, cert.keyPem, { mode: 0o600 });
      const client = `https://127.0.0.1:${base + 10 * i}`;
      const log = join(this.#dir, `${name}.log`);
      const proc = await spawnLogged(ETCD, [
        "--name",
        name,
        "--data-dir",
        join(this.#dir, `${name}.etcd`),
        "--listen-client-urls",
        client,
        "--advertise-client-urls",
        client,
        "--listen-peer-urls",
        peer(i),
        "--initial-advertise-peer-urls",
        peer(i),
        "--initial-cluster",
        initial,
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        "elasticore-bench",
        "--cert-file",
        certFile,
        "--key-file",
        keyFile,
        "--peer-cert-file",
        certFile,
        "--peer-key-file",
        keyFile,
        "--peer-trusted-ca-file",
        caFile,
        "--peer-client-cert-auth",
        "--logger",
        "zap",
        "--log-level",
        "warn",
      ], log);
      this.members.push({ name, proc, log, url: client });
    }
    return await waitFor(() => this.leader(), 30_000, "an etcd leader");
  }

  async #status(m: Member): Promise<{ member: string; leader: string; revision: number }> {
    const res = await fetch(`${m.url}/v3/maintenance/status`, {
      method: "POST",
      body: "{}",
      client: this.#http.client,
      signal: AbortSignal.timeout(1000),
    });
    const j = await res.json() as {
      header?: { member_id?: string; revision?: string };
      leader?: string;
    };
    return {
      member: j.header?.member_id ?? "",
      leader: j.leader ?? "",
      revision: Number(j.header?.revision ?? NaN),
    };
  }

  /** The member that leads, if any is known. */
  async leader(): Promise<Member | undefined> {
    for (const m of this.members) {
      const s = await this.#status(m).catch(() => undefined);
      if (!s?.member) continue;
      this.#ids.set(s.member, m);
      if (s.leader && s.leader === s.member) return m;
    }
    return undefined;
  }

  /** The store revision seen by `m` (every put is one revision). */
  async revision(m: Member): Promise<number> {
    return (await this.#status(m)).revision;
  }

  /** Reads one key back through the gateway; resolves with its value (decoded) or undefined. */
  async get(m: Member, key: string): Promise<string | undefined> {
    const res = await fetch(`${m.url}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: b64(key) }),
      client: this.#http.client,
    });
    const j = await res.json() as { kvs?: { value?: string }[] };
    const v = j.kvs?.[0]?.value;
    return v === undefined ? undefined : atob(v);
  }

  /** Kills every member. */
  async stop(): Promise<void> {
    await stopAll(this.members);
    this.#http.client?.close();
  }
}
