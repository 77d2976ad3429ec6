import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { describeCertificate, isSignedBy } from "../../lib/security/pki.ts";
import { initCluster, planCluster } from "../../lib/security/init.ts";
import { readKeyringFile } from "../../lib/security/keyring.ts";
import { readTokenKeyFile, verifyToken } from "../../lib/security/tokens.ts";
import { ElasticoreError } from "../../lib/errors.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const NODES = "m1=127.0.0.1:7400,m2=127.0.0.1:7410,m3=127.0.0.1:7420,w1=127.0.0.1:7430," +
  "w2=[::1]:7440";
const SECRETS = ["ca-key.pem", "gossip.keyring", "token.key", "admin.token"];

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "elasticore-init-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function mode(info: Deno.FileInfo): number {
  return (info.mode ?? 0) & 0o777;
}

function table(v: unknown): Record<string, unknown> {
  assert.ok(typeof v === "object" && v !== null && !Array.isArray(v), "expected a TOML table");
  return v as Record<string, unknown>;
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-P", "--quiet", "main.ts", ...args],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("init: writes every file, secrets 0600, configs per the spec", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "cluster");
    const result = await initCluster(dir, { nodes: NODES, label: "prod-1" });
    const ids = ["m1", "m2", "m3", "w1", "w2"];
    const expected = [
      "ca.pem",
      ...SECRETS,
      ...ids.flatMap((id) => [`${id}.pem`, `${id}-key.pem`, `${id}.toml`]),
    ].sort();
    assert.deepEqual([...result.files].sort(), expected);
    const onDisk = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert.deepEqual(onDisk, expected);
    if (Deno.build.os !== "windows") {
      for (const f of [...SECRETS, ...ids.map((id) => `${id}-key.pem`)]) {
        assert.equal(mode(await Deno.stat(join(dir, f))), 0o600, f);
      }
      assert.equal(mode(await Deno.stat(join(dir, "ca.pem"))), 0o644);
    }
    assert.deepEqual(result.warnings, []);

    // Certificates chain to the CA and carry the right names.
    const ca = await Deno.readTextFile(join(dir, "ca.pem"));
    assert.equal(describeCertificate(ca).isCa, true);
    const w2 = await Deno.readTextFile(join(dir, "w2.pem"));
    assert.ok(await isSignedBy(w2, ca));
    const info = describeCertificate(w2);
    assert.equal(info.commonName, "w2");
    assert.deepEqual(info.dnsNames, ["w2.elasticore", "localhost"]);
    assert.deepEqual(info.ipAddresses, ["::1", "127.0.0.1"]);

    // The admin token verifies against token.key, for this cluster, for about a year.
    const key = await readTokenKeyFile(join(dir, "token.key"));
    const admin = (await Deno.readTextFile(join(dir, "admin.token"))).trim();
    const r = await verifyToken(key, admin, { cluster: "prod-1" });
    assert.ok(r.ok);
    assert.equal(r.claims.role, "admin");
    const days = (r.claims.exp - r.claims.iat) / 86400;
    assert.equal(days, 365);
    assert.equal((await readKeyringFile(join(dir, "gossip.keyring"))).keys.length, 1);

    // TOML: parses, node-specific values, masters as raft members and gossip seeds.
    const m1 = parseToml(await Deno.readTextFile(join(dir, "m1.toml")));
    assert.deepEqual({ ...table(m1.node) }, { id: "m1", roles: ["master"], data_dir: "./data/m1" });
    assert.deepEqual({ ...table(m1.addresses) }, {
      bind: "127.0.0.1",
      advertise: "127.0.0.1",
      rpc_port: 7400,
      gossip_port: 7401,
      api_port: 7402,
    });
    assert.deepEqual({ ...table(m1.security) }, {
      ca_file: "ca.pem",
      cert_file: "m1.pem",
      key_file: "m1-key.pem",
      gossip_keyring_file: "gossip.keyring",
      token_key_file: "token.key",
      cluster_label: "prod-1",
    });
    assert.deepEqual(table(m1.transport).kind, "tcp");
    const members = ["m1=127.0.0.1:7400", "m2=127.0.0.1:7410", "m3=127.0.0.1:7420"];
    const seeds = ["127.0.0.1:7401", "127.0.0.1:7411", "127.0.0.1:7421"];
    assert.deepEqual(table(m1.raft).members, members);
    assert.deepEqual(table(m1.swim).seeds, seeds);
    const w2Toml = parseToml(await Deno.readTextFile(join(dir, "w2.toml")));
    assert.deepEqual(table(w2Toml.node).roles, ["worker"]);
    assert.equal(table(w2Toml.addresses).bind, "::1");
    assert.deepEqual(table(w2Toml.raft).members, members);
    assert.deepEqual(table(w2Toml.swim).seeds, seeds);
  });
});

