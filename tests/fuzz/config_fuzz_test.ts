import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config/mod.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { fuzzBudget, fuzzSeed, mutate } from "./fuzz_util.ts";

const CODES = new Set([
  "config_syntax",
  "config_unknown_key",
  "config_invalid_value",
  "config_missing_key",
  "config_invalid_env",
  "config_invalid_flag",
]);

const BASE = `[node]
id = "m1"
roles = ["master"]
data_dir = "./data/m1"

[addresses]
bind = "127.0.0.1"
rpc_port = 7400
gossip_port = 7401
api_port = 7443

[transport]
kind = "tcp"
max_frame_bytes = 16777216

[security]
ca_file = "ca.pem"
cluster_label = "elasticore"

[raft]
election_timeout_ms = 1000
heartbeat_interval_ms = 100
members = ["m1=127.0.0.1:7400", "m2=127.0.0.1:7410"]

[swim]
probe_interval_ms = 1000
probe_timeout_ms = 500
seeds = ["127.0.0.1:7401"]
lifeguard = true

[dfs]
replication = 3
quota_bytes = 0

[stream]
slots = 4

[logs]
level = "info"
levels = { raft = "debug" }
files_kept = 10

[api]
cors_origins = []
`;

const VALUES = [
  "0",
  "-1",
  "1",
  "65536",
  "1_000",
  "1.5",
  "1e400",
  "-inf",
  "nan",
  "0x10",
  "99999999999999999999",
  "true",
  '""',
  '"x"',
  '"m1=a:1"',
  '"0.0.0.0"',
  "'lit'",
  '"""multi\nline"""',
  "[]",
  '[1, "a"]',
  '["master", "master"]',
  "[[1], [2]]",
  "{}",
  '{ raft = "trace" }',
  "{ a = { b = 1 } }",
  "1979-05-27T07:32:00Z",
  "07:32:00",
  '"\\u0000"',
];
const KEYS = [
  "id",
  "roles",
  "data_dir",
  "rpc_port",
  "api_port",
  "kind",
  "election_timeout_ms",
  "heartbeat_interval_ms",
  "members",
  "seeds",
  "levels",
  "level",
  "files_kept",
  "elecion_timeout_ms",
  "__proto__",
  "constructor",
  '"quoted key"',
  "a.b",
  "raft.members",
  "levels.swim",
];
const HEADERS = [
  "[raft]",
  "[node]",
  "[logs.levels]",
  "[[raft]]",
  "[__proto__]",
  "[constructor]",
  '["raft"]',
  "[a.b.c]",
  "[]",
  "[swim",
  "[addresses]",
];
const NOISE = ["=", "[", "]", "{", "}", '"', "'", "\n", ",", ".", "#", " ", "é", "\u{1F600}", "\\"];

function pick<T>(prng: Prng, xs: readonly T[]): T {
  return xs[prng.int(xs.length)];
}

function editLines(prng: Prng, text: string): string {
  const lines = text.split("\n");
  const rounds = 1 + prng.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = prng.int(lines.length);
    const line = lines[at] ?? "";
    const eq = line.indexOf("=");
    switch (prng.int(8)) {
      case 0:
        lines.splice(at, 1);
        break;
      case 1:
        lines.splice(at, 0, line);
        break;
      case 2:
        if (eq > 0) lines[at] = `${line.slice(0, eq + 1)} ${pick(prng, VALUES)}`;
        break;
      case 3:
        if (eq > 0) lines[at] = `${pick(prng, KEYS)} ${line.slice(eq)}`;
        break;
      case 4:
        lines.splice(at, 0, pick(prng, HEADERS));
        break;
      case 5:
        lines.splice(at, 0, `${pick(prng, KEYS)} = ${pick(prng, VALUES)}`);
        break;
      case 6: {
        const c = prng.int(line.length + 1);
        lines[at] = line.slice(0, c) + pick(prng, NOISE) + line.slice(c + prng.int(2));
        break;
      }
      default:
        lines[at] = line.slice(0, prng.int(line.length + 1));
    }
  }
  return lines.join("\n");
}

function randomDoc(prng: Prng): string {
  const out: string[] = [];
  const n = prng.int(12);
  for (let i = 0; i < n; i++) {
    if (prng.chance(0.3)) out.push(pick(prng, HEADERS));
    else out.push(`${pick(prng, KEYS)} = ${pick(prng, VALUES)}`);
  }
  return out.join("\n");
}

function randomEnv(prng: Prng): Record<string, string> {
  const env: Record<string, string> = {};
  if (!prng.chance(0.2)) return env;
  const names = [
    "ELASTICORE_NODE_ID",
    "ELASTICORE_RAFT_ELECTION_TIMEOUT_MS",
    "ELASTICORE_LOGS_LEVELS",
    "ELASTICORE_SWIM_LIFEGUARD",
    "ELASTICORE_API",
    "ELASTICORE_BOGUS",
    "ELASTICORE_",
  ];
  const values = ["m2", "1500", "raft=debug", "yes", "", "x=y", "-3", "a,b"];
  env[pick(prng, names)] = pick(prng, values);
  return env;
}

Deno.test("fuzz: every config document yields a Config or an ElasticoreError", async () => {
  const seed = fuzzSeed();
  const prng = new Prng(seed);
  const n = fuzzBudget(5000);
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const outcomes = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    let text: string;
    const mode = prng.int(4);
    if (mode === 0) text = randomDoc(prng);
    else if (mode === 1) text = decoder.decode(mutate(prng, encoder.encode(BASE)));
    else text = editLines(prng, BASE);
    const flags = prng.chance(0.1)
      ? { set: [`${pick(prng, ["raft", "swim", "x"])}.${pick(prng, KEYS)}=${pick(prng, VALUES)}`] }
      : {};
    let outcome: string;
    try {
      const c = await loadConfig({
        file: "fuzz.toml",
        text,
        env: randomEnv(prng),
        flags,
        cwd: "/",
      });
      assert.equal(typeof c.node.id, "string");
      assert.ok(c.node.data_dir.startsWith("/"));
      outcome = "ok";
    } catch (e) {
      if (!(e instanceof ElasticoreError)) {
        throw new Error(`seed ${seed} case ${i}: ${e} for document:\n${text}`);
      }
      assert.ok(CODES.has(e.code), `seed ${seed} case ${i}: unexpected code ${e.code}`);
      assert.doesNotMatch(e.toLine(), /\n/, `seed ${seed} case ${i}: multi-line error`);
      outcome = e.code;
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  // The generator must reach both outcomes and the main error kinds.
  for (const k of ["ok", "config_syntax", "config_unknown_key", "config_invalid_value"]) {
    assert.ok((outcomes.get(k) ?? 0) > n / 100, `${k}: ${JSON.stringify([...outcomes])}`);
  }
});
