/**
 * Fuzzes the connection read path (`FrameChannel`: `FrameReader` +
 * `decodePayload` + dispatch) with byte streams made of valid, mutated and
 * random frames, split at random points. No exception may escape; valid
 * streams must come out intact and in order.
 */
import assert from "node:assert/strict";
import { encodeFrame, type Envelope, FrameKind, MessageRegistry } from "../../proto/codec.ts";
import { bytes, object, optional, str, uint } from "../../proto/schema.ts";
import { transportMessages } from "../../proto/transport.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { type ByteDuplex, FrameChannel } from "../../lib/transport/channel.ts";
import { TransportMetrics } from "../../lib/transport/metrics.ts";
import { MemoryLogger } from "../../lib/transport/testing.ts";
import { fuzzBudget, fuzzSeed, mutate, randomBytes } from "./fuzz_util.ts";

const MAX = 4096;
const registry = new MessageRegistry().register(transportMessages).register({
  "f.req": object({ key: str(32), n: uint, blob: optional(bytes(512)) }),
  "f.req.reply": object({ ok: uint }),
});

/** A channel fed by hand: `feed` plays the socket. */
function harness() {
  let feed: (chunk: Uint8Array) => void = () => {};
  const io: ByteDuplex = {
    write: () => Promise.resolve(),
    end: () => Promise.resolve(),
    destroy: () => {},
    start: (onData) => void (feed = onData),
    pause: () => {},
    resume: () => {},
  };
  const metrics = new TransportMetrics();
  const got: Envelope[] = [];
  let closed = false;
  const ch = new FrameChannel(io, {
    registry,
    maxFrameBytes: MAX,
    queueFrames: 16,
    queueBytes: 65536,
    metrics,
    logger: new MemoryLogger(),
    label: "fuzz",
  });
  ch.start({ onEnvelope: (e) => got.push(e), onClose: () => void (closed = true) });
  return { feed: (c: Uint8Array) => feed(c), metrics, got, isClosed: () => closed };
}

function randomEnvelope(prng: Prng): Omit<Envelope, "v"> {
  switch (prng.int(5)) {
    case 0:
      return {
        kind: FrameKind.Message,
        id: 0,
        type: "transport.ping",
        body: { seq: prng.int(1e6) },
      };
    case 1:
      return {
        kind: FrameKind.Request,
        id: 1 + prng.int(1e6),
        type: "f.req",
        body: {
          key: "k".repeat(prng.int(32)),
          n: prng.int(1e9),
          blob: randomBytes(prng, prng.int(512)),
        },
        deadlineMs: prng.int(10_000),
      };
    case 2:
      return {
        kind: FrameKind.Response,
        id: 1 + prng.int(99),
        type: "f.req.reply",
        body: { ok: 1 },
      };
    case 3:
      return { kind: FrameKind.Error, id: 7, type: "error", body: { code: "x", message: "boom" } };
    default:
      return {
        kind: FrameKind.Message,
        id: 1 + prng.int(9),
        type: "transport.data",
        body: { d: randomBytes(prng, prng.int(300)), fin: prng.chance(0.1) },
      };
  }
}

function splitFeed(prng: Prng, data: Uint8Array, feed: (c: Uint8Array) => void): void {
  let at = 0;
  while (at < data.length) {
    const n = 1 + prng.int(Math.min(700, data.length - at));
    feed(data.slice(at, at + n));
    at += n;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("fuzz: valid frame streams split anywhere arrive intact and in order", () => {
  const prng = new Prng(fuzzSeed());
  for (let round = 0; round < fuzzBudget(200); round++) {
    const envs = Array.from({ length: 1 + prng.int(20) }, () => randomEnvelope(prng));
    const h = harness();
    splitFeed(prng, concat(envs.map((e) => encodeFrame(e, { maxFrameBytes: MAX }))), h.feed);
    assert.equal(h.got.length, envs.length, `round ${round}`);
    for (let i = 0; i < envs.length; i++) {
      assert.equal(h.got[i].type, envs[i].type);
      assert.equal(h.got[i].id, envs[i].id);
      assert.deepEqual(h.got[i].body, envs[i].body);
    }
    assert.equal(h.metrics.rejectedFrames.size, 0);
  }
});

Deno.test("fuzz: mutated and random byte streams never throw out of the read path", () => {
  const prng = new Prng(fuzzSeed() ^ 0x5a5a);
  let accepted = 0;
  let rejected = 0;
  let closes = 0;
  for (let round = 0; round < fuzzBudget(3000); round++) {
    const h = harness();
    const parts: Uint8Array[] = [];
    for (let i = 0, n = 1 + prng.int(6); i < n; i++) {
      const frame = encodeFrame(randomEnvelope(prng), { maxFrameBytes: MAX });
      const r = prng.int(10);
      if (r < 5) parts.push(frame);
      else if (r < 9) parts.push(mutate(prng, frame));
      else parts.push(randomBytes(prng, prng.int(64)));
    }
    splitFeed(prng, concat(parts), (c) => {
      if (!h.isClosed()) h.feed(c);
    });
    for (const env of h.got) {
      // Whatever was accepted passed the registry's schema.
      assert.ok(registry.get(env.type) || env.kind === FrameKind.Error);
    }
    accepted += h.metrics.framesIn;
    rejected += [...h.metrics.rejectedFrames.values()].reduce((a, b) => a + b, 0);
    if (h.isClosed()) closes++;
  }
  assert.ok(accepted > 0 && rejected > 0 && closes > 0, `${accepted}/${rejected}/${closes}`);
});
