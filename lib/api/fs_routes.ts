/**
 * The DFS over HTTP:
 *
 * - `PUT /v1/fs/{path}`: store the streamed body as a new file (409 `fs_exists` if it
 *   exists); `?overwrite=true` replaces it; `?append` appends the body instead. 201 (put) or
 *   200 (append) with the file's stat.
 * - `GET /v1/fs/{path}`: the content, streamed; `Range: bytes=a-b` (or `a-`, `-n`) answers
 *   206 with `Content-Range`; `?stat` answers the stat as JSON instead.
 * - `GET /v1/fs?prefix=P`: `{"files": [stat...]}`.
 * - `DELETE /v1/fs/{path}`: remove (tombstone, then blocks).
 * - `POST /v1/fs/{path}?merge`: compact appended pieces.
 *
 * Path segments are percent-decoded and validated (`fs_invalid_path`).
 *
 * @module
 */
import type { Context, Hono } from "hono";
import type { DfsNode, FileRange } from "../dfs/node.ts";
import { ElasticoreError } from "../errors.ts";
import { need } from "./auth.ts";
import type { ApiModule } from "./app.ts";

const PREFIX = "/v1/fs/";

/** The DFS path named by the request URL. */
export function pathOf(c: Context): string {
  const url = new URL(c.req.url);
  const raw = url.pathname.slice(url.pathname.indexOf(PREFIX) + PREFIX.length);
  try {
    return "/" + raw.split("/").map((s) => decodeURIComponent(s)).join("/");
  } catch {
    throw new ElasticoreError("fs_invalid_path", "the path is not valid percent-encoding", {
      status: 400,
    });
  }
}

/**
 * Parses a `Range` header (one range, `bytes=a-b`, `bytes=a-` or `bytes=-n`) against a file
 * of `size` bytes; undefined when absent. Unsatisfiable or malformed: 416 `fs_bad_range`.
 */
export function parseRange(header: string | undefined, size: number): FileRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  const bad = (why: string) =>
    new ElasticoreError("fs_bad_range", `Range "${header}": ${why}`, { status: 416 });
  if (!m || (m[1] === "" && m[2] === "")) throw bad("expected bytes=a-b, bytes=a- or bytes=-n");
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) throw bad("an empty suffix range");
    return { offset: Math.max(0, size - n), length: Math.min(n, size) };
  }
  const a = Number(m[1]);
  const b = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!Number.isSafeInteger(a) || a >= size) throw bad(`the file has ${size} bytes`);
  if (b < a) throw bad("the end is before the start");
  return { offset: a, length: b - a + 1 };
}

function flag(c: Context, name: string): boolean {
  return c.req.query(name) !== undefined;
}

/** The DFS routes, served by `dfs` (this node's DFS node). */
export function fsRoutes(dfs: () => DfsNode): ApiModule {
  return (app: Hono) => {
    app.get("/v1/fs", need("fs:read"), async (c) => {
      const prefix = c.req.query("prefix") ?? "/";
      const limitRaw = c.req.query("limit") ?? "10000";
      const limit = Number(limitRaw);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 100_000) {
        throw new ElasticoreError("fs_invalid_limit", `limit must be 1..100000, got "${limitRaw}"`);
      }
      const norm = prefix.startsWith("/") ? prefix : `/${prefix}`;
      return c.json({ files: await dfs().list(norm, limit) });
    });

    app.get("/v1/fs/*", need("fs:read"), async (c) => {
      const path = pathOf(c);
      const node = dfs();
      if (flag(c, "stat")) return c.json(await node.stat(path));
      const header = c.req.header("range");
      let range: FileRange | undefined;
      if (header !== undefined) {
        const st = await node.stat(path);
        range = parseRange(header, st.size);
      }
      const r = await node.get(path, range);
      const headers: Record<string, string> = {
        "content-type": "application/octet-stream",
        "content-length": String(r.length),
        "x-elasticore-version": String(r.stat.version),
        "accept-ranges": "bytes",
      };
      if (range) {
        headers["content-range"] = `bytes ${r.offset}-${r.offset + r.length - 1}/${r.stat.size}`;
      }
      return new Response(r.body, { status: range ? 206 : 200, headers });
    });

    app.put("/v1/fs/*", need("fs:write"), async (c) => {
      const path = pathOf(c);
      const body = c.req.raw.body ?? new Uint8Array(0);
      if (flag(c, "append")) return c.json(await dfs().append(path, body));
      const overwrite = c.req.query("overwrite");
      if (overwrite !== undefined && overwrite !== "true" && overwrite !== "false") {
        throw new ElasticoreError(
          "fs_invalid_option",
          `overwrite must be true or false, got "${overwrite}"`,
        );
      }
      const stat = await dfs().put(path, body, { overwrite: overwrite === "true" });
      return c.json(stat, 201);
    });

    app.delete("/v1/fs/*", need("fs:write"), async (c) => {
      const r = await dfs().remove(pathOf(c));
      return c.json({ ...r, deleted: true });
    });

    app.post("/v1/fs/*", need("fs:write"), async (c) => {
      if (!flag(c, "merge")) {
        throw new ElasticoreError("fs_invalid_option", "POST /v1/fs/{path} needs ?merge");
      }
      return c.json(await dfs().merge(pathOf(c)));
    });
  };
}
