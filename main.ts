/**
 * The `elasticore` binary: one entry point for every role and command.
 *
 * @module
 */
import { runCli } from "./lib/cli/program.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
