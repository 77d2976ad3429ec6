/**
 * The `elasticore` command line: builds the commander program from one
 * registration function per command group, and turns user errors into one
 * clear line and a non-zero exit status.
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { ElasticoreError } from "../errors.ts";
import { registerVersion } from "./version.ts";
import { registerServe } from "./serve.ts";
import { startNode } from "../node.ts";
import { registerInit } from "./init.ts";
import { registerToken } from "./token.ts";
import { registerLb } from "./lb.ts";
import { registerFs } from "./fs.ts";
import { registerKv } from "./kv.ts";
import { registerRaft } from "./raft.ts";
import { registerJob } from "./job.ts";
import { registerLogs } from "./logs.ts";
import { registerDev } from "./dev.ts";
import { registerNode } from "./node.ts";

/** Builds the full `elasticore` program. */
export function buildProgram(): Command {
  const program = new Command("elasticore")
    .description("ElastiCore: a fault-tolerant distributed data-processing system")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerVersion(program);
  registerServe(program, {
    // A node whose durable storage fails must not keep answering: exit so systemd restarts it.
    onStart: (config) => startNode(config, { onFatal: () => Deno.exit(70) }),
  });
  registerInit(program);
  registerToken(program);
  registerLb(program);
  registerFs(program);
  registerKv(program);
  registerRaft(program);
  registerJob(program);
  registerLogs(program);
  registerDev(program);
  registerNode(program);
  return program;
}

/**
 * Exit code of a node that refuses to start because it left the cluster (`dfs_node_left`):
 * the systemd unit's `RestartPreventExitStatus` keeps it from restarting in a loop.
 */
export const EXIT_NODE_LEFT = 78;

/** Runs the CLI with `args`; returns the process exit code. */
export async function runCli(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its message (or the help text).
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof ElasticoreError) {
      console.error(e.toLine());
      return e.code === "dfs_node_left" ? EXIT_NODE_LEFT : 1;
    }
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`error[internal]: ${msg}`);
    if (Deno.env.get("ELASTICORE_DEBUG")) console.error(e);
    return 1;
  }
}
