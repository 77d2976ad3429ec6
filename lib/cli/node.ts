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
      const r = await client.json<{ node: string }>({ method: "POST", path: "/v1/node/leave" });
      console.log(opts.json ? JSON.stringify(r) : `${r.node} is leaving the cluster`);
    });
}
