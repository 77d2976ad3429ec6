/**
 * Shared helpers for fuzz tests: a seed and a budget from the environment
 * (`ELASTICORE_FUZZ_SEED`, `ELASTICORE_FUZZ_SCALE` multiplies every budget)
 * and byte-level mutators driven by the project's seeded PRNG.
 *
 * @module
 */
import type { Prng } from "../../lib/sim/prng.ts";

/** The fuzz seed: `ELASTICORE_FUZZ_SEED` or a fixed default, so CI runs are reproducible. */
export function fuzzSeed(fallback = 20261121): number {
  const s = Deno.env.get("ELASTICORE_FUZZ_SEED");
  return s ? Number(s) >>> 0 : fallback;
}

/** `base` iterations scaled by `ELASTICORE_FUZZ_SCALE` (long runs: `ELASTICORE_FUZZ_SCALE=100`). */
export function fuzzBudget(base: number): number {
  const s = Number(Deno.env.get("ELASTICORE_FUZZ_SCALE") ?? "1");
  return Math.max(1, Math.floor(base * (Number.isFinite(s) && s > 0 ? s : 1)));
}

/** Random bytes of length `n`. */
export function randomBytes(prng: Prng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = prng.nextU32() & 0xff;
  return out;
}

/** Applies 1..4 random mutations: bit flips, byte sets, truncation, insertion, duplication, splice. */
export function mutate(prng: Prng, input: Uint8Array): Uint8Array {
  let b: Uint8Array = input.slice();
  const rounds = 1 + prng.int(4);
  for (let r = 0; r < rounds; r++) {
    const op = prng.int(7);
    if (b.length === 0) b = randomBytes(prng, 1 + prng.int(8));
    const at = prng.int(b.length);
    switch (op) {
      case 0:
        b[at] ^= 1 << prng.int(8);
        break;
      case 1:
        b[at] = prng.pick([0, 0x7f, 0x80, 0xff, 0xc0, 0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xc4, 0xc6]);
        break;
      case 2:
        b = b.slice(0, at);
        break;
      case 3: {
        const ins = randomBytes(prng, 1 + prng.int(16));
        const n = new Uint8Array(b.length + ins.length);
        n.set(b.subarray(0, at));
        n.set(ins, at);
        n.set(b.subarray(at), at + ins.length);
        b = n;
        break;
      }
      case 4: {
        const n = new Uint8Array(b.length * 2);
        n.set(b);
        n.set(b, b.length);
        b = n;
        break;
      }
      case 5:
        b = b.slice(at);
        break;
      default: {
        const len = Math.min(4, b.length - at);
        for (let i = 0; i < len; i++) b[at + i] = 0xff;
      }
    }
  }
  return b;
}
