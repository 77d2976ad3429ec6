/**
 * `elasticore init D --nodes id=host:port,...`: writes a new cluster's CA,
 * node certificates, gossip keyring, token key, admin token and per-node TOML
 * configurations into directory D.
 *
 * @module
 */
import type { Command } from "commander";
import { initCluster } from "../security/init.ts";

interface InitFlags {
  nodes: string;
  roles?: string;
  label?: string;
  force?: boolean;
  json?: boolean;
}

/** Registers `elasticore init`. */
export function registerInit(program: Command): void {
  program
    .command("init")
    .description("create a cluster CA, node certificates, admin token and one config per node")
    .argument("<dir>", "directory to write into (must be empty unless --force)")
    .requiredOption(
      "--nodes <list>",
      "id=host:port,... (port = RPC; gossip uses port+1, the API port+2)",
    )
    .option(
      "--roles <list>",
      "id=master|worker|master+worker,... (default: first 3 nodes masters, the rest workers)",
    )
    .option("--label <label>", "cluster label carried by tokens", "elasticore")
    .option("--force", "overwrite files in a non-empty directory")
    .option("--json", "machine-readable output")
    .action(async (dir: string, flags: InitFlags) => {
      const result = await initCluster(dir, {
        nodes: flags.nodes,
        roles: flags.roles,
        label: flags.label,
        force: flags.force,
      });
      if (flags.json) {
        console.log(JSON.stringify({
          dir: result.dir,
          label: result.plan.label,
          nodes: result.plan.nodes,
          files: result.files,
          warnings: result.warnings,
        }));
        return;
      }
      console.log(`initialized cluster "${result.plan.label}" in ${dir}:`);
      for (const n of result.plan.nodes) {
        console.log(
          `  ${n.id.padEnd(12)} ${n.roles.join("+").padEnd(13)} ` +
            `rpc ${n.port}  gossip ${n.port + 1}  api ${n.port + 2}  (${n.host})`,
        );
      }
      console.log(`wrote ${result.files.length} files; secrets are mode 0600`);
      for (const w of result.warnings) console.log(`warning: ${w}`);
      console.log(`start a node:      elasticore serve --config ${dir}/<id>.toml`);
      console.log(`admin token:       ${dir}/admin.token (valid 365 days)`);
      console.log(`more tokens:       elasticore token create --dir ${dir} --role reader`);
    });
}
