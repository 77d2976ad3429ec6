/**
 * `elasticore token create`: signs an API token locally with the cluster
 * token key (from `--key-file F`, or `token.key` in the `--dir D` written by
 * `elasticore init`) and prints it.
 *
 * @module
 */
import type { Command } from "commander";
import { parse as parseToml } from "smol-toml";
import { join } from "node:path";
import { ElasticoreError } from "../errors.ts";
import { parseRole } from "../security/roles.ts";
import { createToken, parseTtl, readTokenKeyFile, validLabel } from "../security/tokens.ts";
import { DEFAULT_LABEL } from "../security/init.ts";

interface TokenCreateFlags {
  role: string;
  ttl: string;
  subject: string;
  keyFile?: string;
  dir?: string;
  label?: string;
  json?: boolean;
}

/**
 * The cluster label recorded in the node configs of an `init` directory, or
 * undefined when there is none (or they disagree).
 */
export async function labelFromInitDir(dir: string): Promise<string | undefined> {
  const labels = new Set<string>();
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return undefined;
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.endsWith(".toml")) continue;
    try {
      const doc = parseToml(await Deno.readTextFile(join(dir, e.name)));
      const security = doc.security;
      if (typeof security === "object" && security !== null && !Array.isArray(security)) {
        const label = (security as Record<string, unknown>).cluster_label;
        if (typeof label === "string") labels.add(label);
      }
    } catch {
      continue;
    }
  }
  return labels.size === 1 ? [...labels][0] : undefined;
}

async function createLocal(flags: TokenCreateFlags): Promise<void> {
  const role = parseRole(flags.role);
  const ttlMs = parseTtl(flags.ttl);
  if (flags.keyFile !== undefined && flags.dir !== undefined) {
    throw new ElasticoreError("token_bad_option", "give either --key-file or --dir, not both");
  }
  let keyFile = flags.keyFile;
  let label = flags.label;
  if (flags.dir !== undefined) {
    keyFile = join(flags.dir, "token.key");
    label ??= await labelFromInitDir(flags.dir);
  }
  if (keyFile === undefined) {
    throw new ElasticoreError("token_no_key", "no token key given", {
      hint: "pass --dir D (a directory from `elasticore init`) or --key-file F",
    });
  }
  label ??= DEFAULT_LABEL;
  if (!validLabel(label)) {
    throw new ElasticoreError("token_bad_option", `cluster label "${label}" is invalid`);
  }
  const key = await readTokenKeyFile(keyFile);
  const now = Date.now();
  const token = await createToken(key, {
    subject: flags.subject,
    role,
    cluster: label,
    ttlMs,
    now,
  });
  if (flags.json) {
    console.log(JSON.stringify({
      token,
      role,
      subject: flags.subject,
      cluster: label,
      expires_at: new Date(Math.floor(now / 1000) * 1000 + Math.floor(ttlMs / 1000) * 1000)
        .toISOString(),
    }));
  } else {
    console.log(token);
  }
}

/** Registers `elasticore token create`. */
export function registerToken(program: Command): void {
  const token = program.command("token").description("API tokens");
  token
    .command("create")
    .description("sign a new API token with the cluster token key and print it")
    .requiredOption("--role <role>", "admin, operator or reader")
    .option("--ttl <duration>", "lifetime: 30s, 15m, 24h, 7d ...", "24h")
    .option("--subject <name>", "who the token is for", "cli")
    .option("--key-file <file>", "the cluster token key (token.key)")
    .option("--dir <dir>", "a directory written by `elasticore init`")
    .option("--label <label>", "cluster label (default: from --dir configs, else elasticore)")
    .option("--json", "machine-readable output")
    .action(async (flags: TokenCreateFlags) => {
      await createLocal(flags);
    });
}
