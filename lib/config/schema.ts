/**
 * The node configuration schema (see `/work/notes/config-spec.md`): every
 * section, every key, its default and its valid range, as `zod` schemas. The
 * `Config` type is inferred from the schema, so the two cannot drift.
 *
 * Field schemas are kept per section in {@link SECTION_SCHEMAS} so the loader
 * can validate one key at a time and name the exact source of a bad value.
 *
 * @module
 */
import { z } from "zod";

/** Subsystem log categories: `["elasticore", <subsystem>]`. */
export const SUBSYSTEMS = [
  "config",
  "log",
  "transport",
  "security",
  "sim",
  "raft",
  "swim",
  "dfs",
  "stream",
  "logs",
  "api",
  "lb",
  "node",
  "cli",
] as const;

/** One subsystem name, the second element of a log category. */
export type Subsystem = typeof SUBSYSTEMS[number];

/** Log levels, lowest first (the names logtape uses). */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

/** One log level. */
export type LogLevelName = typeof LOG_LEVELS[number];

/** Node roles. */
export const ROLES = ["master", "worker"] as const;

/** Node ids, raft member ids: lower-case, digits, `_` and `-`, at most 63 characters. */
export const NODE_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const HOST_RE = /^[A-Za-z0-9._:%-]{1,253}$/;
const MAX_BYTES = 2 ** 40;

/** A host and port, e.g. from `127.0.0.1:7400` or `[::1]:7400`. */
export interface HostPort {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** Port, 1..65535. */
  port: number;
}

