/**
 * Benchmark of the DFS disk tier and read cache, following the project's benchmark
 * convention (`export default async function bench(args)`; measures ours and a baseline in
 * the same run and prints the ratio).
 *
 * - write: {@link NodeStore.putBlock} of 4 MiB blocks (chunks batched into atomics near Deno
 *   KV's limits, durable before acknowledged) vs. the naive baseline of one `kv.set` (one
 *   fsynced commit) per 64 KiB chunk;
 * - disk read: `getBlock` with the cache and memory tier disabled (every chunk CRC and the
 *   whole-block CRC verified) vs. the baseline of one `kv.get` per chunk without verification;
 * - cached read: `getBlock` served by the LRU read cache (a copy per read).
 *
 * Usage: `deno task bench dfs_store [--blocks N] [--pipeline P] [--concurrency C]
 * [--sha]` (`--sha`: disk reads also verify the SHA-256, not only the CRCs)
 *
 * @module
 */
import { NodeStore } from "../../lib/dfs/store/node_store.ts";
import { CHUNK_BYTES } from "../../lib/dfs/store/kv_blocks.ts";

const MIB = 1024 * 1024;

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : dflt;
}

function content(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer);
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return out;
}

function rate(bytes: number, ms: number): number {
  return bytes / MIB / (ms / 1000);
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs the benchmark and prints MB/s for ours, the baseline and their ratio. */
export default async function bench(args: string[]): Promise<void> {
  const blocks = arg(args, "--blocks", 24);
  const pipeline = arg(args, "--pipeline", 2);
  const concurrency = arg(args, "--concurrency", 1);
  const size = 4 * MIB;
  const data = Array.from({ length: blocks }, (_, i) => content(i + 1, size));
  const total = blocks * size;
  const dir = await Deno.makeTempDir({ prefix: "dfs_bench_" });
  try {
    const store = await NodeStore.open({
      path: `${dir}/ours.kv`,
      cacheBytes: 0,
      memoryTierBytes: 64 * MIB,
      disk: { pipeline },
    });
    let next = 0;
    const writeMs = await timed(async () => {
      const worker = async () => {
        while (next < blocks) {
          const i = next++;
          await store.putBlock(`blk-${i}`, 1, data[i]);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
    });
    store.close();
    const cold = await NodeStore.open({
      path: `${dir}/ours.kv`,
      cacheBytes: 0,
      memoryTierBytes: 0,
      disk: { verifySha256: args.includes("--sha") },
    });
    const readMs = await timed(async () => {
      for (let i = 0; i < blocks; i++) await cold.getBlock(`blk-${i}`, 1);
    });
    cold.close();

    const cached = await NodeStore.open({
      path: `${dir}/ours.kv`,
      cacheBytes: total + MIB,
      memoryTierBytes: 0,
    });
    for (let i = 0; i < blocks; i++) await cached.getBlock(`blk-${i}`, 1);
    const rounds = 5;
    const cachedMs = await timed(async () => {
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < blocks; i++) await cached.getBlock(`blk-${i}`, 1);
      }
    });
    const hits = cached.stats().cache.hits;
    cached.close();

    const kv = await Deno.openKv(`${dir}/baseline.kv`);
    const chunks = size / CHUNK_BYTES;
    const baseWriteMs = await timed(async () => {
      for (let i = 0; i < blocks; i++) {
        for (let c = 0; c < chunks; c++) {
          await kv.set(["b", i, c], data[i].subarray(c * CHUNK_BYTES, (c + 1) * CHUNK_BYTES));
        }
      }
    });
    const baseReadMs = await timed(async () => {
      for (let i = 0; i < blocks; i++) {
        const out = new Uint8Array(size);
        for (let c = 0; c < chunks; c++) {
          const e = await kv.get<Uint8Array>(["b", i, c]);
          if (e.value) out.set(e.value, c * CHUNK_BYTES);
        }
      }
    });
    kv.close();

    const w = rate(total, writeMs);
    const bw = rate(total, baseWriteMs);
    const r = rate(total, readMs);
    const br = rate(total, baseReadMs);
    const cr = rate(total * rounds, cachedMs);
    console.log(
      `dfs store: ${blocks} x 4 MiB blocks, pipeline ${pipeline}, ${concurrency} writer(s)`,
    );
    console.log(
      `write        ours ${w.toFixed(1)} MiB/s  baseline (kv.set per chunk) ` +
        `${bw.toFixed(1)} MiB/s  ratio ${(w / bw).toFixed(2)}`,
    );
    console.log(
      `disk read    ours ${r.toFixed(1)} MiB/s  baseline (kv.get per chunk) ` +
        `${br.toFixed(1)} MiB/s  ratio ${(r / br).toFixed(2)}`,
    );
    console.log(
      `cached read  ours ${cr.toFixed(1)} MiB/s  (${hits} cache hits) ` +
        `vs disk read: ratio ${(cr / r).toFixed(2)}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await bench(Deno.args);
