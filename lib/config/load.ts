/**
 * Loading the node configuration: TOML file, `ELASTICORE_*` environment and
 * command-line flags over the defaults, with precedence
 * flags > environment > file > defaults (per key; a list or table given by a
 * higher source replaces the lower one whole).
 *
 * Errors are {@link ElasticoreError}s with stable codes:
 * `config_not_found`, `config_unreadable`, `config_syntax` (line and column),
 * `config_unknown_key` and `config_invalid_value` (key and file line),
 * `config_missing_key` (`node.id`), `config_invalid_env` (the variable),
 * `config_invalid_flag` (the flag).
 *
 * Relative paths (`node.data_dir`, `security.*_file`) from the file or the
 * defaults resolve against the config file's directory (the working directory
 * without a file); relative paths given by environment or flags resolve
 * against the working directory, as a shell user expects.
 *
 * @module
 */
import { dirname, isAbsolute, resolve } from "node:path";
import type { z } from "zod";
import { ElasticoreError } from "../errors.ts";
import { type Config, configSchema, PATH_KEYS, SECTION_NAMES } from "./schema.ts";
import { describeValue } from "./values.ts";
import {
  type ConfigFlags,
  envLayer,
  fileLayer,
  FLAG_SHORTCUTS,
  flagLayer,
  issueText,
  type Layer,
  type Origin,
  parseTomlText,
} from "./sources.ts";

/** What {@link loadConfig} reads. */
export interface LoadConfigOptions {
  /** Path of the TOML file; without it only environment, flags and defaults apply. */
  file?: string;
  /** TOML source to use instead of reading `file` (`file` still names it and sets its directory). */
  text?: string;
  /** The environment; defaults to `Deno.env.toObject()`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Command-line overrides. */
  flags?: ConfigFlags;
  /** Working directory for relative paths from environment and flags; defaults to `Deno.cwd()`. */
  cwd?: string;
}

async function readConfigFile(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ElasticoreError(
        "config_not_found",
        `config file ${describeValue(file)} not found`,
        {
          hint: "check --config, or create one with `elasticore init`",
        },
      );
    }
    const reason = e instanceof Error ? e.message : String(e);
    throw new ElasticoreError(
      "config_unreadable",
      `cannot read config file ${describeValue(file)}: ${reason}`,
    );
  }
}

/** Loads, merges and validates the configuration; throws {@link ElasticoreError}. */
export async function loadConfig(opts: LoadConfigOptions = {}): Promise<Config> {
  const text = opts.text ?? (opts.file === undefined ? undefined : await readConfigFile(opts.file));
  return buildConfig({ ...opts, text });
}

/** The synchronous core of {@link loadConfig}: `text` is the file's content, if any. */
export function buildConfig(opts: LoadConfigOptions): Config {
  const cwd = opts.cwd ?? Deno.cwd();
  const display = opts.file ?? "config";
  const layers: Layer[] = [];
  if (opts.text !== undefined) {
    layers.push(fileLayer(parseTomlText(opts.text, display), opts.text, display));
  }
  layers.push(envLayer(opts.env ?? Deno.env.toObject()));
  layers.push(flagLayer(opts.flags ?? {}));

  const raw: Record<string, Record<string, unknown>> = {};
  for (const s of SECTION_NAMES) raw[s] = {};
  const origins = new Map<string, Origin>();
  for (const layer of layers) {
    for (const [name, entry] of layer) {
      const dot = name.indexOf(".");
      raw[name.slice(0, dot)][name.slice(dot + 1)] = entry.value;
      origins.set(name, entry.origin);
    }
  }

  const r = configSchema.safeParse(raw);
  if (!r.success) throw finalError(r.error.issues[0], raw, origins, display);
  const config = r.data;

  const fileDir = opts.file === undefined ? cwd : dirname(resolve(cwd, opts.file));
  for (const [section, key] of PATH_KEYS) {
    const origin = origins.get(`${section}.${key}`);
    const base = origin === undefined || origin.kind === "file" ? fileDir : cwd;
    const table: Record<string, unknown> = config[section];
    const value = table[key];
    if (typeof value === "string" && !isAbsolute(value)) table[key] = resolve(base, value);
  }
  return config;
}

function finalError(
  issue: z.core.$ZodIssue,
  raw: Record<string, Record<string, unknown>>,
  origins: Map<string, Origin>,
  display: string,
): ElasticoreError {
  const [section, key, ...rest] = issue.path.map(String);
  let name = `${section}.${key}`;
  const value = raw[section]?.[key];
  let text = issueText({ ...issue, path: rest } as typeof issue, value);
  let origin = origins.get(name);
  if (origin === undefined && value === undefined && issue.code === "invalid_type") {
    const flag = FLAG_SHORTCUTS.find(([, , k]) => k === name)?.[1] ?? `--set ${name}=...`;
    const envName = `ELASTICORE_${name.replace(".", "_").toUpperCase()}`;
    return new ElasticoreError("config_missing_key", `missing required key "${name}"`, {
      hint: `set it in the config file, with ${flag} or ${envName}`,
    });
  }
  // A cross-key check failing on a default: blame the key the user did set.
  const related = issue.code === "custom" ? issue.params?.related : undefined;
  if (origin === undefined && typeof related === "string" && origins.has(related)) {
    text = `${name} (default) ${issue.message}`;
    name = related;
    origin = origins.get(related);
  }
  if (origin === undefined) {
    return new ElasticoreError(
      "config_invalid_value",
      `invalid value for "${name}" (default): ${text}`,
    );
  }
  switch (origin.kind) {
    case "file": {
      const at = origin.line === undefined ? `in ${display}` : `at ${display}:${origin.line}`;
      return new ElasticoreError(
        "config_invalid_value",
        `invalid value for "${name}" ${at}: ${text}`,
      );
    }
    case "env":
      return new ElasticoreError(
        "config_invalid_env",
        `invalid ${origin.name}=${describeValue(origin.raw)} for "${name}": ${text}`,
      );
    case "flag":
      return new ElasticoreError(
        "config_invalid_flag",
        `invalid ${origin.flag} ${describeValue(origin.raw)} for "${name}": ${text}`,
      );
  }
}
