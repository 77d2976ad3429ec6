import assert from "node:assert/strict";
import { join } from "node:path";
import {
  buildConfig,
  type Config,
  formatConfig,
  loadConfig,
  type LoadConfigOptions,
  parseHostPort,
  parseMember,
} from "../../lib/config/mod.ts";
import { findKeyLine, splitDottedKey } from "../../lib/config/toml_lines.ts";
import { parseValue } from "../../lib/config/values.ts";

const FILE = "/srv/ec/node.toml";
const CWD = "/home/op";
const ID = '[node]\nid = "m1"\n';

function load(text: string | undefined, opts: Omit<LoadConfigOptions, "text"> = {}): Config {
  return buildConfig({
    file: text === undefined ? undefined : FILE,
    env: {},
    cwd: CWD,
    ...opts,
    text,
  });
}

Deno.test("config: defaults fill every key but node.id", () => {
  const c = load(ID);
  assert.equal(c.node.id, "m1");
  assert.deepEqual(c.node.roles, ["master", "worker"]);
  assert.equal(c.node.data_dir, "/srv/ec/data/m1");
  assert.deepEqual(c.addresses, {
    bind: "127.0.0.1",
    advertise: "127.0.0.1",
    rpc_port: 7400,
    gossip_port: 7401,
    api_port: 7443,
  });
  assert.equal(c.transport.kind, "tcp");
  assert.equal(c.transport.max_frame_bytes, 16777216);
  assert.equal(c.security.cert_file, "/srv/ec/m1.pem");
  assert.equal(c.security.key_file, "/srv/ec/m1-key.pem");
  assert.equal(c.security.cluster_label, "elasticore");
  assert.equal(c.raft.election_timeout_ms, 1000);
  assert.equal(c.raft.heartbeat_interval_ms, 100);
  assert.deepEqual(c.raft.members, []);
  assert.equal(c.swim.lifeguard, true);
  assert.equal(c.swim.push_pull_interval_ms, 30000);
  assert.equal(c.dfs.replication, 3);
  assert.equal(c.dfs.quota_bytes, 0);
  assert.equal(c.stream.slots, 4);
  assert.equal(c.logs.level, "info");
  assert.deepEqual(c.logs.levels, {});
  assert.equal(c.logs.files_kept, 10);
  assert.deepEqual(c.api.cors_origins, []);
});

Deno.test("config: the spec's example file loads as written", () => {
  const text = specExample();
  const c = load(text);
  assert.deepEqual(c.node.roles, ["master"]);
  assert.equal(c.node.data_dir, "/srv/ec/data/m1");
  assert.deepEqual(c.raft.members, [
    "m1=127.0.0.1:7400",
    "m2=127.0.0.1:7410",
    "m3=127.0.0.1:7420",
  ]);
  assert.deepEqual(c.logs.levels, { raft: "debug" });
  assert.deepEqual(c.swim.seeds, ["127.0.0.1:7401"]);
});

function specExample(): string {
  return `[node]
id = "m1"
roles = ["master"]
data_dir = "./data/m1"

[addresses]
bind = "127.0.0.1"
advertise = "127.0.0.1"
rpc_port = 7400
gossip_port = 7401
api_port = 7443

[transport]
kind = "tcp"
max_frame_bytes = 16777216
connect_timeout_ms = 3000
send_queue_frames = 1024

[security]
ca_file = "ca.pem"
cert_file = "m1.pem"
key_file = "m1-key.pem"
gossip_keyring_file = "gossip.keyring"
token_key_file = "token.key"
cluster_label = "elasticore"

[raft]
election_timeout_ms = 1000
heartbeat_interval_ms = 100
snapshot_threshold = 10000
max_batch_entries = 512
members = ["m1=127.0.0.1:7400", "m2=127.0.0.1:7410", "m3=127.0.0.1:7420"]

[swim]
probe_interval_ms = 1000
probe_timeout_ms = 500
indirect_checks = 3
suspicion_mult = 4
retransmit_mult = 4
gossip_interval_ms = 200
gossip_nodes = 3
push_pull_interval_ms = 30000
seeds = ["127.0.0.1:7401"]
lifeguard = true

[dfs]
replication = 3
block_bytes = 4194304
memory_tier_bytes = 268435456
cache_bytes = 268435456
quota_bytes = 0

[stream]
slots = 4
checkpoint_interval_ms = 2000
batch_records = 1024

[logs]
level = "info"
levels = { raft = "debug" }
file_max_bytes = 10485760
file_max_age_s = 3600
files_kept = 10

[api]
cors_origins = []
max_body_bytes = 268435456
`;
}