/** Parses `host:port` (IPv6 as `[addr]:port`); returns undefined when malformed. */
export function parseHostPort(s: string): HostPort | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.%]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (!HOST_RE.test(host) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** A raft member `id=host:port`. */
export interface Member extends HostPort {
  /** The member's node id. */
  id: string;
}

/** Parses a raft member `id=host:port`; returns undefined when malformed. */
export function parseMember(s: string): Member | undefined {
  const eq = s.indexOf("=");
  if (eq < 0) return undefined;
  const id = s.slice(0, eq);
  const hp = parseHostPort(s.slice(eq + 1));
  if (!NODE_ID_RE.test(id) || !hp) return undefined;
  return { id, ...hp };
}

function intIn(def: number, min: number, max: number) {
  const error = `expected an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error }).default(def);
}

function msIn(def: number, min: number, max: number) {
  return intIn(def, min, max);
}

function path(max = 4096) {
  const error = `expected a non-empty path of at most ${max} characters`;
  return z.string({ error }).min(1, { error }).max(max, { error }).refine(
    (s) => !s.includes("\0"),
    { error: "a path cannot contain NUL characters" },
  );
}

function host() {
  const error = "expected a host name or IP address";
  return z.string({ error }).regex(HOST_RE, { error });
}

function port(def: number) {
  return intIn(def, 1, 65535);
}

function enumOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `expected one of ${values.map((v) => `"${v}"`).join(", ")}` });
}

function list<T extends z.ZodType>(item: T, max: number) {
  return z.array(item, { error: "expected an array" }).max(max, {
    error: `expected at most ${max} entries`,
  });
}

const level = enumOf(LOG_LEVELS);

/** Field schemas of every section, in file order. */
export const SECTION_SCHEMAS = {
  node: z.strictObject({
    id: z.string({ error: "expected a string" }).regex(NODE_ID_RE, {
      error: "expected lower-case letters, digits, '_' or '-', starting with a letter or digit, " +
        "at most 63 characters",
    }),
    roles: list(enumOf(ROLES), 2).min(1, { error: "expected at least one role" }).refine(
      (r) => new Set(r).size === r.length,
      { error: "roles must not repeat" },
    ).default(["master", "worker"]),
    data_dir: path().optional(),
  }),
  addresses: z.strictObject({
    bind: host().default("127.0.0.1"),
    advertise: host().optional(),
    rpc_port: port(7400),
    gossip_port: port(7401),
    api_port: port(7443),
  }),
  transport: z.strictObject({
    kind: enumOf(["tcp", "quic"]).default("tcp"),
    max_frame_bytes: intIn(16777216, 1024, 1073741824),
    connect_timeout_ms: msIn(3000, 1, 600000),
    send_queue_frames: intIn(1024, 1, 1048576),
  }),
  security: z.strictObject({
    ca_file: path().default("ca.pem"),
    cert_file: path().optional(),
    key_file: path().optional(),
    gossip_keyring_file: path().default("gossip.keyring"),
    token_key_file: path().default("token.key"),
    cluster_label: z.string({ error: "expected a string" }).regex(/^[A-Za-z0-9._-]{1,64}$/, {
      error: "expected 1 to 64 letters, digits, '.', '_' or '-'",
    }).default("elasticore"),
  }),
  raft: z.strictObject({
    election_timeout_ms: msIn(1000, 10, 60000),
    heartbeat_interval_ms: msIn(100, 1, 10000),
    snapshot_threshold: intIn(10000, 1, 1000000000),
    max_batch_entries: intIn(512, 1, 65536),
    members: list(
      z.string({ error: "expected a string" }).refine((s) => parseMember(s) !== undefined, {
        error: 'expected "id=host:port"',
      }),
      64,
    ).refine((m) => new Set(m.map((s) => s.split("=")[0])).size === m.length, {
      error: "member ids must not repeat",
    }).default([]),
  }),
  swim: z.strictObject({
    probe_interval_ms: msIn(1000, 10, 600000),
    probe_timeout_ms: msIn(500, 1, 600000),
    indirect_checks: intIn(3, 0, 16),
    suspicion_mult: intIn(4, 1, 100),
    retransmit_mult: intIn(4, 1, 100),
    gossip_interval_ms: msIn(200, 1, 600000),
    gossip_nodes: intIn(3, 1, 64),
    push_pull_interval_ms: msIn(30000, 1, 86400000),
    seeds: list(
      z.string({ error: "expected a string" }).refine((s) => parseHostPort(s) !== undefined, {
        error: 'expected "host:port"',
      }),
      256,
    ).default([]),
    lifeguard: z.boolean({ error: "expected true or false" }).default(true),
  }),
  dfs: z.strictObject({
    replication: intIn(3, 1, 16),
    block_bytes: intIn(4194304, 4096, 1073741824),
    memory_tier_bytes: intIn(268435456, 0, MAX_BYTES),
    cache_bytes: intIn(268435456, 0, MAX_BYTES),
    quota_bytes: intIn(0, 0, MAX_BYTES),
  }),
  stream: z.strictObject({
    slots: intIn(4, 1, 1024),
    checkpoint_interval_ms: msIn(2000, 10, 3600000),
    batch_records: intIn(1024, 1, 1048576),
  }),
  logs: z.strictObject({
    level: level.default("info"),
    levels: z.partialRecord(enumOf(SUBSYSTEMS), level, { error: "expected a table" }).default({}),
    file_max_bytes: intIn(10485760, 4096, MAX_BYTES),
    file_max_age_s: intIn(3600, 0, 31536000),
    files_kept: intIn(10, 0, 10000),
  }),
  api: z.strictObject({
    cors_origins: list(
      z.string({ error: "expected a string" }).regex(/^(\*|https?:\/\/[^\s/]+)$/, {
        error: 'expected "*" or an origin like "https://example.com"',
      }),
      64,
    ).default([]),
    max_body_bytes: intIn(268435456, 1, MAX_BYTES),
  }),
};

/** Section names, in file order. */
export type SectionName = keyof typeof SECTION_SCHEMAS;

/** Section names, in file order. */
export const SECTION_NAMES = Object.keys(SECTION_SCHEMAS) as SectionName[];

/** True when `name` is a section of the config file. */
export function isSection(name: string): name is SectionName {
  return Object.hasOwn(SECTION_SCHEMAS, name);
}

/** The schema of one key, or undefined when `section.key` is not a config key. */
export function fieldSchema(section: string, key: string): z.ZodType | undefined {
  if (!isSection(section)) return undefined;
  const shape: Record<string, z.ZodType> = SECTION_SCHEMAS[section].shape;
  return Object.hasOwn(shape, key) ? shape[key] : undefined;
}

/** Every key as `section.key`, in file order. */
export const ALL_KEYS: readonly string[] = SECTION_NAMES.flatMap((s) =>
  Object.keys(SECTION_SCHEMAS[s].shape).map((k) => `${s}.${k}`)
);

/** How a value given as a string (environment, flags) is parsed before validation. */
export type ValueKind = "int" | "bool" | "string" | "list" | "map";

/** The kind of value a key holds, found by looking through default/optional wrappers. */
export function valueKind(schema: z.ZodType): ValueKind {
  let s: z.ZodType = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) {
    s = s.unwrap() as z.ZodType;
  }
  if (s instanceof z.ZodNumber) return "int";
  if (s instanceof z.ZodBoolean) return "bool";
  if (s instanceof z.ZodArray) return "list";
  if (s instanceof z.ZodRecord) return "map";
  return "string";
}

const WILDCARDS = new Set(["0.0.0.0", "::", "0:0:0:0:0:0:0:0"]);

/** The whole configuration: every section, cross-key checks, then derived defaults. */
export const configSchema = z.strictObject(SECTION_SCHEMAS).superRefine((c, ctx) => {
  if (c.raft.heartbeat_interval_ms >= c.raft.election_timeout_ms) {
    ctx.addIssue({
      code: "custom",
      path: ["raft", "heartbeat_interval_ms"],
      params: { related: "raft.election_timeout_ms" },
      message: `must be less than raft.election_timeout_ms (${c.raft.election_timeout_ms})`,
    });
  }
  if (c.swim.probe_timeout_ms >= c.swim.probe_interval_ms) {
    ctx.addIssue({
      code: "custom",
      path: ["swim", "probe_timeout_ms"],
      params: { related: "swim.probe_interval_ms" },
      message: `must be less than swim.probe_interval_ms (${c.swim.probe_interval_ms})`,
    });
  }
  if (c.addresses.api_port === c.addresses.rpc_port) {
    ctx.addIssue({
      code: "custom",
      path: ["addresses", "api_port"],
      params: { related: "addresses.rpc_port" },
      message: `must differ from addresses.rpc_port (${c.addresses.rpc_port})`,
    });
  }
  if (c.transport.kind === "quic" && c.addresses.gossip_port === c.addresses.rpc_port) {
    ctx.addIssue({
      code: "custom",
      path: ["addresses", "gossip_port"],
      params: { related: "addresses.rpc_port" },
      message: `must differ from addresses.rpc_port (${c.addresses.rpc_port}) with QUIC ` +
        "(both are UDP)",
    });
  }
  if (c.addresses.advertise === undefined && WILDCARDS.has(c.addresses.bind)) {
    ctx.addIssue({
      code: "custom",
      path: ["addresses", "advertise"],
      params: { related: "addresses.bind" },
      message: `must be set when addresses.bind is the wildcard "${c.addresses.bind}"`,
    });
  }
}).transform((c) => ({
  ...c,
  node: { ...c.node, data_dir: c.node.data_dir ?? `./data/${c.node.id}` },
  addresses: { ...c.addresses, advertise: c.addresses.advertise ?? c.addresses.bind },
  security: {
    ...c.security,
    cert_file: c.security.cert_file ?? `${c.node.id}.pem`,
    key_file: c.security.key_file ?? `${c.node.id}-key.pem`,
  },
}));

/** A validated node configuration, with every default filled in and paths absolute. */
export type Config = z.output<typeof configSchema>;

/** Keys holding file system paths; relative values are resolved by the loader. */
export const PATH_KEYS = [
  ["node", "data_dir"],
  ["security", "ca_file"],
  ["security", "cert_file"],
  ["security", "key_file"],
  ["security", "gossip_keyring_file"],
  ["security", "token_key_file"],
] as const;
