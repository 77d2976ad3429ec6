/**
 * `elasticore init`: everything a new cluster needs, written into one
 * directory: the cluster CA, a certificate per node, the gossip keyring, the
 * token key, an admin token and one TOML configuration per node.
 *
 * Ports: a node given as `id=host:P` uses `P` for RPC, `P+1` for gossip and
 * `P+2` for the HTTPS API. Roles default to master for the first three nodes
 * and worker for the rest; `--roles` overrides them for the nodes it names.
 * A node whose host is a DNS name binds the wildcard `0.0.0.0` and
 * advertises the name; a node given by IP binds and advertises that IP.
 *
 * @module
 */
import { isIP } from "node:net";
import { join } from "node:path";
import { ElasticoreError } from "../errors.ts";
import { writePublicFile, writeSecretFile } from "./files.ts";
import { formatKeyring, generateKeyring } from "./keyring.ts";
import { createClusterCa, isDnsName, issueNodeCertificate } from "./pki.ts";
import {
  createToken,
  formatTokenKeyFile,
  generateTokenKeyBytes,
  importHmacTokenKey,
  validLabel,
} from "./tokens.ts";

/** A node's role in the cluster configuration. */
export type NodeRole = "master" | "worker";

/** One node of a planned cluster. */
export interface NodeSpec {
  /** Node id (CN of its certificate, `node.id` in its config). */
  id: string;
  /** Host other nodes reach it at (IP address or DNS name; IPv6 without brackets). */
  host: string;
  /** RPC port; gossip is `port + 1`, the API `port + 2`. */
  port: number;
  /** Its roles. */
  roles: NodeRole[];
}

/** A validated cluster layout. */
export interface ClusterPlan {
  /** Cluster label (tokens carry it). */
  label: string;
  /** The nodes, in the order given. */
  nodes: NodeSpec[];
}

/** What `initCluster` wrote. */
export interface InitResult {
  /** The directory written. */
  dir: string;
  /** The plan it followed. */
  plan: ClusterPlan;
  /** Every file written, relative to `dir`. */
  files: string[];
  /** Advice about the layout (e.g. an even number of masters). */
  warnings: string[];
}

/** Options of `initCluster` (the CLI flags). */
export interface InitOptions {
  /** `id=host:port,...` */
  nodes: string;
  /** `id=master|worker|master+worker,...` */
  roles?: string;
  /** Cluster label, default `elasticore`. */
  label?: string;
  /** Overwrite files in a non-empty directory. */
  force?: boolean;
  /** Lifetime of the admin token, ms (default 365 days). */
  adminTokenTtlMs?: number;
}

/** Default cluster label. */
export const DEFAULT_LABEL = "elasticore";
/** How many leading nodes are masters when `--roles` does not say. */
export const DEFAULT_MASTERS = 3;
const NODE_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ADMIN_TOKEN_TTL_MS = 365 * 24 * 3600 * 1000;
/** Ports a node occupies above its RPC port (gossip +1, API +2). */
export const PORT_SPAN = 3;

/** The three ports of a node given its RPC port. */
export function nodePorts(port: number): { rpc: number; gossip: number; api: number } {
  return { rpc: port, gossip: port + 1, api: port + 2 };
}

function bad(what: string, hint?: string): never {
  throw new ElasticoreError("init_bad_option", what, hint ? { hint } : {});
}

function splitList(text: string, flag: string): string[] {
  const items = text.split(",").map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s.length === 0)) {
    bad(`${flag} has an empty entry in "${text}"`, `use ${flag} a=x,b=y with no empty entries`);
  }
  return items;
}

