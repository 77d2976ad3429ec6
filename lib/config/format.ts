/**
 * Rendering a {@link Config} as TOML (what `elasticore serve --print-config`
 * prints): every section in file order, every key, lists inline and
 * `logs.levels` as an inline table. The output parses back to the same config.
 *
 * @module
 */
import { type Config, SECTION_NAMES, SECTION_SCHEMAS } from "./schema.ts";

function bareKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

function renderValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(renderValue).join(", ")}]`;
  if (v !== null && typeof v === "object") {
    const items = Object.entries(v).map(([k, x]) => `${bareKey(k)} = ${renderValue(x)}`);
    return items.length === 0 ? "{}" : `{ ${items.join(", ")} }`;
  }
  throw new TypeError(`cannot render ${typeof v} as TOML`);
}

/** Renders `config` as a TOML document, one `[section]` per config section. */
export function formatConfig(config: Config): string {
  const out: string[] = [`# effective configuration of node "${config.node.id}"`];
  for (const section of SECTION_NAMES) {
    out.push("", `[${section}]`);
    const values: Record<string, unknown> = config[section];
    for (const key of Object.keys(SECTION_SCHEMAS[section].shape)) {
      if (values[key] !== undefined) out.push(`${bareKey(key)} = ${renderValue(values[key])}`);
    }
  }
  return out.join("\n") + "\n";
}
