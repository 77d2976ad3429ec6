import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

Deno.test({
  name:
    "dev --demo: a user's run starts the cluster, runs app1 and app2 on it, prints agreeing results and exits 0",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ec-demo-" });
    const portBase = 21000 + Math.floor(Math.random() * 100) * 100; // below the ephemeral range
    try {
      const env = Object.fromEntries(
        Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("ELASTICORE_")),
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-P",
          "main.ts",
          "dev",
          "--demo",
          "--dir",
          dir,
          "--port-base",
          String(portBase),
        ],
        cwd: ROOT,
        clearEnv: true,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `${text}\n${err}`);
      assert.match(text, /cluster up in .*: 6 nodes, leader m\d/);
      // The generated data (seed 2026, 10,000 rows) has fixed answers.
      assert.match(text, /-> 412 rows/);
      assert.match(text, /Streetname\s+2384/);
      assert.match(text, /Regulatory\s+2091/);
      assert.match(text, /Warning\s+477/);
      assert.match(text, /cluster results agree/);
      // Every node process is gone.
      const ps = await new Deno.Command("pgrep", { args: ["-f", dir], stdout: "piped" }).output();
      assert.equal(new TextDecoder().decode(ps.stdout).trim(), "", "node processes left behind");
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
