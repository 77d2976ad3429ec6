import assert from "node:assert/strict";
import { encodeFrame, FrameKind, MessageRegistry } from "../../proto/codec.ts";
import { transportMessages } from "../../proto/transport.ts";
import { type ByteDuplex, FrameChannel } from "../../lib/transport/channel.ts";
import { isTransportError } from "../../lib/transport/errors.ts";
import { TransportMetrics } from "../../lib/transport/metrics.ts";
import { MemoryLogger } from "../../lib/transport/testing.ts";

const registry = new MessageRegistry().register(transportMessages);

/** A duplex whose writes complete only when the test releases them. */
function slowDuplex() {
  const writes: Uint8Array[] = [];
  const gates: (() => void)[] = [];
  let feed: (c: Uint8Array) => void = () => {};
  let destroyed = false;
  const io: ByteDuplex = {
    write(d) {
      writes.push(d);
      return new Promise<void>((r) => gates.push(r));
    },
    end: () => Promise.resolve(),
    destroy: () => void (destroyed = true),
    start: (onData) => void (feed = onData),
    pause: () => {},
    resume: () => {},
  };
  return {
    io,
    writes,
    release: () => gates.splice(0).forEach((g) => g()),
    feed: (c: Uint8Array) => feed(c),
    destroyed: () => destroyed,
  };
}

function channel(io: ByteDuplex, queueFrames = 4) {
  const metrics = new TransportMetrics();
  const ch = new FrameChannel(io, {
    registry,
    maxFrameBytes: 1024,
    queueFrames,
    queueBytes: 1 << 20,
    metrics,
    logger: new MemoryLogger(),
    label: "unit",
  });
  return { ch, metrics };
}

const ping = (seq: number) => ({
  kind: FrameKind.Message,
  id: 0,
  type: "transport.ping",
  body: { seq },
});

Deno.test("channel: small frames are batched into one write", async () => {
  const d = slowDuplex();
  const { ch, metrics } = channel(d.io, 100);
  ch.start({ onEnvelope: () => {}, onClose: () => {} });
  await Promise.all(Array.from({ length: 10 }, (_, i) => ch.send(ping(i))));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(d.writes.length, 1, "ten queued frames leave in one write");
  assert.equal(metrics.framesOut, 10);
  assert.equal(d.writes[0].byteLength, 10 * encodeFrame(ping(1)).byteLength);
});

Deno.test("channel: send waits while the queue is full (backpressure)", async () => {
  const d = slowDuplex();
  const { ch } = channel(d.io, 2);
  ch.start({ onEnvelope: () => {}, onClose: () => {} });
  await ch.send(ping(0));
  await new Promise((r) => setTimeout(r, 0)); // frame 0 is now being written (blocked)
  await ch.send(ping(1));
  await ch.send(ping(2));
  let fourth = false;
  const p = ch.send(ping(3)).then(() => void (fourth = true));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(fourth, false, "the fourth send must wait for room");
  assert.equal(ch.queuedFrames, 2);
  d.release();
  await p;
  assert.equal(fourth, true);
});

Deno.test("channel: oversized frames close the channel, malformed ones are counted", () => {
  const d = slowDuplex();
  const { ch, metrics } = channel(d.io);
  const got: unknown[] = [];
  let closedWith: Error | undefined;
  ch.start({ onEnvelope: (e) => got.push(e), onClose: (e) => void (closedWith = e) });
  d.feed(encodeFrame(ping(1)));
  d.feed(new Uint8Array([0, 0, 0, 3, 0xc1, 0xc1, 0xc1])); // malformed msgpack
  d.feed(encodeFrame(ping(2)));
  assert.equal(got.length, 2);
  assert.equal(metrics.rejectedFrames.get("malformed"), 1);
  assert.equal(ch.closed, false);
  d.feed(new Uint8Array([0, 0, 0x10, 0])); // claims 4096 bytes > 1024
  assert.equal(ch.closed, true);
  assert.ok(isTransportError(closedWith, "frame_too_large"));
  assert.equal(metrics.oversizedCloses, 1);
  assert.ok(d.destroyed());
});

Deno.test("channel: an outgoing frame over the maximum fails that send only", async () => {
  const d = slowDuplex();
  const { ch } = channel(d.io);
  ch.start({ onEnvelope: () => {}, onClose: () => {} });
  const big = {
    kind: FrameKind.Message,
    id: 1,
    type: "transport.data",
    body: { d: new Uint8Array(5000) },
  };
  await assert.rejects(() => ch.send(big), (e) => isTransportError(e, "frame_too_large"));
  assert.equal(ch.closed, false);
  await ch.send(ping(1));
});