Deno.test("config: precedence is flag > env > file > default, per key", () => {
  const file = `${ID}[raft]\nelection_timeout_ms = 1500\nsnapshot_threshold = 7\n`;
  const env = { ELASTICORE_RAFT_ELECTION_TIMEOUT_MS: "1600", ELASTICORE_NODE_ID: "m2" };
  const flags = { set: ["raft.election_timeout_ms=1700"] };
  const all = load(file, { env, flags });
  assert.equal(all.raft.election_timeout_ms, 1700);
  assert.equal(all.node.id, "m2", "env beats file for node.id");
  assert.equal(all.raft.snapshot_threshold, 7, "file value kept where nothing overrides");
  assert.equal(all.raft.max_batch_entries, 512, "default where nothing sets");
  assert.equal(load(file, { env }).raft.election_timeout_ms, 1600);
  assert.equal(load(file).raft.election_timeout_ms, 1500);
  assert.equal(load(ID).raft.election_timeout_ms, 1000);
  assert.equal(load(file, { env, flags: { id: "m3" } }).node.id, "m3", "flag beats env");
  assert.equal(
    load(ID, { flags: { set: ["node.id=m4"], id: "m5" } }).node.id,
    "m5",
    "shortcut flags apply after --set",
  );
});

Deno.test("config: environment values are parsed by the key's type", () => {
  const c = load(undefined, {
    env: {
      ELASTICORE_NODE_ID: "w1",
      ELASTICORE_NODE_ROLES: "worker",
      ELASTICORE_SWIM_LIFEGUARD: "false",
      ELASTICORE_SWIM_SEEDS: "10.0.0.1:7401, 10.0.0.2:7401",
      ELASTICORE_LOGS_LEVELS: "raft=debug,swim=info",
      ELASTICORE_DFS_QUOTA_BYTES: "1_000_000",
      ELASTICORE_API_CORS_ORIGINS: "",
      ELASTICORE_API_MAX_BODY_BYTES: "4096",
      // Client and CLI variables are not config: ignored.
      ELASTICORE_API: "https://127.0.0.1:7443",
      ELASTICORE_TOKEN: "t",
      ELASTICORE_CA: "ca.pem",
      ELASTICORE_DEBUG: "1",
      PATH: "/usr/bin",
    },
  });
  assert.equal(c.node.id, "w1");
  assert.deepEqual(c.node.roles, ["worker"]);
  assert.equal(c.swim.lifeguard, false);
  assert.deepEqual(c.swim.seeds, ["10.0.0.1:7401", "10.0.0.2:7401"]);
  assert.deepEqual(c.logs.levels, { raft: "debug", swim: "info" });
  assert.equal(c.dfs.quota_bytes, 1000000);
  assert.deepEqual(c.api.cors_origins, []);
  assert.equal(c.api.max_body_bytes, 4096);
});

Deno.test("config: shortcut flags and --set lists", () => {
  const c = load(ID, {
    flags: {
      bind: "0.0.0.0",
      rpcPort: "9000",
      gossipPort: 9001,
      apiPort: "9443",
      transport: "quic",
      set: ["addresses.advertise=10.1.2.3", "raft.members=m1=10.1.2.3:9000,m2=10.1.2.4:9000"],
    },
  });
  assert.equal(c.addresses.bind, "0.0.0.0");
  assert.equal(c.addresses.advertise, "10.1.2.3");
  assert.equal(c.addresses.rpc_port, 9000);
  assert.equal(c.addresses.gossip_port, 9001);
  assert.equal(c.addresses.api_port, 9443);
  assert.equal(c.transport.kind, "quic");
  assert.deepEqual(c.raft.members, ["m1=10.1.2.3:9000", "m2=10.1.2.4:9000"]);
});

Deno.test("config: relative paths resolve against the file's directory, env/flags against cwd", () => {
  const text = `${ID}data_dir = "var/m1"\n[security]\nca_file = "../pki/ca.pem"\n` +
    `key_file = "/etc/ec/m1-key.pem"\n`;
  const c = load(text);
  assert.equal(c.node.data_dir, "/srv/ec/var/m1");
  assert.equal(c.security.ca_file, "/srv/pki/ca.pem");
  assert.equal(c.security.key_file, "/etc/ec/m1-key.pem");
  assert.equal(c.security.token_key_file, "/srv/ec/token.key", "defaults resolve like the file");
  const o = load(text, {
    env: { ELASTICORE_SECURITY_CA_FILE: "ca2.pem" },
    flags: { dataDir: "d" },
  });
  assert.equal(o.security.ca_file, "/home/op/ca2.pem");
  assert.equal(o.node.data_dir, "/home/op/d");
  assert.equal(load(undefined, { flags: { id: "x" } }).node.data_dir, "/home/op/data/x");
  const rel = buildConfig({ file: "conf/node.toml", text: ID, env: {}, cwd: CWD });
  assert.equal(rel.node.data_dir, "/home/op/conf/data/m1", "a relative file path uses cwd");
});

