import assert from "node:assert/strict";
import { buildConfig, loadConfig, type LoadConfigOptions } from "../../lib/config/mod.ts";
import { ElasticoreError } from "../../lib/errors.ts";

const ID = '[node]\nid = "m1"\n';

/** Loads and returns the ElasticoreError it must raise. */
function failure(opts: LoadConfigOptions): ElasticoreError {
  try {
    buildConfig({ file: "node.toml", env: {}, cwd: "/tmp", ...opts });
  } catch (e) {
    assert.ok(e instanceof ElasticoreError, `expected ElasticoreError, got ${e}`);
    assert.doesNotMatch(e.toLine(), /\n/, "one line");
    return e;
  }
  assert.fail("expected an error");
}

Deno.test("config errors: unknown key names the key and the file line", () => {
  const text = `${ID}\n[raft]\n# timeouts\nelecion_timeout_ms = 1500\n`;
  const e = failure({ text });
  assert.equal(e.code, "config_unknown_key");
  assert.equal(e.message, 'unknown key "raft.elecion_timeout_ms" at node.toml:6');
  assert.equal(e.hint, 'did you mean "raft.election_timeout_ms"?');
});

Deno.test("config errors: unknown keys in sections, dotted keys, inline and nested tables", () => {
  const section = failure({ text: `${ID}[rafts]\nx = 1\n` });
  assert.equal(section.code, "config_unknown_key");
  assert.equal(section.message, 'unknown key "rafts" at node.toml:3');
  const dotted = failure({ text: `raft.members = []\nswim.bogus = 1\n${ID}` });
  assert.equal(dotted.message, 'unknown key "swim.bogus" at node.toml:2');
  const inline = failure({ text: `\nstream = { slots = 2, slotz = 3 }\n${ID}` });
  assert.equal(inline.message, 'unknown key "stream.slotz" at node.toml:2');
  const level = failure({ text: `${ID}[logs.levels]\nraft = "debug"\nraftt = "info"\n` });
  assert.equal(level.message, 'unknown key "logs.levels.raftt" at node.toml:5');
  const earliest = failure({ text: `${ID}[dfs]\nzzz = 1\n[api]\naaa = 2\n` });
  assert.equal(earliest.message, 'unknown key "dfs.zzz" at node.toml:4', "earliest line wins");
});

Deno.test("config errors: wrong type names key, line and the value", () => {
  const e = failure({ text: `${ID}[swim]\nprobe_interval_ms = 1000\nlifeguard = "yes"\n` });
  assert.equal(e.code, "config_invalid_value");
  assert.equal(
    e.message,
    'invalid value for "swim.lifeguard" at node.toml:5: expected true or false, got "yes"',
  );
  const table = failure({ text: `raft = 5\n${ID}` });
  assert.equal(table.message, 'invalid value for "raft" at node.toml:1: expected a table, got 5');
  const member = failure({ text: `${ID}[raft]\nmembers = [\n  "m1=a:1",\n  "m2",\n]\n` });
  assert.equal(
    member.message,
    'invalid value for "raft.members" at node.toml:4: entry 2: expected "id=host:port", got "m2"',
  );
  const float = failure({ text: `${ID}[stream]\nslots = 1.5\n` });
  assert.match(float.message, /"stream\.slots" at node\.toml:4: expected an integer/);
  const date = failure({ text: `${ID}[dfs]\nquota_bytes = 1979-05-27\n` });
  assert.match(date.message, /got a date$/);
});

Deno.test("config errors: out-of-range values name key, line and range", () => {
  const e = failure({ text: `${ID}[addresses]\nrpc_port = 70000\n` });
  assert.equal(e.code, "config_invalid_value");
  assert.equal(
    e.message,
    'invalid value for "addresses.rpc_port" at node.toml:4: expected an integer from 1 to 65535, ' +
      "got 70000",
  );
  const huge = failure({ text: `${ID}[dfs]\ncache_bytes = 99999999999999999999\n` });
  assert.match(huge.message, /"dfs\.cache_bytes" at node\.toml:4: .* got 99999999999999999999$/);
  const level = failure({ text: `${ID}[logs]\nlevels = { raft = "loud" }\n` });
  assert.match(level.message, /"logs\.levels" at node\.toml:4: raft: expected one of "trace"/);
  const id = failure({ text: '[node]\nid = "M1"\n' });
  assert.match(id.message, /"node\.id" at node\.toml:2: expected lower-case/);
});

