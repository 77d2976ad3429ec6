/**
 * Fuzzes the gossip datagram open path with random and mutated datagrams:
 * it must never throw and never accept anything it did not seal itself.
 */
import assert from "node:assert/strict";
import { Prng } from "../../lib/sim/prng.ts";
import { DatagramCodec } from "../../lib/transport/datagram.ts";
import { fuzzBudget, fuzzSeed, mutate, randomBytes } from "./fuzz_util.ts";

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("fuzz: 20,000+ random and mutated datagrams are all dropped, none throws", async () => {
  const prng = new Prng(fuzzSeed() ^ 0xd6);
  const key = randomBytes(prng, 32);
  const codec = await DatagramCodec.create({ keys: [key], cluster: "fuzz" });
  const foreign = await DatagramCodec.create({ keys: [randomBytes(prng, 32)], cluster: "fuzz" });
  const otherLabel = await DatagramCodec.create({ keys: [key], cluster: "other" });
  const valid: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) {
    valid.push(await codec.seal(`n${i}`, randomBytes(prng, prng.int(1000))));
  }
  const reasons = new Map<string, number>();
  const total = fuzzBudget(21_000);
  for (let i = 0; i < total; i++) {
    let data: Uint8Array;
    const r = prng.int(10);
    if (r < 6) {
      const base = prng.pick(valid);
      data = mutate(prng, base);
      if (equalBytes(data, base)) continue;
    } else if (r < 8) {
      data = randomBytes(prng, prng.int(1500));
      if (data.length > 0 && prng.chance(0.5)) data[0] = 1;
    } else if (r < 9) {
      data = await foreign.seal("intruder", randomBytes(prng, prng.int(200)));
    } else {
      data = await otherLabel.seal("n1", randomBytes(prng, prng.int(200)));
    }
    const res = await codec.open(data);
    assert.equal(res.ok, false, `forged datagram #${i} was accepted`);
    if (!res.ok) reasons.set(res.reason, (reasons.get(res.reason) ?? 0) + 1);
  }
  assert.ok((reasons.get("auth_failed") ?? 0) > 1000, JSON.stringify([...reasons]));
  // The genuine ones still open.
  for (const v of valid) assert.equal((await codec.open(v)).ok, true);
});
