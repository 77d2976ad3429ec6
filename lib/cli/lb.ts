/**
 * `elasticore lb`: runs the leader-aware HTTPS load balancer in front of the
 * masters' APIs until SIGINT or SIGTERM, then stops gracefully (no new
 * connections, in-flight requests finish). Prints one line
 * `elasticore lb listening on URL` on stdout once it accepts connections;
 * backend state changes are logged on stderr.
 *
 * @module
 */
import type { Command } from "commander";
import { configure, reset, type Sink } from "@logtape/logtape";
import { formatConsoleLine } from "../log/mod.ts";
import { type LbFlags, loadLbConfig } from "../lb/config.ts";
import { startLoadBalancerFromConfig } from "../lb/server.ts";

/** Hooks of {@link lbCommandAction} (for embedding and tests). */
export interface LbHooks {
  /** Stops the load balancer like a signal does. */
  signal?: AbortSignal;
  /** Where the listening line goes; default stdout. */
  print?: (line: string) => void;
}

function waitForSignal(signal?: AbortSignal): { done: Promise<string>; cleanup: () => void } {
  const cleanups: (() => void)[] = [];
  const done = new Promise<string>((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const handler = () => resolve(sig);
      try {
        Deno.addSignalListener(sig, handler);
        cleanups.push(() => Deno.removeSignalListener(sig, handler));
      } catch {
        // SIGTERM cannot be listened for on Windows.
      }
    }
    if (signal) {
      if (signal.aborted) resolve("abort");
      const onAbort = () => resolve("abort");
      signal.addEventListener("abort", onAbort, { once: true });
      cleanups.push(() => signal.removeEventListener("abort", onAbort));
    }
  });
  return { done, cleanup: () => cleanups.forEach((c) => c()) };
}

function stderrSink(): Sink {
  const encoder = new TextEncoder();
  const color = Deno.stderr.isTerminal();
  return (record) => {
    const data = encoder.encode(formatConsoleLine(record, color));
    let off = 0;
    while (off < data.length) off += Deno.stderr.writeSync(data.subarray(off));
  };
}

/** Runs `elasticore lb`; resolves once it has stopped. */
export async function lbCommandAction(flags: LbFlags, hooks: LbHooks = {}): Promise<void> {
  const config = await loadLbConfig(flags);
  await configure({
    reset: true,
    sinks: { console: stderrSink() },
    loggers: [
      { category: ["elasticore"], sinks: ["console"], lowestLevel: "info" },
      { category: ["logtape", "meta"], sinks: ["console"], lowestLevel: "warning" },
    ],
  });
  const stop = waitForSignal(hooks.signal);
  try {
    const lb = await startLoadBalancerFromConfig(config);
    (hooks.print ?? console.log)(`elasticore lb listening on ${lb.url}`);
    await stop.done;
    await lb.stop();
  } finally {
    stop.cleanup();
    await reset();
  }
}

/** Registers `elasticore lb`. */
export function registerLb(program: Command, hooks: LbHooks = {}): void {
  program
    .command("lb")
    .description("run the leader-aware HTTPS load balancer in front of the masters' APIs")
    .option("--config <file>", "TOML file with an [lb] table (flags override it)")
    .option("--listen <host:port>", "listen address (default 127.0.0.1:7500)")
    .option("--backends <urls>", "comma-separated backend API origins (https://host:port)")
    .option("--ca <file>", "cluster CA certificate that backends are verified against")
    .option("--cert <file>", "the load balancer's TLS certificate")
    .option("--key <file>", "the load balancer's TLS private key")
    .option("--policy <policy>", "read balancing: round-robin | least-connections")
    .option("--check-interval <duration>", "health check interval per backend (default 500ms)")
    .option("--fall <n>", "consecutive failures that eject a backend (default 2)")
    .option("--rise <n>", "consecutive successes that re-admit it (default 2)")
    .option("--timeout <duration>", "upstream response timeout and leader wait (default 5s)")
    .option("--retries <n>", "extra attempts on another backend when safe (default 2)")
    .action((opts: LbFlags) => lbCommandAction(opts, hooks));
}
