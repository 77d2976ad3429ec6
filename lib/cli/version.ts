/**
 * `elasticore version`.
 *
 * @module
 */
import type { Command } from "commander";
import { buildInfo } from "../version.ts";

/** Registers `elasticore version [--json]`. */
export function registerVersion(program: Command): void {
  program
    .command("version")
    .description("print version and build information")
    .option("--json", "machine-readable output")
    .action((opts: { json?: boolean }) => {
      const info = buildInfo();
      if (opts.json) console.log(JSON.stringify(info));
      else {
        console.log(
          `elasticore ${info.version} (deno ${info.deno}, v8 ${info.v8}, typescript ${info.typescript}, target ${info.target})`,
        );
      }
    });
}
