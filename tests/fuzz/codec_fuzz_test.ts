import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import {
  CodecError,
  decodeFrame,
  decodePayload,
  encodeFrame,
  FrameKind,
  FrameReader,
  MessageRegistry,
} from "../../proto/codec.ts";
import {
  array,
  bool,
  bytes,
  int,
  object,
  oneOf,
  optional,
  record,
  str,
  uint,
} from "../../proto/schema.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { fuzzBudget, fuzzSeed, mutate, randomBytes } from "./fuzz_util.ts";

const registry = new MessageRegistry().register({
  "fz.a": object({ term: uint, from: str(32), ok: bool }),
  "fz.b": object({ entries: array(object({ i: uint, d: bytes(256) }), 16), hint: optional(int) }),
  "fz.c": object({ kind: oneOf(["x", "y"]), meta: record(str(16), 8) }),
});
const MAX = 4096;

function randomValue(prng: Prng, depth = 0): unknown {
  switch (prng.int(depth > 2 ? 6 : 9)) {
    case 0:
      return prng.int(1000) - 500;
    case 1:
      return prng.next() * 1e6;
    case 2:
      return prng.chance(0.5);
    case 3:
      return null;
    case 4:
      return "s".repeat(prng.int(40));
    case 5:
      return randomBytes(prng, prng.int(40));
    case 6:
      return Array.from({ length: prng.int(5) }, () => randomValue(prng, depth + 1));
    case 7: {
      const o: Record<string, unknown> = {};
      for (const k of ["term", "from", "ok", "entries", "i", "d", "kind", "meta", "zz"]) {
        if (prng.chance(0.4)) o[k] = randomValue(prng, depth + 1);
      }
      return o;
    }
    default:
      return undefined;
  }
}

function validFrame(prng: Prng): Uint8Array {
  const kind = prng.pick([FrameKind.Message, FrameKind.Request, FrameKind.Response]);
  switch (prng.int(3)) {
    case 0:
      return encodeFrame({
        kind,
        id: prng.int(1e6),
        type: "fz.a",
        body: { term: prng.int(1e9), from: "n" + prng.int(9), ok: prng.chance(0.5) },
      }, { maxFrameBytes: MAX });
    case 1:
      return encodeFrame({
        kind,
        id: prng.int(1e6),
        type: "fz.b",
        body: {
          entries: Array.from({ length: prng.int(6) }, (_, i) => ({
            i,
            d: randomBytes(prng, prng.int(64)),
          })),
        },
        deadlineMs: prng.int(5000),
      }, { maxFrameBytes: MAX });
    default:
      return encodeFrame({
        kind,
        id: prng.int(1e6),
        type: "fz.c",
        body: { kind: prng.pick(["x", "y"]), meta: { a: "1", b: "2" } },
      }, { maxFrameBytes: MAX });
  }
}

function decodeNeverThrows(frame: Uint8Array): boolean {
  const res = decodeFrame(frame, registry, { maxFrameBytes: MAX });
  if (!res.ok) assert.ok(res.error instanceof CodecError);
  return res.ok;
}

Deno.test("fuzz: 100,000+ random and mutated frames never throw past the decoder", () => {
  const seed = fuzzSeed();
  const prng = new Prng(seed);
  const n = fuzzBudget(100_000);
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < n; i++) {
    let frame: Uint8Array;
    const mode = prng.int(10);
    if (mode < 6) frame = mutate(prng, validFrame(prng));
    else if (mode < 8) {
      // Structurally valid msgpack with random content inside a correct header.
      const arr = [
        1,
        prng.int(6),
        prng.int(100),
        prng.pick(["fz.a", "fz.b", "fz.c", "zz"]),
        randomValue(prng),
      ];
      const payload = encode(arr, { ignoreUndefined: true });
      frame = new Uint8Array(4 + payload.length);
      new DataView(frame.buffer).setUint32(0, payload.length);
      frame.set(payload, 4);
      if (prng.chance(0.3)) frame = mutate(prng, frame);
    } else frame = randomBytes(prng, prng.int(64));
    try {
      if (decodeNeverThrows(frame)) accepted++;
      else rejected++;
    } catch (e) {
      throw new Error(`seed ${seed} iteration ${i}: decoder threw ${String(e)}`);
    }
  }
  // Sanity: the fuzzer exercises both outcomes.
  assert.ok(accepted > 100, `only ${accepted} frames accepted`);
  assert.ok(rejected > n / 2, `only ${rejected} frames rejected`);
});

Deno.test("fuzz: unmutated frames always decode", () => {
  const prng = new Prng(fuzzSeed() + 1);
  for (let i = 0; i < fuzzBudget(5_000); i++) assert.ok(decodeNeverThrows(validFrame(prng)));
});

Deno.test("fuzz: a stream of mutated frames through FrameReader, split at random points", () => {
  const prng = new Prng(fuzzSeed() + 2);
  for (let round = 0; round < fuzzBudget(300); round++) {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) {
      parts.push(prng.chance(0.2) ? mutate(prng, validFrame(prng)) : validFrame(prng));
    }
    const total = parts.reduce((s, p) => s + p.length, 0);
    const stream = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      stream.set(p, off);
      off += p.length;
    }
    const reader = new FrameReader({ maxFrameBytes: MAX });
    let pos = 0;
    let closed = false;
    while (pos < stream.length && !closed) {
      const take = 1 + prng.int(300);
      reader.push(stream.subarray(pos, pos + take));
      pos += take;
      for (;;) {
        const next = reader.next();
        if (next === null) break;
        if (next instanceof CodecError) {
          assert.equal(next.code, "oversized");
          closed = true; // a real connection closes here
          break;
        }
        const res = decodePayload(next, registry, { maxFrameBytes: MAX });
        if (!res.ok) assert.ok(res.error instanceof CodecError);
      }
      assert.ok(reader.buffered <= MAX + 4 + 300, "reader buffer stays bounded");
    }
  }
});
