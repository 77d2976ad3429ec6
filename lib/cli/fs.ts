/**
 * `elasticore fs put|get|cat|append|ls|rm|stat|merge`: the DFS from the command line, over the
 * HTTP API. Transfers stream (nothing is held in memory); a progress bar (bytes and rate)
 * is drawn on stderr when it is a terminal and the transfer is larger than 8 MiB.
 *
 * @module
 */
import type { Command } from "commander";
import { FsClient } from "../dfs/client.ts";
import type { FileStat } from "../dfs/file_meta.ts";
import { ElasticoreError } from "../errors.ts";
import { ApiClient, type ClientOptions, withClientOptions } from "./client.ts";

/** Transfers at least this large get a progress bar. */
const PROGRESS_MIN_BYTES = 8 * 1024 * 1024;

/** Human-readable bytes. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** One progress line: bar, percentage, bytes and rate. */
export function progressLine(done: number, total: number | undefined, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const tail = `${formatBytes(done)}${total ? ` / ${formatBytes(total)}` : ""} ` +
    `${formatBytes(rate)}/s`;
  if (!total) return tail;
  const width = 30;
  const filled = Math.min(width, Math.round((done / total) * width));
  const pct = Math.min(100, Math.floor((done / total) * 100));
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(pct).padStart(3)}% ${tail}`;
}

/**
 * Passes a byte stream through, drawing a progress bar on stderr when it is a terminal and
 * the transfer is large.
 */
export function withProgress(
  stream: ReadableStream<Uint8Array>,
  total: number | undefined,
): ReadableStream<Uint8Array> {
  const show = Deno.stderr.isTerminal() && (total === undefined || total >= PROGRESS_MIN_BYTES);
  if (!show) return stream;
  const enc = new TextEncoder();
  const started = performance.now();
  let done = 0;
  let last = 0;
  const draw = (final: boolean) => {
    const line = progressLine(done, total, performance.now() - started);
    Deno.stderr.writeSync(enc.encode(`\r${line}\x1b[K${final ? "\n" : ""}`));
  };
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        done += chunk.byteLength;
        const now = performance.now();
        if (now - last > 200) {
          last = now;
          draw(false);
        }
        c.enqueue(chunk);
      },
      flush() {
        draw(true);
      },
    }),
  );
}

function print(json: boolean | undefined, value: unknown, text: string): void {
  console.log(json ? JSON.stringify(value) : text);
}

function describe(s: FileStat): string {
  return `${s.path}  ${formatBytes(s.size)} (${s.size} bytes)  version ${s.version}  ` +
    `${s.blocks} blocks${s.pieces ? ` (${s.pieces} appended pieces)` : ""}  ` +
    `modified ${new Date(s.modifiedMs).toISOString()}`;
}

async function client(opts: ClientOptions): Promise<FsClient> {
  return new FsClient(await ApiClient.fromOptions(opts));
}

async function openLocal(
  file: string,
): Promise<{ stream: ReadableStream<Uint8Array>; size: number }> {
  try {
    const f = await Deno.open(file, { read: true });
    const info = await f.stat();
    if (!info.isFile) {
      f.close();
      throw new ElasticoreError("fs_local_not_file", `${file} is not a regular file`);
    }
    return { stream: f.readable, size: info.size };
  } catch (e) {
    if (e instanceof ElasticoreError) throw e;
    throw new ElasticoreError(
      "fs_local_unreadable",
      `cannot read ${file}: ${(e as Error).message}`,
    );
  }
}

/** Writes a download to `local` (or stdout when absent or `-`). */
async function save(body: ReadableStream<Uint8Array>, local: string | undefined): Promise<void> {
  if (local === undefined || local === "-") {
    await body.pipeTo(Deno.stdout.writable, { preventClose: true });
    return;
  }
  let f: Deno.FsFile;
  try {
    f = await Deno.open(local, { write: true, create: true, truncate: true });
  } catch (e) {
    await body.cancel();
    throw new ElasticoreError(
      "fs_local_unwritable",
      `cannot write ${local}: ${(e as Error).message}`,
    );
  }
  await body.pipeTo(f.writable);
}

/** Registers `elasticore fs ...`. */
export function registerFs(program: Command): void {
  const fs = program.command("fs").description("the distributed file system");

  withClientOptions(
    fs.command("put").argument("<local>", "local file").argument("<path>", "DFS path")
      .option("--overwrite", "replace the file if it exists")
      .description("upload a local file"),
  ).action(async (local: string, path: string, o: ClientOptions & { overwrite?: boolean }) => {
    const { stream, size } = await openLocal(local);
    const s = await (await client(o)).put(path, withProgress(stream, size), {
      overwrite: o.overwrite,
      size,
    });
    print(o.json, s, `stored ${describe(s)}`);
  });

  withClientOptions(
    fs.command("get").argument("<path>", "DFS path").argument("[local]", "local file (- = stdout)")
      .description("download a file"),
  ).action(async (path: string, local: string | undefined, o: ClientOptions) => {
    const d = await (await client(o)).get(path);
    const target = local ?? path.split("/").filter(Boolean).pop() ?? "download";
    await save(target === "-" ? d.body : withProgress(d.body, d.length), target);
    if (target !== "-") {
      print(o.json, { path, local: target, bytes: d.length }, `${path} -> ${target}`);
    }
  });

  withClientOptions(
    fs.command("cat").argument("<path>", "DFS path").description("print a file to stdout"),
  ).action(async (path: string, o: ClientOptions) => {
    await save((await (await client(o)).get(path)).body, "-");
  });

  withClientOptions(
    fs.command("append").argument("<path>", "DFS path")
      .argument("[local]", "local file, or - for stdin (default)")
      .description("append a local file or stdin to a file"),
  ).action(async (path: string, local: string | undefined, o: ClientOptions) => {
    const src = local === undefined || local === "-"
      ? { stream: Deno.stdin.readable, size: undefined }
      : await openLocal(local);
    const s = await (await client(o)).append(path, withProgress(src.stream, src.size));
    print(o.json, s, `appended: ${describe(s)}`);
  });

  withClientOptions(
    fs.command("ls").argument("[prefix]", "path prefix", "/").description("list files"),
  ).action(async (prefix: string, o: ClientOptions) => {
    const files = await (await client(o)).list(prefix);
    if (o.json) {
      console.log(JSON.stringify({ files }));
      return;
    }
    for (const f of files) {
      console.log(
        `${String(f.size).padStart(12)}  v${String(f.version).padEnd(4)} ` +
          `${new Date(f.modifiedMs).toISOString()}  ${f.path}`,
      );
    }
  });

  withClientOptions(
    fs.command("rm").argument("<path>", "DFS path").description("remove a file"),
  ).action(async (path: string, o: ClientOptions) => {
    const r = await (await client(o)).remove(path);
    print(o.json, r, `removed ${r.path}`);
  });

  withClientOptions(
    fs.command("stat").argument("<path>", "DFS path").description("show a file's metadata"),
  ).action(async (path: string, o: ClientOptions) => {
    const s = await (await client(o)).stat(path);
    print(o.json, s, describe(s));
  });

  withClientOptions(
    fs.command("merge").argument("<path>", "DFS path")
      .description("compact the appended pieces of a file into full blocks"),
  ).action(async (path: string, o: ClientOptions) => {
    const s = await (await client(o)).merge(path);
    print(o.json, s, `merged: ${describe(s)}`);
  });
}