/** Parses `--nodes id=host:port,...` (IPv6 hosts in brackets: `m1=[::1]:7400`). */
export function parseNodesOption(text: string): Omit<NodeSpec, "roles">[] {
  const out: Omit<NodeSpec, "roles">[] = [];
  const seen = new Set<string>();
  for (const item of splitList(text, "--nodes")) {
    const eq = item.indexOf("=");
    if (eq < 0) bad(`--nodes entry "${item}" is not id=host:port`);
    const id = item.slice(0, eq);
    const addr = item.slice(eq + 1);
    if (!NODE_ID_RE.test(id)) {
      bad(
        `node id "${id}" in --nodes is invalid`,
        "use 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
      );
    }
    if (seen.has(id)) bad(`node id "${id}" appears twice in --nodes`);
    seen.add(id);
    const m = /^(?:\[([^\]]*)\]|([^:\[\]]*)):([^:]*)$/.exec(addr);
    if (!m) bad(`address "${addr}" of node ${id} is not host:port (IPv6 as [addr]:port)`);
    const host = m[1] ?? m[2];
    if (m[1] !== undefined && isIP(host) !== 6) {
      bad(`host "${host}" of node ${id} is not an IPv6 address`);
    }
    if (isIP(host) === 0 && !isDnsName(host)) {
      bad(`host "${host}" of node ${id} is neither an IP address nor a DNS name`);
    }
    const portText = m[3];
    const port = Number(portText);
    const maxPort = 65535 - (PORT_SPAN - 1);
    if (!/^[0-9]{1,5}$/.test(portText) || port < 1 || port > maxPort) {
      bad(
        `port "${portText}" of node ${id} is invalid`,
        `use 1-${maxPort}: the node also uses port+1 (gossip) and port+2 (API)`,
      );
    }
    out.push({ id, host: host.toLowerCase(), port });
  }
  return out;
}

/** Parses `--roles id=master|worker|master+worker,...`. */
export function parseRolesOption(text: string, ids: readonly string[]): Map<string, NodeRole[]> {
  const out = new Map<string, NodeRole[]>();
  for (const item of splitList(text, "--roles")) {
    const eq = item.indexOf("=");
    if (eq < 0) bad(`--roles entry "${item}" is not id=role`);
    const id = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (!ids.includes(id)) bad(`--roles names node "${id}", which is not in --nodes`);
    if (out.has(id)) bad(`node "${id}" appears twice in --roles`);
    const roles: NodeRole[] = [];
    for (const r of value.split("+")) {
      if (r !== "master" && r !== "worker") {
        bad(`role "${r}" of node ${id} is invalid`, "use master, worker or master+worker");
      }
      if (!roles.includes(r)) roles.push(r);
    }
    out.set(id, roles);
  }
  return out;
}

/** Validates the options into a cluster plan, with errors naming the bad item. */
export function planCluster(opts: Pick<InitOptions, "nodes" | "roles" | "label">): ClusterPlan {
  const label = opts.label ?? DEFAULT_LABEL;
  if (!validLabel(label)) {
    bad(`cluster label "${label}" is invalid`, "use 1-64 of A-Z a-z 0-9 _ . -");
  }
  const parsed = parseNodesOption(opts.nodes);
  const explicit = opts.roles === undefined
    ? new Map<string, NodeRole[]>()
    : parseRolesOption(opts.roles, parsed.map((n) => n.id));
  const nodes: NodeSpec[] = parsed.map((n, i) => ({
    ...n,
    roles: explicit.get(n.id) ?? [i < DEFAULT_MASTERS ? "master" : "worker"],
  }));
  for (let i = 0; i < nodes.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = nodes[j];
      const b = nodes[i];
      if (a.host === b.host && Math.abs(a.port - b.port) < PORT_SPAN) {
        bad(
          `nodes ${a.id} and ${b.id} overlap on ${b.host}: ports ${a.port}-${a.port + 2} ` +
            `and ${b.port}-${b.port + 2}`,
          "space ports on one host at least 3 apart (rpc, gossip, api)",
        );
      }
    }
  }
  if (!nodes.some((n) => n.roles.includes("master"))) {
    bad("no node has the master role", "give at least one node the master role with --roles");
  }
  return { label, nodes };
}

function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function tomlString(s: string): string {
  return JSON.stringify(s);
}

function tomlArray(items: string[]): string {
  return `[${items.map(tomlString).join(", ")}]`;
}

