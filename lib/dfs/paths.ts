/**
 * DFS path validation, shared by the HTTP API and the CLI.
 *
 * A DFS path is a sequence of names separated by `/`. Input may be absolute
 * (`/a/b/c`) or relative (`a/b/c`, read from the root) and may end with one
 * `/`; the normalized form is absolute, without a trailing `/`, in Unicode
 * NFC, and `/` alone is the root. Rejected, with a typed error naming the
 * problem and the offending segment: `.` and `..` segments, empty segments
 * (`//`), names over 255 bytes, paths over 4096 bytes (UTF-8), control
 * characters (U+0000–U+001F, U+007F, NUL included), backslashes and text
 * that is not valid Unicode (lone surrogates).
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";

/** Longest normalized path, in UTF-8 bytes. */
export const MAX_PATH_BYTES = 4096;

/** Longest single name (path segment), in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;

/** What is wrong with a rejected path. */
export type PathProblem =
  | "not_a_string"
  | "empty"
  | "empty_segment"
  | "dot_segment"
  | "dotdot_segment"
  | "name_too_long"
  | "path_too_long"
  | "nul"
  | "control_character"
  | "backslash"
  | "slash_in_name"
  | "invalid_unicode";

/** A rejected DFS path: code `fs_invalid_path`, with the problem and the offending segment. */
export class InvalidPathError extends ElasticoreError {
  /** What is wrong. */
  readonly problem: PathProblem;
  /** The offending segment (or the whole input when no single segment is at fault). */
  readonly segment: string;

  /** Creates the error for `problem` found in `segment`. */
  constructor(problem: PathProblem, segment: string, message: string) {
    super("fs_invalid_path", message, {
      hint: "use names of 1-255 bytes separated by single '/', without '.', '..', " +
        "backslashes or control characters",
      status: 400,
    });
    this.name = "InvalidPathError";
    this.problem = problem;
    this.segment = segment;
  }
}

const encoder = new TextEncoder();

/** A short, printable rendering of user input for error messages. */
function show(s: string): string {
  const cut = s.length > 80 ? `${s.slice(0, 80)}…` : s;
  return JSON.stringify(cut);
}

function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return true;
    }
  }
  return false;
}

function checkName(name: string): void {
  if (name === "") {
    throw new InvalidPathError("empty_segment", name, "path has an empty segment ('//')");
  }
  if (name === ".") {
    throw new InvalidPathError("dot_segment", name, "path has a '.' segment");
  }
  if (name === "..") {
    throw new InvalidPathError("dotdot_segment", name, "path has a '..' segment");
  }
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0) {
      throw new InvalidPathError("nul", name, `segment ${show(name)} contains a NUL character`);
    }
    if (c < 0x20 || c === 0x7f) {
      const code = `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
      throw new InvalidPathError(
        "control_character",
        name,
        `segment ${show(name)} contains the control character ${code}`,
      );
    }
    if (c === 0x5c) {
      throw new InvalidPathError("backslash", name, `segment ${show(name)} contains a backslash`);
    }
  }
  const bytes = encoder.encode(name).byteLength;
  if (bytes > MAX_NAME_BYTES) {
    throw new InvalidPathError(
      "name_too_long",
      name,
      `segment ${show(name)} is ${bytes} bytes; names are at most ${MAX_NAME_BYTES} bytes`,
    );
  }
}

/**
 * Validates and normalizes a DFS path; throws {@link InvalidPathError}
 * (an `ElasticoreError` with code `fs_invalid_path`) when it is not valid.
 */
export function normalizePath(input: unknown): string {
  if (typeof input !== "string") {
    throw new InvalidPathError("not_a_string", String(input), "path must be a string");
  }
  if (input === "") throw new InvalidPathError("empty", input, "path is empty");
  if (hasLoneSurrogate(input)) {
    throw new InvalidPathError("invalid_unicode", input, "path is not valid Unicode");
  }
  // Cheap bound before normalizing huge input: NFC shrinks a string by at most
  // 3 UTF-16 units to 1, and every unit is at least one UTF-8 byte.
  if (input.length > 3 * (MAX_PATH_BYTES + 2)) {
    throw tooLong(show(input), encoder.encode(input).byteLength);
  }
  const nfc = input.normalize("NFC");
  let body = nfc.startsWith("/") ? nfc.slice(1) : nfc;
  if (body.endsWith("/")) body = body.slice(0, -1);
  if (body === "") {
    if (nfc === "/") return "/";
    throw new InvalidPathError("empty_segment", "", "path has an empty segment ('//')");
  }
  const names = body.split("/");
  for (const name of names) checkName(name);
  const out = `/${names.join("/")}`;
  const bytes = encoder.encode(out).byteLength;
  if (bytes > MAX_PATH_BYTES) throw tooLong(out, bytes);
  return out;
}

function tooLong(path: string, bytes: number): InvalidPathError {
  return new InvalidPathError(
    "path_too_long",
    path,
    `path is ${bytes} bytes; paths are at most ${MAX_PATH_BYTES} bytes`,
  );
}

/** Like {@link normalizePath}, but returns the error instead of throwing it. */
export function checkPath(
  input: unknown,
): { ok: true; path: string } | { ok: false; error: InvalidPathError } {
  try {
    return { ok: true, path: normalizePath(input) };
  } catch (e) {
    if (e instanceof InvalidPathError) return { ok: false, error: e };
    throw e;
  }
}

/** The names of a normalized path (`/` has none). */
export function pathSegments(path: string): string[] {
  const p = normalizePath(path);
  return p === "/" ? [] : p.slice(1).split("/");
}

/** The parent of a normalized path (`/` is its own parent). */
export function parentPath(path: string): string {
  const names = pathSegments(path);
  names.pop();
  return `/${names.join("/")}`;
}

/** Joins a directory path and one name, validating the result. */
export function joinPath(dir: string, name: string): string {
  const d = normalizePath(dir);
  if (name.includes("/")) {
    throw new InvalidPathError("slash_in_name", name, `name ${show(name)} contains '/'`);
  }
  checkName(name.normalize("NFC"));
  return normalizePath(d === "/" ? `/${name}` : `${d}/${name}`);
}