Deno.test("config errors: cross-key checks blame the key that was set", () => {
  const e = failure({ text: `${ID}[raft]\nelection_timeout_ms = 50\n` });
  assert.equal(e.code, "config_invalid_value");
  assert.equal(
    e.message,
    'invalid value for "raft.election_timeout_ms" at node.toml:4: raft.heartbeat_interval_ms ' +
      "(default) must be less than raft.election_timeout_ms (50)",
  );
  const both = failure({ text: `${ID}[swim]\nprobe_interval_ms = 100\nprobe_timeout_ms = 100\n` });
  assert.match(both.message, /^invalid value for "swim\.probe_timeout_ms" at node\.toml:5: must/);
  const ports = failure({ text: `${ID}[addresses]\napi_port = 7400\n` });
  assert.match(ports.message, /"addresses\.api_port" at node\.toml:4: must differ/);
  const wildcard = failure({ text: `${ID}[addresses]\nbind = "0.0.0.0"\n` });
  assert.match(wildcard.message, /addresses\.advertise \(default\) must be set/);
});

Deno.test("config errors: bad TOML syntax names line and column", () => {
  const e = failure({ text: `${ID}[raft]\nelection_timeout_ms = = 3\n` });
  assert.equal(e.code, "config_syntax");
  assert.match(e.message, /^invalid TOML at node\.toml:4:\d+: /);
  const dup = failure({ text: `${ID}[raft]\n[raft]\n` });
  assert.equal(dup.code, "config_syntax");
  assert.match(dup.message, /node\.toml:4:/);
});

Deno.test("config errors: missing file and missing node.id", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      loadConfig({ file: `${dir}/nope.toml`, env: {} }),
      (e: unknown) =>
        e instanceof ElasticoreError && e.code === "config_not_found" &&
        e.message.includes("nope.toml"),
    );
    await assert.rejects(
      loadConfig({ file: dir, env: {} }),
      (e: unknown) => e instanceof ElasticoreError && e.code === "config_unreadable",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const missing = failure({ text: "[raft]\n" });
  assert.equal(missing.code, "config_missing_key");
  assert.equal(missing.message, 'missing required key "node.id"');
  assert.match(missing.hint ?? "", /--id or ELASTICORE_NODE_ID/);
});

Deno.test("config errors: unknown or invalid environment variables name the variable", () => {
  const unknown = failure({
    text: ID,
    env: { ELASTICORE_RAFT_ELECTION_TIMEOUTMS: "1500" },
  });
  assert.equal(unknown.code, "config_invalid_env");
  assert.match(unknown.message, /ELASTICORE_RAFT_ELECTION_TIMEOUTMS/);
  assert.equal(unknown.hint, "did you mean ELASTICORE_RAFT_ELECTION_TIMEOUT_MS?");
  for (const name of ["ELASTICORE_FOO", "ELASTICORE_BOGUS_KEY", "ELASTICORE_raft_slots"]) {
    const e = failure({ text: ID, env: { [name]: "1" } });
    assert.equal(e.code, "config_invalid_env");
    assert.ok(e.message.includes(name), e.message);
  }
  const type = failure({ text: ID, env: { ELASTICORE_RAFT_ELECTION_TIMEOUT_MS: "soon" } });
  assert.equal(
    type.message,
    'invalid ELASTICORE_RAFT_ELECTION_TIMEOUT_MS="soon" for "raft.election_timeout_ms": ' +
      'expected an integer, got "soon"',
  );
  const range = failure({ text: ID, env: { ELASTICORE_STREAM_SLOTS: "0" } });
  assert.match(range.message, /ELASTICORE_STREAM_SLOTS="0".*from 1 to 1024, got 0/);
  const levels = failure({ text: ID, env: { ELASTICORE_LOGS_LEVELS: "raft=debug,nope=info" } });
  assert.match(levels.message, /ELASTICORE_LOGS_LEVELS.*unknown name\(s\) "nope"/);
  const cross = failure({ text: ID, env: { ELASTICORE_RAFT_HEARTBEAT_INTERVAL_MS: "5000" } });
  assert.equal(cross.code, "config_invalid_env");
  assert.match(cross.message, /ELASTICORE_RAFT_HEARTBEAT_INTERVAL_MS="5000".*must be less than/);
});

Deno.test("config errors: bad flags name the flag", () => {
  const shape = failure({ text: ID, flags: { set: ["raft.election_timeout_ms"] } });
  assert.equal(shape.code, "config_invalid_flag");
  assert.match(
    shape.message,
    /^invalid --set "raft\.election_timeout_ms": expected section\.key=value/,
  );
  const unknown = failure({ text: ID, flags: { set: ["raft.electon_timeout_ms=4"] } });
  assert.equal(unknown.code, "config_invalid_flag");
  assert.match(unknown.message, /"raft\.electon_timeout_ms" is not a config key/);
  assert.equal(unknown.hint, 'did you mean "raft.election_timeout_ms"?');
  const port = failure({ text: ID, flags: { rpcPort: "http" } });
  assert.equal(
    port.message,
    'invalid --rpc-port "http" for "addresses.rpc_port": expected an integer, got "http"',
  );
  const kind = failure({ text: ID, flags: { transport: "udp" } });
  assert.match(kind.message, /^invalid --transport "udp" for "transport\.kind": expected one of/);
  const id = failure({ text: ID, flags: { id: "Bad Id" } });
  assert.match(id.message, /^invalid --id "Bad Id"/);
});
