import assert from "node:assert/strict";
import { join } from "node:path";
import { ElasticoreError } from "../../lib/errors.ts";
import {
  buildLbConfig,
  loadLbConfig,
  parseBackend,
  parseDuration,
  parseLbToml,
  parseListen,
} from "../../lib/lb/config.ts";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ElasticoreError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "no error";
}

const REQUIRED = {
  backends: "https://127.0.0.1:7402,https://127.0.0.1:7412",
  ca: "ca.pem",
  cert: "lb.pem",
  key: "lb-key.pem",
};

Deno.test("lb config: durations", () => {
  assert.equal(parseDuration("500ms", "--x"), 500);
  assert.equal(parseDuration("2s", "--x"), 2000);
  assert.equal(parseDuration("1.5s", "--x"), 1500);
  assert.equal(parseDuration("1m", "--x"), 60000);
  assert.equal(parseDuration("250", "--x"), 250);
  assert.match(code(() => parseDuration("fast", "--timeout")), /lb_bad_config: --timeout: "fast"/);
  assert.match(code(() => parseDuration("0ms", "--timeout")), /out of range/);
  assert.match(code(() => parseDuration("61m", "--timeout")), /out of range/);
  assert.match(code(() => parseDuration("2h", "--timeout")), /not a duration/);
});

Deno.test("lb config: listen and backends", () => {
  assert.deepEqual(parseListen("127.0.0.1:7500"), { hostname: "127.0.0.1", port: 7500 });
  assert.deepEqual(parseListen("[::1]:0"), { hostname: "::1", port: 0 });
  assert.match(code(() => parseListen("7500")), /not HOST:PORT/);
  assert.match(code(() => parseListen("h:70000")), /out of range/);
  assert.equal(parseBackend("https://127.0.0.1:7402/"), "https://127.0.0.1:7402");
  assert.match(code(() => parseBackend("http://127.0.0.1:7402")), /must use https/);
  assert.match(code(() => parseBackend("https://h:1/v1")), /without path/);
  assert.match(code(() => parseBackend("nope")), /not a URL/);
});

Deno.test("lb config: defaults, overrides and required options", () => {
  const c = buildLbConfig(REQUIRED);
  assert.equal(c.hostname, "127.0.0.1");
  assert.equal(c.port, 7500);
  assert.deepEqual(c.backends, ["https://127.0.0.1:7402", "https://127.0.0.1:7412"]);
  assert.equal(c.policy, "round-robin");
  assert.equal(c.checkIntervalMs, 500);
  assert.deepEqual([c.fall, c.rise, c.timeoutMs, c.retries], [2, 2, 5000, 2]);
  const d = buildLbConfig({
    ...REQUIRED,
    listen: "0.0.0.0:9000",
    policy: "least-connections",
    checkInterval: "100ms",
    fall: "3",
    rise: "4",
    timeout: "1s",
    retries: "0",
  });
  assert.deepEqual(
    [d.hostname, d.port, d.policy, d.checkIntervalMs, d.fall, d.rise, d.timeoutMs, d.retries],
    ["0.0.0.0", 9000, "least-connections", 100, 3, 4, 1000, 0],
  );
  assert.match(
    code(() => buildLbConfig({ ...REQUIRED, ca: undefined })),
    /lb_missing_option: --ca/,
  );
  assert.match(code(() => buildLbConfig({ ...REQUIRED, backends: " , " })), /no backends/);
  assert.match(
    code(() => buildLbConfig({ ...REQUIRED, backends: "https://a:1,https://a:1" })),
    /listed twice/,
  );
  assert.match(code(() => buildLbConfig({ ...REQUIRED, policy: "random" })), /unknown policy/);
  assert.match(code(() => buildLbConfig({ ...REQUIRED, fall: "0" })), /--fall: 0 is out of range/);
  assert.match(code(() => buildLbConfig({ ...REQUIRED, retries: "x" })), /--retries/);
});

Deno.test("lb config: [lb] TOML table, relative paths, flags win", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "lb.toml");
    await Deno.writeTextFile(
      file,
      `[lb]
listen = "127.0.0.1:7600"
backends = ["https://127.0.0.1:7402", "https://127.0.0.1:7412"]
ca_file = "ca.pem"
cert_file = "/abs/lb.pem"
key_file = "lb-key.pem"
policy = "least-connections"
check_interval = "200ms"
fall = 4
timeout = "3s"
`,
    );
    const c = await loadLbConfig({ config: file, fall: "5" });
    assert.equal(c.port, 7600);
    assert.equal(c.caFile, join(dir, "ca.pem"));
    assert.equal(c.certFile, "/abs/lb.pem");
    assert.equal(c.policy, "least-connections");
    assert.equal(c.checkIntervalMs, 200);
    assert.equal(c.fall, 5, "the flag overrides the file");
    assert.equal(c.timeoutMs, 3000);
    assert.match(
      code(() => parseLbToml("[lb]\nlisten = 1\n", "x.toml")),
      /x\.toml: lb\.listen: expected a string/,
    );
    assert.match(code(() => parseLbToml("[lb]\nbogus = 1\n", "x.toml")), /lb\.bogus: unknown key/);
    assert.match(
      code(() => parseLbToml("[node]\nid = 'a'\n", "x.toml")),
      /\[node\]: unknown table/,
    );
    assert.match(code(() => parseLbToml("[lb\n", "x.toml")), /config_syntax/);
    await assert.rejects(loadLbConfig({ config: join(dir, "missing.toml") }), /cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
