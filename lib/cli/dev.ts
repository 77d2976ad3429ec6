/**
 * `elasticore dev`: a real local cluster of separate node processes on
 * loopback with TLS and tokens; writes `D/client.env`; stops cleanly on Ctrl-C.
 *
 * @module
 */
import type { Command } from "commander";
import { ElasticoreError } from "../errors.ts";
import { DevCluster } from "./dev_cluster.ts";
import { ApiClient } from "./client.ts";
import { runDemo } from "./dev_demo.ts";

/** Options of `elasticore dev`, as commander parses them. */
export interface DevOptions {
  /** `--masters`. */
  masters: string;
  /** `--workers`. */
  workers: string;
  /** `--dir`. */
  dir: string;
  /** `--port-base`. */
  portBase: string;
  /** `--transport`. */
  transport: string;
  /** `--demo`. */
  demo?: boolean;
}

function count(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0 || n > 50) {
    throw new ElasticoreError(
      "dev_bad_option",
      `--${name} needs a whole number from 0 to 50, got "${v}"`,
    );
  }
  return n;
}

/** Parses the options into a cluster (not yet started). */
export function devClusterFrom(opts: DevOptions): DevCluster {
  if (opts.transport !== "tcp" && opts.transport !== "quic") {
    throw new ElasticoreError(
      "dev_bad_option",
      `--transport must be tcp or quic, got "${opts.transport}"`,
    );
  }
  const portBase = Number(opts.portBase);
  if (!Number.isSafeInteger(portBase)) {
    throw new ElasticoreError(
      "dev_bad_option",
      `--port-base needs a port number, got "${opts.portBase}"`,
    );
  }
  return new DevCluster({
    masters: count("masters", opts.masters),
    workers: count("workers", opts.workers),
    dir: opts.dir,
    portBase,
    transport: opts.transport,
  });
}

/** Registers `elasticore dev`. */
export function registerDev(program: Command): void {
  program
    .command("dev")
    .description("run a local cluster of separate node processes on 127.0.0.1 (Ctrl-C stops it)")
    .option("--masters <n>", "number of masters", "3")
    .option("--workers <n>", "number of workers", "3")
    .option("--dir <dir>", "directory for configs, certificates and data", ".elasticore/dev")
    .option("--port-base <port>", "first port (node i uses port-base + 10*i .. +2)", "7400")
    .option("--transport <kind>", "tcp or quic", "tcp")
    .option("--demo", "load generated sample data, run app1 and app2, print the results and exit")
    .action(async (opts: DevOptions) => {
      const cluster = devClusterFrom(opts);
      await cluster.init();
      if (opts.demo) {
        await cluster.start();
        try {
          const leader = await cluster.waitForLeader(30_000);
          console.log(
            `cluster up in ${cluster.dir}: ${cluster.nodes.length} nodes, leader ${leader}`,
          );
          const apis = cluster.nodes.filter((n) => n.master).map((n) => n.api);
          const client = new ApiClient(
            apis,
            await cluster.token(),
            await Deno.readTextFile(cluster.caFile),
          );
          // Generous: on a loaded machine six processes start slowly; the error names who is missing.
          await cluster.waitForWorkers(client, 60_000);
          const r = await runDemo(client, (s) => console.log(s));
          if (!r.agree) {
            throw new ElasticoreError(
              "demo_mismatch",
              "the cluster's results differ from the plain computation",
            );
          }
        } finally {
          await cluster.stop();
        }
        return;
      }
      const stopped = new Promise<void>((resolve) => {
        const stop = () => resolve();
        Deno.addSignalListener("SIGINT", stop);
        Deno.addSignalListener("SIGTERM", stop);
      });
      await cluster.start();
      try {
        const leader = await cluster.waitForLeader(30_000);
        const env = await cluster.writeClientEnv();
        console.log(
          `cluster up in ${cluster.dir}: ${cluster.nodes.length} nodes, leader ${leader}`,
        );
        for (const n of cluster.nodes) {
          console.log(`  ${n.id.padEnd(4)} ${n.master ? "master" : "worker"}  ${n.api}`);
        }
        console.log(
          `\nuse it from another terminal:\n  set -a; . ${env}; set +a\n  elasticore status`,
        );
        console.log(
          `\nnode logs: ${cluster.dir}/data/<id>/logs, process output: ${cluster.dir}/<id>.out`,
        );
        console.log("Ctrl-C stops the cluster.");
        await stopped;
      } finally {
        console.log("stopping the cluster...");
        await cluster.stop();
      }
    });
}
