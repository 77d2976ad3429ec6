import assert from "node:assert/strict";
import {
  blockKey,
  distance,
  fingerStart,
  hashToRingId,
  inClosed,
  inClosedOpen,
  inOpen,
  inOpenClosed,
  isRingIdHex,
  metadataKey,
  RING_SIZE,
  ringIdFromHex,
  ringIdOf,
  ringIdToHex,
  wrap,
} from "../../lib/dfs/ring/id.ts";

const MAX = RING_SIZE - 1n;

Deno.test("ring ids are the first 8 bytes of SHA-256, big-endian", async () => {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode("node-a")),
  );
  let want = 0n;
  for (let i = 0; i < 8; i++) want = (want << 8n) | BigInt(digest[i]);
  assert.equal(ringIdOf("node-a"), want);
  assert.equal(hashToRingId("node-a"), want);
  assert.notEqual(ringIdOf("node-b"), want);
  assert.ok(want >= 0n && want < RING_SIZE);
});

Deno.test("placement keys separate metadata from blocks and block numbers", () => {
  const m = metadataKey("/a/b");
  assert.equal(m, metadataKey("/a/b"));
  assert.notEqual(m, blockKey("/a/b", 0));
  assert.notEqual(blockKey("/a/b", 0), blockKey("/a/b", 1));
  assert.notEqual(blockKey("/a/b", 1), blockKey("/a/b1", 0));
  assert.throws(() => blockKey("/a", -1), RangeError);
  assert.throws(() => blockKey("/a", 1.5), RangeError);
});

Deno.test("open interval (a, b) without wrap-around", () => {
  assert.equal(inOpen(5n, 3n, 10n), true);
  assert.equal(inOpen(3n, 3n, 10n), false);
  assert.equal(inOpen(10n, 3n, 10n), false);
  assert.equal(inOpen(11n, 3n, 10n), false);
  assert.equal(inOpen(2n, 3n, 10n), false);
});

Deno.test("open interval (a, b) wrapping past zero", () => {
  assert.equal(inOpen(MAX, MAX - 5n, 4n), true);
  assert.equal(inOpen(0n, MAX - 5n, 4n), true);
  assert.equal(inOpen(3n, MAX - 5n, 4n), true);
  assert.equal(inOpen(4n, MAX - 5n, 4n), false);
  assert.equal(inOpen(MAX - 5n, MAX - 5n, 4n), false);
  assert.equal(inOpen(100n, MAX - 5n, 4n), false);
});

Deno.test("degenerate intervals: (a, a) is the ring without a, (a, a] the whole ring", () => {
  assert.equal(inOpen(7n, 7n, 7n), false);
  assert.equal(inOpen(8n, 7n, 7n), true);
  assert.equal(inOpen(0n, 7n, 7n), true);
  assert.equal(inOpenClosed(7n, 7n, 7n), true);
  assert.equal(inOpenClosed(123n, 7n, 7n), true);
  assert.equal(inClosedOpen(7n, 7n, 7n), true);
  assert.equal(inClosed(7n, 7n, 7n), true);
  assert.equal(inClosed(8n, 7n, 7n), false);
});

Deno.test("half-open and closed intervals include the right ends", () => {
  assert.equal(inOpenClosed(10n, 3n, 10n), true);
  assert.equal(inOpenClosed(3n, 3n, 10n), false);
  assert.equal(inClosedOpen(3n, 3n, 10n), true);
  assert.equal(inClosedOpen(10n, 3n, 10n), false);
  assert.equal(inClosed(3n, 3n, 10n), true);
  assert.equal(inClosed(10n, 3n, 10n), true);
  assert.equal(inClosed(11n, 3n, 10n), false);
  // Wrapping.
  assert.equal(inOpenClosed(0n, MAX, 0n), true);
  assert.equal(inOpenClosed(MAX, MAX, 0n), false);
  assert.equal(inClosedOpen(MAX, MAX, 0n), true);
  assert.equal(inClosedOpen(0n, MAX, 0n), false);
});

Deno.test("interval predicates agree with a brute-force model on a small ring", () => {
  // Map a 6-bit ring onto the 64-bit ring by scaling, then compare with modular reasoning.
  const M = 64;
  const scale = RING_SIZE / BigInt(M);
  const cw = (a: number, x: number) => (x - a + M) % M;
  for (let a = 0; a < M; a += 3) {
    for (let b = 0; b < M; b += 5) {
      for (let x = 0; x < M; x++) {
        const [A, B, X] = [a, b, x].map((v) => BigInt(v) * scale);
        const dx = cw(a, x);
        const db = cw(a, b);
        assert.equal(inOpen(X, A, B), dx !== 0 && (db === 0 || dx < db), `(${a},${b}) ${x}`);
        assert.equal(inOpenClosed(X, A, B), db === 0 || (dx !== 0 && dx <= db));
        assert.equal(inClosedOpen(X, A, B), db === 0 || dx < db);
        assert.equal(inClosed(X, A, B), dx <= db);
      }
    }
  }
});

Deno.test("distance, wrap and finger starts are modular", () => {
  assert.equal(distance(10n, 3n), RING_SIZE - 7n);
  assert.equal(distance(3n, 10n), 7n);
  assert.equal(distance(5n, 5n), 0n);
  assert.equal(wrap(RING_SIZE + 4n), 4n);
  assert.equal(fingerStart(MAX, 0), 0n);
  assert.equal(fingerStart(0n, 63), 1n << 63n);
  assert.equal(fingerStart(1n << 63n, 63), 0n);
  assert.throws(() => fingerStart(0n, 64), RangeError);
  assert.throws(() => fingerStart(0n, -1), RangeError);
});

Deno.test("hex wire form round-trips and rejects malformed input", () => {
  for (const id of [0n, 1n, MAX, ringIdOf("x"), 0xabcdefn]) {
    const hex = ringIdToHex(id);
    assert.equal(hex.length, 16);
    assert.ok(isRingIdHex(hex));
    assert.equal(ringIdFromHex(hex), id);
  }
  for (const bad of ["", "0", "ABCDEF0123456789", "0123456789abcdef0", "g123456789abcdef"]) {
    assert.equal(isRingIdHex(bad), false);
    assert.throws(() => ringIdFromHex(bad), RangeError);
  }
});
