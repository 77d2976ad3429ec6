/**
 * `elasticore serve --config FILE [overrides] [--print-config]`: run one node
 * (what a systemd unit runs).
 *
 * With `--print-config` it prints the effective configuration as TOML and
 * exits. Otherwise it loads and validates the configuration, sets up logging,
 * writes `<data_dir>/node.pid`, calls the `onStart` hook (where the node's
 * subsystems are plugged in), waits for SIGINT or SIGTERM, stops the node,
 * flushes the logs, removes the pid file and exits 0.
 *
 * @module
 */
import type { Command } from "commander";
import { join } from "node:path";
import { ElasticoreError } from "../errors.ts";
import { type Config, formatConfig, loadConfig } from "../config/mod.ts";
import { getLogger, type Logging, setupLogging } from "../log/mod.ts";

/** Options of `elasticore serve`, as commander parses them. */
export interface ServeOptions {
  /** `--config FILE`. */
  config?: string;
  /** `--set section.key=value` (repeatable). */
  set?: string[];
  /** `--id`. */
  id?: string;
  /** `--data-dir`. */
  dataDir?: string;
  /** `--bind`. */
  bind?: string;
  /** `--rpc-port`. */
  rpcPort?: string;
  /** `--gossip-port`. */
  gossipPort?: string;
  /** `--api-port`. */
  apiPort?: string;
  /** `--transport`. */
  transport?: string;
  /** `--print-config`. */
  printConfig?: boolean;
}

/** A started node, as returned by the `onStart` hook. */
export interface NodeHandle {
  /** Stops the node; awaited before the logs are flushed. */
  stop(): Promise<void> | void;
}

/** Hooks and injections of {@link serveCommandAction}. */
export interface ServeHooks {
  /** Starts the node's subsystems once config and logging are ready. */
  onStart?: (config: Config, logging: Logging) => Promise<NodeHandle | void> | NodeHandle | void;
  /** Stops the node like a signal does (for embedding and tests). */
  signal?: AbortSignal;
  /** The environment for config loading; default `Deno.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where `--print-config` writes; default stdout. */
  write?: (text: string) => void;
}

/** Config summary logged at start: the values an operator checks first. */
export function configSummary(c: Config): Record<string, unknown> {
  return {
    id: c.node.id,
    roles: c.node.roles,
    dataDir: c.node.data_dir,
    bind: c.addresses.bind,
    advertise: c.addresses.advertise,
    rpcPort: c.addresses.rpc_port,
    gossipPort: c.addresses.gossip_port,
    apiPort: c.addresses.api_port,
    transport: c.transport.kind,
    raftMembers: c.raft.members.length,
    seeds: c.swim.seeds.length,
    logLevel: c.logs.level,
    pid: Deno.pid,
  };
}

/** Resolves with the signal name on SIGINT/SIGTERM, or `abort` when `signal` aborts. */
function waitForStop(signal?: AbortSignal): { done: Promise<string>; cleanup: () => void } {
  const cleanups: (() => void)[] = [];
  const done = new Promise<string>((resolveStop) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const handler = () => resolveStop(sig);
      try {
        Deno.addSignalListener(sig, handler);
        cleanups.push(() => Deno.removeSignalListener(sig, handler));
      } catch {
        // SIGTERM cannot be listened for on Windows.
      }
    }
    if (signal) {
      if (signal.aborted) resolveStop("abort");
      const onAbort = () => resolveStop("abort");
      signal.addEventListener("abort", onAbort, { once: true });
      cleanups.push(() => signal.removeEventListener("abort", onAbort));
    }
  });
  return { done, cleanup: () => cleanups.forEach((c) => c()) };
}

function makeDataDir(dir: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true });
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new ElasticoreError("data_dir_unusable", `cannot create data dir "${dir}": ${reason}`, {
      hint: "check node.data_dir and its permissions",
    });
  }
}

/** Runs `elasticore serve`; resolves when the node has stopped cleanly. */
export async function serveCommandAction(
  opts: ServeOptions,
  hooks: ServeHooks = {},
): Promise<void> {
  const config = await loadConfig({
    file: opts.config,
    env: hooks.env,
    flags: {
      set: opts.set,
      id: opts.id,
      dataDir: opts.dataDir,
      bind: opts.bind,
      rpcPort: opts.rpcPort,
      gossipPort: opts.gossipPort,
      apiPort: opts.apiPort,
      transport: opts.transport,
    },
  });
  if (opts.printConfig) {
    const text = formatConfig(config);
    if (hooks.write) hooks.write(text);
    else await Deno.stdout.write(new TextEncoder().encode(text));
    return;
  }

  makeDataDir(config.node.data_dir);
  const stop = waitForStop(hooks.signal);
  const logging = await setupLogging(config);
  const log = getLogger("node");
  const pidFile = join(config.node.data_dir, "node.pid");
  let handle: NodeHandle | void = undefined;
  try {
    log.info("node starting", configSummary(config));
    Deno.writeTextFileSync(pidFile, `${Deno.pid}\n`);
    handle = await hooks.onStart?.(config, logging);
    log.info("node running; stop with SIGINT or SIGTERM", { pid: Deno.pid });
    const reason = await stop.done;
    log.info("node stopping", { reason });
    await handle?.stop();
    log.info("node stopped");
  } catch (e) {
    log.error("node failed: {error}", { error: e });
    throw e;
  } finally {
    stop.cleanup();
    try {
      if (Deno.readTextFileSync(pidFile).trim() === String(Deno.pid)) Deno.removeSync(pidFile);
    } catch {
      // The pid file was never written or is already gone.
    }
    await logging.close();
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Registers `elasticore serve`; `hooks.onStart` plugs the node in. */
export function registerServe(program: Command, hooks: ServeHooks = {}): void {
  program
    .command("serve")
    .description("run one node with the given configuration")
    .option("--config <file>", "node configuration file (TOML)")
    .option("--set <section.key=value>", "override a config key (repeatable)", collect, [])
    .option("--id <id>", "override node.id")
    .option("--data-dir <dir>", "override node.data_dir")
    .option("--bind <host>", "override addresses.bind")
    .option("--rpc-port <port>", "override addresses.rpc_port")
    .option("--gossip-port <port>", "override addresses.gossip_port")
    .option("--api-port <port>", "override addresses.api_port")
    .option("--transport <kind>", "override transport.kind (tcp|quic)")
    .option("--print-config", "print the effective configuration as TOML and exit")
    .action((opts: ServeOptions) => serveCommandAction(opts, hooks));
}
