/**
 * The three sources of config values besides the defaults: the TOML file, the
 * `ELASTICORE_*` environment and command-line flags. Each becomes a layer of
 * validated `section.key` entries that remembers where every value came from,
 * so an error can name the file line, the variable or the flag.
 *
 * @module
 */
import { parse as parseToml, TomlError } from "smol-toml";
import { ElasticoreError } from "../errors.ts";
import { fieldSchema, isSection, valueKind } from "./schema.ts";
import { findKeyLine } from "./toml_lines.ts";
import { describeValue, parseValue, suggestKey } from "./values.ts";
import type { z } from "zod";

/** Where a value came from. */
export type Origin =
  | { kind: "file"; line?: number }
  | { kind: "env"; name: string; raw: string }
  | { kind: "flag"; flag: string; raw: string };

/** One value of a layer and its origin. */
export interface Entry {
  /** The value, already checked against the key's schema. */
  value: unknown;
  /** Where it came from. */
  origin: Origin;
}

/** A source's values keyed by `section.key`. */
export type Layer = Map<string, Entry>;

/** Command-line overrides (`elasticore serve` flags). */
export interface ConfigFlags {
  /** `--set section.key=value`, applied in order. */
  set?: readonly string[];
  /** `--id`: node.id. */
  id?: string;
  /** `--data-dir`: node.data_dir. */
  dataDir?: string;
  /** `--bind`: addresses.bind. */
  bind?: string;
  /** `--rpc-port`: addresses.rpc_port. */
  rpcPort?: string | number;
  /** `--gossip-port`: addresses.gossip_port. */
  gossipPort?: string | number;
  /** `--api-port`: addresses.api_port. */
  apiPort?: string | number;
  /** `--transport`: transport.kind. */
  transport?: string;
}

/** The shortcut flags, their option names and the keys they set (applied after `--set`). */
export const FLAG_SHORTCUTS = [
  ["id", "--id", "node.id"],
  ["dataDir", "--data-dir", "node.data_dir"],
  ["bind", "--bind", "addresses.bind"],
  ["rpcPort", "--rpc-port", "addresses.rpc_port"],
  ["gossipPort", "--gossip-port", "addresses.gossip_port"],
  ["apiPort", "--api-port", "addresses.api_port"],
  ["transport", "--transport", "transport.kind"],
] as const;

/** Client and CLI variables that share the prefix but are not config keys. */
export const NON_CONFIG_ENV = new Set([
  "ELASTICORE_API",
  "ELASTICORE_TOKEN",
  "ELASTICORE_CA",
  "ELASTICORE_DEBUG",
  "ELASTICORE_DEBUG_FAULTS",
  "ELASTICORE_FUZZ_SEED",
  "ELASTICORE_FUZZ_SCALE",
  "ELASTICORE_SIM_SEEDS",
]);

/** Describes the first failing issue of a key's validation: `entry 2: expected ..., got ...`. */
export function issueText(issue: z.core.$ZodIssue, value: unknown): string {
  let v = value;
  let where = "";
  for (const p of issue.path) {
    if (typeof p === "number") where = `${where}entry ${p + 1}: `;
    else where = `${where}${String(p)}: `;
    v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  }
  if (issue.code === "unrecognized_keys") {
    return `${where}unknown name(s) ${issue.keys.map(describeValue).join(", ")}`;
  }
  const whole = issue.path.length === 0;
  if (issue.code === "custom" && whole || issue.code === "too_big" && issue.origin === "array") {
    return `${where}${issue.message}`;
  }
  return `${where}${issue.message}, got ${describeValue(v)}`;
}

function hintFor(key: string, render: (k: string) => string = (k) => `"${k}"`) {
  const s = suggestKey(key);
  return s ? { hint: `did you mean ${render(s)}?` } : {};
}

