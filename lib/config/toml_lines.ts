/**
 * Finds the line of a key in TOML source, so config errors can say
 * `node.toml:12`. smol-toml does not keep positions, so this scans the text:
 * it follows `[table]` / `[[array]]` headers, dotted keys (`raft.members = ...`,
 * `levels.raft = ...`) and inline tables (`raft = { ... }`, reported at the
 * line of the key that opens them), and skips comments and multi-line strings.
 *
 * @module
 */

/** Splits a TOML key (`a."b.c".d`) into its parts; undefined when malformed. */
export function splitDottedKey(text: string): string[] | undefined {
  const parts: string[] = [];
  let i = 0;
  const n = text.length;
  const skipWs = () => {
    while (i < n && (text[i] === " " || text[i] === "\t")) i++;
  };
  for (;;) {
    skipWs();
    if (i >= n) return undefined;
    const c = text[i];
    if (c === '"' || c === "'") {
      const end = findClosingQuote(text, i);
      if (end < 0) return undefined;
      const raw = text.slice(i + 1, end);
      parts.push(c === '"' ? unescapeBasic(raw) : raw);
      i = end + 1;
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(text.slice(i));
      if (!m) return undefined;
      parts.push(m[0]);
      i += m[0].length;
    }
    skipWs();
    if (i >= n) return parts;
    if (text[i] !== ".") return undefined;
    i++;
  }
}

function findClosingQuote(text: string, start: number): number {
  const q = text[start];
  for (let i = start + 1; i < text.length; i++) {
    if (q === '"' && text[i] === "\\") {
      i++;
      continue;
    }
    if (text[i] === q) return i;
  }
  return -1;
}

function unescapeBasic(raw: string): string {
  try {
    const v: unknown = JSON.parse(`"${raw}"`);
    return typeof v === "string" ? v : raw;
  } catch {
    return raw;
  }
}

/** Index of the first `=` outside quotes, or -1. */
function findAssign(line: string): number {
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"' || c === "'") {
      const end = findClosingQuote(line, i);
      if (end < 0) return -1;
      i = end;
    } else if (c === "=") return i;
    else if (c === "#") return -1;
  }
  return -1;
}

function isPrefix(prefix: readonly string[], of: readonly string[]): boolean {
  if (prefix.length > of.length) return false;
  return prefix.every((p, i) => p === of[i]);
}

/** The multi-line string delimiter left open by `text`, if any. */
function openMultiline(text: string): string | undefined {
  let open: string | undefined;
  for (let i = 0; i < text.length; i++) {
    if (open) {
      if (text.startsWith(open, i)) {
        i += 2;
        open = undefined;
      } else if (open === '"""' && text[i] === "\\") i++;
      continue;
    }
    const c = text[i];
    if (c === "#") break;
    if (text.startsWith('"""', i) || text.startsWith("'''", i)) {
      open = text.slice(i, i + 3);
      i += 2;
    } else if (c === '"' || c === "'") {
      const end = findClosingQuote(text, i);
      if (end < 0) break;
      i = end;
    }
  }
  return open;
}

/**
 * The 1-based line where the key at `path` (e.g. `["raft", "members"]`) is
 * defined, or where the table or inline table holding it starts; undefined
 * when the text does not mention it.
 */
export function findKeyLine(source: string, path: readonly string[]): number | undefined {
  const lines = source.split(/\r?\n/);
  let table: string[] = [];
  let inString: string | undefined;
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln];
    if (inString) {
      const close = line.indexOf(inString);
      if (close >= 0) inString = undefined;
      continue;
    }
    const trimmed = line.trimStart();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    if (trimmed.startsWith("[")) {
      const array = trimmed.startsWith("[[");
      const body = trimmed.slice(array ? 2 : 1);
      const close = body.indexOf(array ? "]]" : "]");
      const parts = close >= 0 ? splitDottedKey(body.slice(0, close)) : undefined;
      if (parts) {
        table = parts;
        if (isPrefix(path, parts)) return ln + 1;
      }
      continue;
    }
    const eq = findAssign(trimmed);
    if (eq < 0) continue;
    const parts = splitDottedKey(trimmed.slice(0, eq));
    if (parts) {
      const full = [...table, ...parts];
      if (isPrefix(full, path) || isPrefix(path, full)) return ln + 1;
    }
    inString = openMultiline(trimmed.slice(eq + 1));
  }
  return undefined;
}