Deno.test("init: explicit roles, DNS hosts, IPv6 masters, warnings", async () => {
  await withTempDir(async (dir) => {
    const result = await initCluster(dir, {
      nodes: "a=[::1]:9000,b=db.example.com:9000,c=127.0.0.1:9100",
      roles: "b=master+worker,c=worker",
    });
    assert.deepEqual(result.plan.nodes.map((n) => n.roles), [["master"], ["master", "worker"], [
      "worker",
    ]]);
    assert.match(result.warnings.join("\n"), /2 masters/);
    const c = parseToml(await Deno.readTextFile(join(dir, "c.toml")));
    assert.deepEqual(table(c.raft).members, ["a=[::1]:9000", "b=db.example.com:9000"]);
    assert.deepEqual(table(c.swim).seeds, ["[::1]:9001", "db.example.com:9001"]);
    const b = parseToml(await Deno.readTextFile(join(dir, "b.toml")));
    assert.equal(table(b.addresses).bind, "0.0.0.0");
    assert.equal(table(b.addresses).advertise, "db.example.com");
    const cert = describeCertificate(await Deno.readTextFile(join(dir, "b.pem")));
    assert.deepEqual(cert.dnsNames, ["b.elasticore", "db.example.com", "localhost"]);
  });
});

Deno.test("init: refuses a non-empty directory unless --force", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "keep.txt"), "x");
    await assert.rejects(
      initCluster(dir, { nodes: "m1=127.0.0.1:7400" }),
      (e: unknown) => e instanceof ElasticoreError && e.code === "init_dir_not_empty",
    );
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["keep.txt"]);
    await initCluster(dir, { nodes: "m1=127.0.0.1:7400", force: true });
    const firstCa = await Deno.readTextFile(join(dir, "ca.pem"));
    await initCluster(dir, { nodes: "m1=127.0.0.1:7400", force: true });
    assert.notEqual(await Deno.readTextFile(join(dir, "ca.pem")), firstCa);
    assert.equal(await Deno.readTextFile(join(dir, "keep.txt")), "x");
    await Deno.writeTextFile(join(dir, "file"), "");
    await assert.rejects(
      initCluster(join(dir, "file"), { nodes: "m1=127.0.0.1:7400" }),
      /not a directory/,
    );
  });
});

Deno.test("init: bad options name the bad item", () => {
  const cases: [Parameters<typeof planCluster>[0], RegExp][] = [
    [{ nodes: "" }, /empty entry/],
    [{ nodes: "m1=127.0.0.1:7400,,m2=127.0.0.1:7410" }, /empty entry/],
    [{ nodes: "m1" }, /"m1" is not id=host:port/],
    [{ nodes: "Bad=127.0.0.1:7400" }, /node id "Bad"/],
    [{ nodes: "m1=127.0.0.1:7400,m1=127.0.0.1:7410" }, /"m1" appears twice/],
    [{ nodes: "m1=127.0.0.1" }, /address "127.0.0.1" of node m1/],
    [{ nodes: "m1=bad host:7400" }, /host "bad host" of node m1/],
    [{ nodes: "m1=[not-v6]:7400" }, /host "not-v6" of node m1 is not an IPv6/],
    [{ nodes: "m1=h:0" }, /port "0" of node m1/],
    [{ nodes: "m1=h:65534" }, /port "65534" of node m1/],
    [{ nodes: "m1=h:x" }, /port "x" of node m1/],
    [{ nodes: "m1=h:7400,m2=h:7402" }, /nodes m1 and m2 overlap on h/],
    [{ nodes: "m1=h:7400", roles: "m1=chief" }, /role "chief" of node m1/],
    [{ nodes: "m1=h:7400", roles: "zz=master" }, /"zz", which is not in --nodes/],
    [{ nodes: "m1=h:7400", roles: "m1=worker" }, /no node has the master role/],
    [{ nodes: "m1=h:7400", label: "bad label" }, /cluster label "bad label"/],
  ];
  for (const [opts, re] of cases) {
    assert.throws(
      () => planCluster(opts),
      (e: unknown) => e instanceof ElasticoreError && re.test(e.message),
      JSON.stringify(opts),
    );
  }
  const ok = planCluster({ nodes: "a=h:1,b=h:4,c=h:7,d=h:10" });
  assert.deepEqual(ok.nodes.map((n) => n.roles[0]), ["master", "master", "master", "worker"]);
});

Deno.test("cli: init and token create as subprocesses", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "c");
    const init = await runCli(["init", dir, "--nodes", "m1=127.0.0.1:7500", "--label", "cli-test"]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /initialized cluster "cli-test"/);

    const again = await runCli(["init", dir, "--nodes", "m1=127.0.0.1:7500"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /error\[init_dir_not_empty\]/);

    const created = await runCli([
      "token",
      "create",
      "--role",
      "reader",
      "--ttl",
      "15m",
      "--subject",
      "ci-bot",
      "--dir",
      dir,
    ]);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    const key = await readTokenKeyFile(join(dir, "token.key"));
    const r = await verifyToken(key, token, { cluster: "cli-test" });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.claims.role, "reader");
    assert.equal(r.claims.sub, "ci-bot");
    assert.equal(r.claims.exp - r.claims.iat, 900);

    const viaKeyFile = await runCli([
      "token",
      "create",
      "--role",
      "operator",
      "--key-file",
      join(dir, "token.key"),
      "--label",
      "cli-test",
      "--json",
    ]);
    assert.equal(viaKeyFile.code, 0, viaKeyFile.stderr);
    const parsed = JSON.parse(viaKeyFile.stdout);
    assert.equal(parsed.role, "operator");
    assert.ok((await verifyToken(key, parsed.token, { cluster: "cli-test" })).ok);

    const badTtl = await runCli([
      "token",
      "create",
      "--role",
      "admin",
      "--ttl",
      "3y",
      "--dir",
      dir,
    ]);
    assert.equal(badTtl.code, 1);
    assert.match(badTtl.stderr, /error\[bad_ttl\]: ttl "3y" is invalid/);
  });
});