Deno.test("config: loadConfig reads the file and resolves against its directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "node.toml");
    await Deno.writeTextFile(file, `${ID}[stream]\nslots = 9\n`);
    const c = await loadConfig({ file, env: {} });
    assert.equal(c.stream.slots, 9);
    assert.equal(c.node.data_dir, join(dir, "data", "m1"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: formatConfig renders TOML that loads back to the same config", () => {
  const c = load(specExample(), {
    flags: { set: ["api.cors_origins=https://a.example,*", "logs.levels=raft=trace,api=error"] },
  });
  const text = formatConfig(c);
  assert.match(text, /^\[raft\]$/m);
  assert.match(text, /^levels = \{ raft = "trace", api = "error" \}$/m);
  assert.deepEqual(load(text), c);
  assert.deepEqual(buildConfig({ file: "/elsewhere/x.toml", text, env: {}, cwd: CWD }), c);
});

Deno.test("config: findKeyLine follows tables, dotted keys, inline tables and strings", () => {
  const src = [
    "# comment with raft.election_timeout_ms = 1", // 1
    'node.id = "m1"', // 2
    "[raft]", // 3
    'note = """', // 4
    "election_timeout_ms = 3", // 5 (inside a multi-line string)
    '"""', // 6
    "  election_timeout_ms = 5 # real", // 7
    "members = [", // 8
    '  "m1=a:1",', // 9
    "]", // 10
    "[ logs . levels ]", // 11
    'raft = "debug"', // 12
    "[swim]", // 13
    "dfs = { replication = 1 }", // 14
    '"quoted.key" = 1', // 15
  ].join("\n");
  assert.equal(findKeyLine(src, ["node", "id"]), 2);
  assert.equal(findKeyLine(src, ["raft"]), 3);
  assert.equal(findKeyLine(src, ["raft", "election_timeout_ms"]), 7);
  assert.equal(findKeyLine(src, ["raft", "members"]), 8);
  assert.equal(findKeyLine(src, ["logs", "levels", "raft"]), 12);
  assert.equal(findKeyLine(src, ["swim", "dfs", "replication"]), 14);
  assert.equal(findKeyLine(src, ["swim", "quoted.key"]), 15);
  assert.equal(findKeyLine(src, ["api"]), undefined);
  assert.deepEqual(splitDottedKey(" a . \"b.c\" . 'd' "), ["a", "b.c", "d"]);
  assert.equal(splitDottedKey("a..b"), undefined);
});

Deno.test("config: string values parse by kind", () => {
  assert.deepEqual(parseValue("int", " -12 "), { ok: true, value: -12 });
  assert.equal(parseValue("int", "1.5").ok, false);
  assert.equal(parseValue("int", "0x10").ok, false);
  assert.deepEqual(parseValue("bool", "YES"), { ok: true, value: true });
  assert.equal(parseValue("bool", "maybe").ok, false);
  assert.deepEqual(parseValue("list", "a, b"), { ok: true, value: ["a", "b"] });
  assert.deepEqual(parseValue("map", "raft=debug, api = info"), {
    ok: true,
    value: { raft: "debug", api: "info" },
  });
  assert.equal(parseValue("map", "raft").ok, false);
});

Deno.test("config: host:port and member parsing", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:7400"), { host: "127.0.0.1", port: 7400 });
  assert.deepEqual(parseHostPort("[::1]:7400"), { host: "::1", port: 7400 });
  assert.deepEqual(parseHostPort("node-a.example:1"), { host: "node-a.example", port: 1 });
  assert.equal(parseHostPort("::1:7400"), undefined);
  assert.equal(parseHostPort("a:0"), undefined);
  assert.equal(parseHostPort("a:65536"), undefined);
  assert.deepEqual(parseMember("m2=10.0.0.2:7410"), { id: "m2", host: "10.0.0.2", port: 7410 });
  assert.equal(parseMember("M2=10.0.0.2:7410"), undefined);
  assert.equal(parseMember("m2:7410"), undefined);
});
