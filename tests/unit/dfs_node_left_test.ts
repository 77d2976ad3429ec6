/**
 * A node that left with `node leave` does not come back on its old data: startup refuses with
 * `dfs_node_left` (exit code 78, which the systemd unit does not restart) until the data
 * directory is removed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { LEFT_MARKER, refuseIfLeft } from "../../lib/dfs/start.ts";
import { EXIT_NODE_LEFT, runCli } from "../../lib/cli/program.ts";
import { ElasticoreError } from "../../lib/errors.ts";

Deno.test("dfs node left: startup refuses on a data directory with the marker, names the fix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await refuseIfLeft(dir, "w2"); // no marker: starts
    await Deno.writeTextFile(
      join(dir, LEFT_MARKER),
      JSON.stringify({ at: "2026-11-22T04:00:00Z" }),
    );
    const err = await refuseIfLeft(dir, "w2").then(() => null, (e) => e);
    assert.ok(err instanceof ElasticoreError);
    assert.equal(err.code, "dfs_node_left");
    assert.match(err.message, /w2 left the cluster .* at 2026-11-22T04:00:00Z/);
    assert.match(err.hint ?? "", new RegExp(`remove ${dir}`));
    // An unreadable marker still refuses.
    await Deno.writeTextFile(join(dir, LEFT_MARKER), "{");
    assert.match(String(await refuseIfLeft(dir, "w2").catch((e) => e)), /an unknown time/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dfs node left: the CLI exits 78 and the systemd unit does not restart on it", async () => {
  const unit = await Deno.readTextFile(
    new URL("../../scripts/systemd/elasticore.service", import.meta.url),
  );
  assert.match(unit, new RegExp(`^RestartPreventExitStatus=${EXIT_NODE_LEFT}$`, "m"));
  const dir = await Deno.makeTempDir();
  try {
    const cfg = join(dir, "node.toml");
    await Deno.writeTextFile(cfg, `[node]\nid = "w9"\nroles = ["worker"]\ndata_dir = "${dir}"\n`);
    await Deno.writeTextFile(join(dir, LEFT_MARKER), JSON.stringify({ at: "then" }));
    const code = await runCli(["serve", "--config", cfg]);
    assert.equal(code, EXIT_NODE_LEFT);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
