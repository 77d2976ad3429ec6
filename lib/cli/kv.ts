/**
 * `elasticore kv get|put|del|list`: the replicated metadata store.
 *
 * @module
 */
import type { Command } from "commander";
import { ElasticoreError } from "../errors.ts";
import { ApiClient, type ClientOptions, withClientOptions } from "./client.ts";

interface KvItemJson {
  key: string;
  value: string;
  encoding?: "base64";
  version: number;
}

function keyPath(key: string): string {
  return "/v1/kv/" + key.split("/").map(encodeURIComponent).join("/");
}

function parseCas(v: string | undefined): string {
  if (v === undefined) return "";
  if (!/^\d+$/.test(v)) {
    throw new ElasticoreError("cli_bad_cas", `--cas needs a version number, got "${v}"`);
  }
  return `?cas=${v}`;
}

async function readStdin(): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
}

function printValue(item: KvItemJson): void {
  if (item.encoding === "base64") {
    const bin = atob(item.value);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    Deno.stdout.writeSync(bytes);
  } else console.log(item.value);
}

/** Registers `elasticore kv ...`. */
export function registerKv(program: Command): void {
  const kv = program.command("kv").description("the replicated metadata store");
  withClientOptions(
    kv.command("get <key>").description("print a key's value")
      .option("--consistency <c>", "linearizable (default) or stale"),
  ).action(async (key: string, opts: ClientOptions & { consistency?: string }) => {
    const client = await ApiClient.fromOptions(opts);
    const q = opts.consistency ? `?consistency=${encodeURIComponent(opts.consistency)}` : "";
    const item = await client.json<KvItemJson>({
      method: "GET",
      path: keyPath(key) + q,
      idempotent: true,
    });
    if (opts.json) console.log(JSON.stringify(item));
    else printValue(item);
  });
  withClientOptions(
    kv.command("put <key> [value]").description(
      "write a value (from the argument, or stdin when omitted or -)",
    )
      .option("--cas <version>", "only if the key is at this version (0: only if absent)"),
  ).action(
    async (key: string, value: string | undefined, opts: ClientOptions & { cas?: string }) => {
      const client = await ApiClient.fromOptions(opts);
      const body = value === undefined || value === "-"
        ? await readStdin()
        : new TextEncoder().encode(value);
      const r = await client.json<{ version: number; created: boolean }>({
        method: "PUT",
        path: keyPath(key) + parseCas(opts.cas),
        body,
        idempotent: opts.cas === undefined,
      });
      if (opts.json) console.log(JSON.stringify(r));
      else console.log(`${key} = version ${r.version}${r.created ? " (created)" : ""}`);
    },
  );
  withClientOptions(
    kv.command("del <key>").description("delete a key")
      .option("--cas <version>", "only if the key is at this version"),
  ).action(async (key: string, opts: ClientOptions & { cas?: string }) => {
    const client = await ApiClient.fromOptions(opts);
    const r = await client.json<{ deleted: boolean; version: number }>({
      method: "DELETE",
      path: keyPath(key) + parseCas(opts.cas),
      idempotent: opts.cas === undefined,
    });
    if (opts.json) console.log(JSON.stringify(r));
    else console.log(r.deleted ? `${key} deleted` : `${key} did not exist`);
  });
  withClientOptions(
    kv.command("list [prefix]").description("list keys under a prefix")
      .option("--limit <n>", "most keys to list", "1000")
      .option("--consistency <c>", "linearizable (default) or stale"),
  ).action(
    async (
      prefix: string | undefined,
      opts: ClientOptions & { limit: string; consistency?: string },
    ) => {
      const client = await ApiClient.fromOptions(opts);
      const q = new URLSearchParams({ prefix: prefix ?? "", limit: opts.limit });
      if (opts.consistency) q.set("consistency", opts.consistency);
      const r = await client.json<{ items: KvItemJson[] }>({
        method: "GET",
        path: `/v1/kv?${q}`,
        idempotent: true,
      });
      if (opts.json) console.log(JSON.stringify(r));
      else {for (const it of r.items) {
          console.log(`${it.key}\t${it.version}\t${it.encoding ? "<binary>" : it.value}`);
        }}
    },
  );
}
