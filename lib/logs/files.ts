/**
 * Finds a node's log files in scan order: rotated `node-<timestamp>.jsonl`
 * files oldest first, then the active `node.jsonl`.
 *
 * @module
 */
import { join } from "node:path";

const ROTATED = /^node-(.+)\.jsonl$/;

/** Orders two rotated-file timestamps: numerically when both are digits, else as text. */
function compareStamps(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b) && a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The log files under `<dataDir>/logs`, oldest first; an empty list when the
 * directory does not exist.
 */
export async function listLogFiles(dataDir: string): Promise<string[]> {
  const dir = join(dataDir, "logs");
  const rotated: string[] = [];
  let active = false;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile) continue;
      if (e.name === "node.jsonl") active = true;
      else {
        const m = ROTATED.exec(e.name);
        if (m) rotated.push(m[1]);
      }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  rotated.sort(compareStamps);
  const files = rotated.map((s) => join(dir, `node-${s}.jsonl`));
  if (active) files.push(join(dir, "node.jsonl"));
  return files;
}