/** The TOML configuration of `node` (see docs on the config file); paths relative to it. */
export function renderNodeConfig(plan: ClusterPlan, node: NodeSpec): string {
  const ports = nodePorts(node.port);
  const masters = plan.nodes.filter((n) => n.roles.includes("master"));
  const bind = isIP(node.host) !== 0 ? node.host : "0.0.0.0";
  return [
    `# ElastiCore node ${node.id}, written by \`elasticore init\`.`,
    "# Paths are relative to this file's directory; unlisted keys take their defaults.",
    "",
    "[node]",
    `id = ${tomlString(node.id)}`,
    `roles = ${tomlArray(node.roles)}`,
    `data_dir = ${tomlString(`./data/${node.id}`)}`,
    "",
    "[addresses]",
    `bind = ${tomlString(bind)}`,
    `advertise = ${tomlString(node.host)}`,
    `rpc_port = ${ports.rpc}`,
    `gossip_port = ${ports.gossip}`,
    `api_port = ${ports.api}`,
    "",
    "[transport]",
    `kind = "tcp"`,
    "",
    "[security]",
    `ca_file = "ca.pem"`,
    `cert_file = ${tomlString(`${node.id}.pem`)}`,
    `key_file = ${tomlString(`${node.id}-key.pem`)}`,
    `gossip_keyring_file = "gossip.keyring"`,
    `token_key_file = "token.key"`,
    `cluster_label = ${tomlString(plan.label)}`,
    "",
    "[raft]",
    `members = ${tomlArray(masters.map((m) => `${m.id}=${hostPort(m.host, m.port)}`))}`,
    "",
    "[swim]",
    `seeds = ${tomlArray(masters.map((m) => hostPort(m.host, nodePorts(m.port).gossip)))}`,
    "",
  ].join("\n");
}

async function prepareDir(dir: string, force: boolean): Promise<void> {
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (!info) {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return;
  }
  if (!info.isDirectory) {
    throw new ElasticoreError("init_not_a_directory", `${dir} exists and is not a directory`);
  }
  if (force) return;
  for await (const _ of Deno.readDir(dir)) {
    throw new ElasticoreError("init_dir_not_empty", `directory ${dir} is not empty`, {
      hint: "choose an empty directory, or pass --force to overwrite the files init writes",
    });
  }
}

/** Writes a new cluster's keys, certificates, tokens and configs into `dir`. */
export async function initCluster(dir: string, opts: InitOptions): Promise<InitResult> {
  const plan = planCluster(opts);
  await prepareDir(dir, opts.force ?? false);
  const files: string[] = [];
  const put = async (name: string, text: string, secret: boolean) => {
    const path = join(dir, name);
    if (secret) await writeSecretFile(path, text);
    else await writePublicFile(path, text);
    files.push(name);
  };

  const caName = `ElastiCore ${plan.label} CA`;
  const ca = await createClusterCa({ name: caName.length <= 64 ? caName : plan.label });
  await put("ca.pem", ca.certPem, false);
  await put("ca-key.pem", ca.keyPem, true);
  for (const node of plan.nodes) {
    const hosts = [node.host, "127.0.0.1", "localhost"];
    const cert = await issueNodeCertificate(ca, { nodeId: node.id, hosts });
    await put(`${node.id}.pem`, cert.certPem, false);
    await put(`${node.id}-key.pem`, cert.keyPem, true);
  }
  await put("gossip.keyring", formatKeyring(generateKeyring()), true);
  const tokenKeyBytes = generateTokenKeyBytes();
  await put("token.key", formatTokenKeyFile(tokenKeyBytes), true);
  const admin = await createToken(await importHmacTokenKey(tokenKeyBytes), {
    subject: "admin",
    role: "admin",
    cluster: plan.label,
    ttlMs: opts.adminTokenTtlMs ?? ADMIN_TOKEN_TTL_MS,
  });
  await put("admin.token", `${admin}\n`, true);
  for (const node of plan.nodes) {
    await put(`${node.id}.toml`, renderNodeConfig(plan, node), false);
  }

  const warnings: string[] = [];
  const masters = plan.nodes.filter((n) => n.roles.includes("master")).length;
  if (masters % 2 === 0) {
    warnings.push(
      `${masters} masters tolerate no more failures than ${masters - 1}; prefer an odd number`,
    );
  }
  if (!plan.nodes.some((n) => n.roles.includes("worker"))) {
    warnings.push("no node has the worker role, so stream jobs cannot run");
  }
  return { dir, plan, files, warnings };
}