function isTable(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Parses TOML text; syntax errors become `config_syntax` naming line and column. */
export function parseTomlText(text: string, display: string): Record<string, unknown> {
  try {
    return parseToml(text, { integersAsBigInt: "asNeeded", maxDepth: 64 });
  } catch (e) {
    if (e instanceof TomlError) {
      const reason = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new ElasticoreError(
        "config_syntax",
        `invalid TOML at ${display}:${e.line}:${e.column}: ${reason}`,
      );
    }
    const reason = e instanceof Error ? e.message : String(e);
    throw new ElasticoreError("config_syntax", `invalid TOML in ${display}: ${reason}`);
  }
}

/** Validates a parsed TOML document key by key; the error on the earliest line wins. */
export function fileLayer(doc: Record<string, unknown>, text: string, display: string): Layer {
  const layer: Layer = new Map();
  const errors: { line: number; err: ElasticoreError }[] = [];
  const at = (line: number | undefined) =>
    line === undefined ? ` in ${display}` : ` at ${display}:${line}`;
  const fail = (code: string, path: string[], msg: (where: string) => string, hint = {}) => {
    const line = findKeyLine(text, path);
    errors.push({ line: line ?? Infinity, err: new ElasticoreError(code, msg(at(line)), hint) });
  };
  for (const [section, table] of Object.entries(doc)) {
    if (!isSection(section)) {
      fail(
        "config_unknown_key",
        [section],
        (w) => `unknown key ${describeValue(section)}${w}`,
        hintFor(section),
      );
      continue;
    }
    if (!isTable(table)) {
      fail(
        "config_invalid_value",
        [section],
        (w) =>
          `invalid value for ${describeValue(section)}${w}: expected a table, got ${
            describeValue(table)
          }`,
      );
      continue;
    }
    for (const [key, value] of Object.entries(table)) {
      const name = `${section}.${key}`;
      const schema = fieldSchema(section, key);
      if (!schema) {
        fail(
          "config_unknown_key",
          [section, key],
          (w) => `unknown key ${describeValue(name)}${w}`,
          hintFor(name),
        );
        continue;
      }
      const r = schema.safeParse(value);
      if (!r.success) {
        const issue = r.error.issues[0];
        if (issue.code === "unrecognized_keys") {
          const sub = [section, key, ...issue.path.map(String), issue.keys[0]];
          fail("config_unknown_key", sub, (w) => `unknown key ${describeValue(sub.join("."))}${w}`);
        } else {
          const strKeys = issue.path.filter((p): p is string => typeof p === "string");
          fail(
            "config_invalid_value",
            [section, key, ...strKeys],
            (w) => `invalid value for "${name}"${w}: ${issueText(issue, value)}`,
          );
        }
        continue;
      }
      layer.set(name, { value, origin: { kind: "file", line: findKeyLine(text, [section, key]) } });
    }
  }
  if (errors.length > 0) {
    errors.sort((a, b) => a.line - b.line);
    throw errors[0].err;
  }
  return layer;
}

/** Parses and validates one string value for `name` (`section.key`). */
function stringEntry(
  name: string,
  raw: string,
  origin: Origin,
  fail: (msg: string, hint?: { hint?: string }) => ElasticoreError,
): Entry {
  const dot = name.indexOf(".");
  const schema = dot > 0 ? fieldSchema(name.slice(0, dot), name.slice(dot + 1)) : undefined;
  if (!schema) throw fail(`${describeValue(name)} is not a config key`, hintFor(name));
  const parsed = parseValue(valueKind(schema), raw);
  if (!parsed.ok) throw fail(`expected ${parsed.expected}, got ${describeValue(raw)}`);
  const r = schema.safeParse(parsed.value);
  if (!r.success) {
    const issue = r.error.issues[0];
    if (issue.code === "unrecognized_keys") {
      throw fail(`unknown name(s) ${issue.keys.map(describeValue).join(", ")}`);
    }
    throw fail(issueText(issue, parsed.value));
  }
  return { value: parsed.value, origin };
}

/** Reads `ELASTICORE_<SECTION>_<KEY>` variables; any other `ELASTICORE_*` is an error. */
export function envLayer(env: Readonly<Record<string, string | undefined>>): Layer {
  const layer: Layer = new Map();
  for (const name of Object.keys(env).sort()) {
    const raw = env[name];
    if (!name.startsWith("ELASTICORE_") || NON_CONFIG_ENV.has(name) || raw === undefined) {
      continue;
    }
    const rest = name.slice("ELASTICORE_".length);
    const us = rest.indexOf("_");
    const key = us > 0 && rest === rest.toUpperCase()
      ? `${rest.slice(0, us)}.${rest.slice(us + 1)}`.toLowerCase()
      : rest.toLowerCase();
    if (!fieldSchema(...splitKey(key))) {
      const envName = (k: string) => `ELASTICORE_${k.replace(".", "_").toUpperCase()}`;
      throw new ElasticoreError(
        "config_invalid_env",
        `unknown environment variable ${name}: not a config key`,
        hintFor(key, envName),
      );
    }
    const entry = stringEntry(key, raw, { kind: "env", name, raw }, (msg) =>
      new ElasticoreError(
        "config_invalid_env",
        `invalid ${name}=${describeValue(raw)} for "${key}": ${msg}`,
      ));
    layer.set(key, entry);
  }
  return layer;
}

function splitKey(key: string): [string, string] {
  const dot = key.indexOf(".");
  return dot < 0 ? [key, ""] : [key.slice(0, dot), key.slice(dot + 1)];
}

/** Reads `--set section.key=value` (in order) and the shortcut flags (after them). */
export function flagLayer(flags: ConfigFlags): Layer {
  const layer: Layer = new Map();
  for (const item of flags.set ?? []) {
    const eq = item.indexOf("=");
    const key = eq > 0 ? item.slice(0, eq).trim() : "";
    if (!/^[a-z_]+\.[a-z0-9_]+$/.test(key)) {
      throw new ElasticoreError(
        "config_invalid_flag",
        `invalid --set ${describeValue(item)}: expected section.key=value`,
        { hint: "e.g. --set raft.election_timeout_ms=1500" },
      );
    }
    const raw = item.slice(eq + 1);
    const origin: Origin = { kind: "flag", flag: "--set", raw: item };
    layer.set(
      key,
      stringEntry(
        key,
        raw,
        origin,
        (msg, hint) =>
          new ElasticoreError(
            "config_invalid_flag",
            `invalid --set ${describeValue(item)}: ${msg}`,
            hint,
          ),
      ),
    );
  }
  for (const [prop, flag, key] of FLAG_SHORTCUTS) {
    const v = flags[prop];
    if (v === undefined) continue;
    const raw = String(v);
    layer.set(
      key,
      stringEntry(key, raw, { kind: "flag", flag, raw }, (msg) =>
        new ElasticoreError(
          "config_invalid_flag",
          `invalid ${flag} ${describeValue(raw)} for "${key}": ${msg}`,
        )),
    );
  }
  return layer;
}
