/**
 * Benchmark of the networked DFS (`lib/dfs/node.ts`): a cluster of DfsNodes in this process
 * (mutual-TLS RPC on 127.0.0.1, one Deno KV store each) at RF 3, measured against raw file
 * I/O of the same bytes in the same run:
 *
 * - put of one large file (default 1 GiB) vs. the baseline of writing the same bytes RF
 *   times to local files with `fdatasync` after every block (the durability the DFS gives:
 *   every block durable on RF nodes before it is acknowledged);
 * - get, uncached (blocks come from the Deno KV disk tier, every chunk CRC and the block's
 *   SHA-256 verified) and cached (served by the LRU read cache), vs. a raw sequential read
 *   of a file of the same size;
 * - small files (4 KiB): put, stat and get operations per second vs. the baseline of
 *   writing + `fdatasync` RF files (put) and reading one file (get).
 *
 * Usage: `deno task bench dfs [--size 1G] [--nodes 3] [--rf 3] [--block 4M] [--small 200]
 * [--cached 1]` (`--cached N`: N cached reads in a row, each printed).
 *
 * @module
 */
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";
import { LocalFence } from "../../lib/dfs/write_fence.ts";

const MIB = 1024 * 1024;

function sizeArg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  if (i < 0 || i + 1 >= args.length) return dflt;
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(args[i + 1]);
  if (!m) throw new Error(`${name} takes a size like 256M or 1G, got ${args[i + 1]}`);
  const mult = { "": 1, k: 1024, m: MIB, g: 1024 * MIB }[m[2].toLowerCase()]!;
  return Math.round(Number(m[1]) * mult);
}

/** Deterministic pseudo-random content, produced in 1 MiB chunks. */
function* chunks(total: number, seed: number): Generator<Uint8Array> {
  let x = seed >>> 0 || 1;
  for (let done = 0; done < total;) {
    const n = Math.min(MIB, total - done);
    const out = new Uint8Array(MIB);
    const words = new Uint32Array(out.buffer);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x;
    }
    done += n;
    yield n === MIB ? out : out.subarray(0, n);
  }
}

function stream(total: number, seed: number): ReadableStream<Uint8Array> {
  const it = chunks(total, seed);
  return new ReadableStream({
    pull(c) {
      const r = it.next();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
  });
}

async function drain(s: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of s) n += c.byteLength;
  return n;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function line(name: string, ours: number, base: number, unit: string): void {
  console.log(
    `${name.padEnd(28)} ours ${ours.toFixed(1).padStart(9)} ${unit}   baseline ` +
      `${base.toFixed(1).padStart(9)} ${unit}   ratio ${(ours / base).toFixed(3)}`,
  );
}

/** Writes `total` bytes to `copies` files, `fdatasync` after every `block` bytes. */
async function rawWrite(dir: string, total: number, copies: number, block: number) {
  for (let c = 0; c < copies; c++) {
    const f = await Deno.open(`${dir}/raw${c}.bin`, { write: true, create: true, truncate: true });
    let sinceSync = 0;
    for (const chunk of chunks(total, 7)) {
      let at = 0;
      while (at < chunk.byteLength) at += await f.write(chunk.subarray(at));
      sinceSync += chunk.byteLength;
      if (sinceSync >= block) {
        await f.syncData();
        sinceSync = 0;
      }
    }
    await f.syncData();
    f.close();
  }
}

/** Runs the benchmark and prints ours, the baseline and the ratio for each measurement. */
export default async function bench(args: string[]): Promise<void> {
  const size = sizeArg(args, "--size", 1024 * MIB);
  const nodes = sizeArg(args, "--nodes", 3);
  const rf = sizeArg(args, "--rf", 3);
  const block = sizeArg(args, "--block", 4 * MIB);
  const small = sizeArg(args, "--small", 200);
  const cachedReads = Math.max(1, sizeArg(args, "--cached", 1));
  const ids = Array.from({ length: nodes }, (_, i) => `b${i + 1}`);
  console.log(
    `dfs bench: ${nodes} nodes in one process, RF ${rf}, ${size / MIB} MiB file, ` +
      `${block / MIB} MiB blocks, ${small} small files`,
  );
  const dir = await Deno.makeTempDir({ prefix: "dfs_bench_raw_" });
  const c = await DfsTestCluster.start({
    ids,
    replication: rf,
    blockBytes: block,
    cacheBytes: Math.min(size + 64 * MIB, 1536 * MIB),
    memoryTierBytes: 4 * block,
    fence: () => new LocalFence(), // no Raft masters in this ring
  });
  try {
    await c.settled(30_000);
    const n1 = c.node(ids[0]);

    const putMs = await timed(() => n1.put("/bench/big", stream(size, 7)));
    const rawWriteMs = await timed(() => rawWrite(dir, size, rf, block));
    line("put (MB/s)", size / MIB / (putMs / 1000), size / MIB / (rawWriteMs / 1000), "MiB/s");

    const rawReadMs = await timed(async () => {
      const f = await Deno.open(`${dir}/raw0.bin`);
      await drain(f.readable);
    });
    // The first read comes from the disk tier (the memory tier only holds the last blocks).
    const coldMs = await timed(async () => {
      const r = await n1.get("/bench/big");
      if (await drain(r.body) !== size) throw new Error("short read");
    });
    line(
      "get uncached (MB/s)",
      size / MIB / (coldMs / 1000),
      size / MIB / (rawReadMs / 1000),
      "MiB/s",
    );
    for (let k = 1; k <= cachedReads; k++) {
      const warmMs = await timed(async () => {
        const r = await n1.get("/bench/big");
        if (await drain(r.body) !== size) throw new Error("short read");
      });
      line(
        cachedReads === 1 ? "get cached (MB/s)" : `get cached #${k} (MB/s)`,
        size / MIB / (warmMs / 1000),
        size / MIB / (rawReadMs / 1000),
        "MiB/s",
      );
    }
    await n1.remove("/bench/big");

    const body = new Uint8Array(4096).fill(42);
    const putSmallMs = await timed(async () => {
      for (let i = 0; i < small; i++) await c.node(ids[i % nodes]).put(`/bench/small/${i}`, body);
    });
    const rawSmallMs = await timed(async () => {
      for (let i = 0; i < small; i++) {
        for (let k = 0; k < rf; k++) {
          const f = await Deno.open(`${dir}/s${k}-${i}`, { write: true, create: true });
          await f.write(body);
          await f.syncData();
          f.close();
        }
      }
    });
    line("small put (ops/s)", small / (putSmallMs / 1000), small / (rawSmallMs / 1000), "ops/s");
    const statMs = await timed(async () => {
      for (let i = 0; i < small; i++) await c.node(ids[(i + 1) % nodes]).stat(`/bench/small/${i}`);
    });
    const getSmallMs = await timed(async () => {
      for (let i = 0; i < small; i++) {
        await drain((await c.node(ids[(i + 2) % nodes]).get(`/bench/small/${i}`)).body);
      }
    });
    const rawGetMs = await timed(async () => {
      for (let i = 0; i < small; i++) await Deno.readFile(`${dir}/s0-${i}`);
    });
    line("small stat (ops/s)", small / (statMs / 1000), small / (rawGetMs / 1000), "ops/s");
    line("small get (ops/s)", small / (getSmallMs / 1000), small / (rawGetMs / 1000), "ops/s");
  } finally {
    await c.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await bench(Deno.args);
