import assert from "node:assert/strict";
import { join } from "node:path";
import { initCluster } from "../../lib/security/init.ts";
import { loadConfig } from "../../lib/config/mod.ts";

Deno.test("init: every generated node config loads with lib/config and names existing files", async () => {
  const dir = await Deno.makeTempDir();
  await initCluster(dir, {
    nodes: "m1=127.0.0.1:7400,m2=127.0.0.1:7410,m3=127.0.0.1:7420,w1=127.0.0.1:7430",
  });
  for (const id of ["m1", "m2", "m3", "w1"]) {
    const cfg = await loadConfig({ file: join(dir, `${id}.toml`), env: {} });
    assert.equal(cfg.node.id, id);
    assert.deepEqual(cfg.node.roles, id.startsWith("m") ? ["master"] : ["worker"]);
    assert.equal(cfg.raft.members.length, 3);
    for (const f of [cfg.security.ca_file, cfg.security.cert_file, cfg.security.key_file]) {
      assert.ok((await Deno.stat(f)).isFile, `${f} exists`);
    }
  }
  await Deno.remove(dir, { recursive: true });
});
