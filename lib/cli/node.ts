/**
 * `elasticore node leave`: asks one node to leave the cluster gracefully.
 *
 * @module
 */
import type { Command } from "commander";
import { ApiClient, type ClientOptions, withClientOptions } from "./client.ts";

/** Registers `elasticore node leave`. */
export function registerNode(program: Command): void {
  const node = program.command("node").description("operations on one node (the first --api URL)");
  withClientOptions(
    node.command("leave").description("leave the cluster gracefully, then stop that node"),
  )
    .action(async (opts: ClientOptions) => {
      const first = (opts.api ?? Deno.env.get("ELASTICORE_API") ?? "").split(",")[0];
      const client = await ApiClient.fromOptions({ ...opts, api: first });
      const r = await client.json<{ node: string; handoff?: Record<string, unknown> }>({
        method: "POST",
        path: "/v1/node/leave",
      });
      console.log(opts.json ? JSON.stringify(r) : `${r.node} is leaving the cluster`);
      if (!opts.json && r.handoff) console.log(handoffLine(r.handoff));
    });
}

/** One line on the DFS metadata hand-off of a leaving node (`lib/dfs/node_handoff.ts`). */
export function handoffLine(h: Record<string, unknown>): string {
  if (typeof h.error === "string") return `DFS hand-off failed: ${h.error}`;
  const failed = Array.isArray(h.failed) ? h.failed.length : 0;
  const head = `DFS hand-off: ${h.records} records, ${h.stored} copies stored, ` +
    `${h.alreadyThere} already there, ${h.ms} ms`;
  return failed === 0
    ? `${head}; ${h.announced} members dropped it from the metadata owners`
    : `${head}; ${failed} records missed a majority of their new owners, so the others ` +
      `treat it as crashed (it stays a metadata owner for 10 minutes)`;
}
