import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";
import { buildConfig, loadConfig } from "../../lib/config/mod.ts";
import { initCluster } from "../../lib/security/init.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DENO_WARNING = /Permissions in the config file is an experimental feature/;

/** The environment without ELASTICORE_* variables, so the child sees only what a test sets. */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("ELASTICORE_")),
  );
}

function elasticore(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-P", "main.ts", ...args],
    cwd: ROOT,
    clearEnv: true,
    env: cleanEnv(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Stderr lines written by elasticore (Deno's own config warning left out). */
function ourLines(stderr: Uint8Array): string[] {
  return new TextDecoder().decode(stderr).split("\n").filter((l) =>
    l.trim() !== "" && !DENO_WARNING.test(l)
  );
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ec-cli-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cli: serve --print-config prints TOML that re-parses to the same config", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "node.toml");
    await Deno.writeTextFile(
      file,
      '[node]\nid = "m1"\ndata_dir = "data"\n[raft]\nmembers = ["m1=127.0.0.1:7400"]\n' +
        '[logs]\nlevels = { raft = "debug" }\n',
    );
    const out = await elasticore([
      "serve",
      "--config",
      file,
      "--rpc-port",
      "7500",
      "--set",
      "stream.slots=8",
      "--print-config",
    ]).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(ourLines(out.stderr), []);
    const doc = parseToml(stdout) as Record<string, Record<string, unknown>>;
    assert.equal(doc.addresses.rpc_port, 7500);
    assert.equal(doc.stream.slots, 8);
    assert.equal(doc.node.data_dir, join(dir, "data"));
    const expected = await loadConfig({
      file,
      env: {},
      flags: { rpcPort: "7500", set: ["stream.slots=8"] },
    });
    assert.deepEqual(buildConfig({ text: stdout, file: "printed.toml", env: {} }), expected);
  });
});

Deno.test("cli: a config with an unknown key exits non-zero with one line, no stack", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "node.toml");
    await Deno.writeTextFile(file, '[node]\nid = "m1"\n\n[raft]\nelecion_timeout_ms = 5\n');
    const out = await elasticore(["serve", "--config", file, "--print-config"]).output();
    assert.notEqual(out.code, 0);
    assert.equal(out.stdout.length, 0);
    const lines = ourLines(out.stderr);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.equal(
      lines[0],
      `error[config_unknown_key]: unknown key "raft.elecion_timeout_ms" at ${file}:5 ` +
        '(did you mean "raft.election_timeout_ms"?)',
    );
    assert.doesNotMatch(lines[0], /\bat .*\.ts:\d+/);
  });
});

Deno.test("cli: serve writes the pid file and logs, and exits 0 on SIGTERM", async () => {
  await withDir(async (dir) => {
    // A real single-node cluster: certificates, keys and config from `init`.
    const port = 20000 + Math.floor(Math.random() * 12000);
    await initCluster(dir, { nodes: `n1=127.0.0.1:${port}` });
    const file = join(dir, "n1.toml");
    const child = elasticore(["serve", "--config", file]).spawn();
    const pidFile = join(dir, "data", "n1", "node.pid");
    const deadline = Date.now() + 20000;
    let pid = "";
    while (Date.now() < deadline) {
      pid = await Deno.readTextFile(pidFile).catch(() => "");
      if (pid !== "") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(pid.trim(), String(child.pid));
    child.kill("SIGTERM");
    const out = await child.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    await assert.rejects(Deno.stat(pidFile), Deno.errors.NotFound);
    const records = (await Deno.readTextFile(join(dir, "data", "n1", "logs", "node.jsonl")))
      .trimEnd().split("\n").map((l) => JSON.parse(l));
    const msgs = records.map((r) => r.msg);
    assert.ok(msgs.includes("node starting"), msgs.join("|"));
    assert.ok(msgs.includes("node stopping"), msgs.join("|"));
    const start = records.find((r) => r.msg === "node starting");
    assert.equal(start.node, "n1");
    assert.equal(start.subsystem, "node");
    assert.equal(start.rpcPort, port);
    assert.equal(records.find((r) => r.msg === "node stopping").reason, "SIGTERM");
  });
});
