import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import {
  CodecError,
  decodeFrame,
  decodePayload,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FrameKind,
  FrameReader,
  MessageRegistry,
  WIRE_VERSION,
} from "../../proto/codec.ts";
import { array, bytes, type Infer, object, optional, str, uint } from "../../proto/schema.ts";

const Ping = object({ seq: uint, from: str(64), note: optional(str(16)) });
const Blob = object({ data: bytes(1024), tags: array(str(8), 4) });
type PingT = Infer<typeof Ping>;

function registry(): MessageRegistry {
  return new MessageRegistry().register({ "test.ping": Ping, "test.blob": Blob });
}

function frameOf(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

function expectError(res: ReturnType<typeof decodeFrame>, code: CodecError["code"]): string {
  assert.equal(res.ok, false, `expected ${code}, got a value`);
  if (res.ok) throw new Error("unreachable");
  assert.equal(res.error.code, code, res.error.message);
  return res.error.message;
}

Deno.test("codec: round trip of a request with deadline", () => {
  const body: PingT = { seq: 7, from: "m1" };
  const frame = encodeFrame({
    kind: FrameKind.Request,
    id: 42,
    type: "test.ping",
    body,
    deadlineMs: 250,
  });
  const res = decodeFrame(frame, registry());
  assert.ok(res.ok);
  if (!res.ok) return;
  assert.deepEqual(res.value, {
    v: WIRE_VERSION,
    kind: FrameKind.Request,
    id: 42,
    type: "test.ping",
    body,
    deadlineMs: 250,
  });
});

Deno.test("codec: bytes survive as Uint8Array", () => {
  const data = new Uint8Array([0, 1, 2, 255]);
  const res = decodeFrame(
    encodeFrame({ kind: FrameKind.Message, id: 0, type: "test.blob", body: { data, tags: ["a"] } }),
    registry(),
  );
  assert.ok(res.ok);
  if (res.ok) assert.deepEqual((res.value.body as { data: Uint8Array }).data, data);
});

Deno.test("codec: truncated frames", () => {
  const frame = encodeFrame({ kind: 0, id: 0, type: "test.ping", body: { seq: 1, from: "a" } });
  expectError(decodeFrame(frame.subarray(0, 2), registry()), "truncated");
  expectError(decodeFrame(frame.subarray(0, frame.length - 1), registry()), "truncated");
  // A payload cut short but with a consistent header.
  const payload = frame.subarray(FRAME_HEADER_BYTES, frame.length - 2);
  expectError(decodeFrame(frameOf(payload), registry()), "truncated");
});

Deno.test("codec: oversized frames are refused by the header, before the body", () => {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 0xffffffff);
  const msg = expectError(decodeFrame(header, registry(), { maxFrameBytes: 1024 }), "oversized");
  assert.match(msg, /4294967295/);
  const reader = new FrameReader({ maxFrameBytes: 1024 });
  reader.push(header);
  const next = reader.next();
  assert.ok(next instanceof CodecError && next.code === "oversized");
  assert.throws(
    () =>
      encodeFrame({
        kind: 0,
        id: 0,
        type: "test.blob",
        body: { data: new Uint8Array(2000), tags: [] },
      }, { maxFrameBytes: 1024 }),
    (e: unknown) => e instanceof CodecError && e.code === "oversized",
  );
});

Deno.test("codec: wrong version, unknown type, wrong field types", () => {
  const reg = registry();
  expectError(
    decodeFrame(frameOf(encode([2, 0, 0, "test.ping", { seq: 1, from: "a" }])), reg),
    "bad_version",
  );
  expectError(decodeFrame(frameOf(encode([1, 0, 0, "test.nope", {}])), reg), "unknown_type");
  const m1 = expectError(
    decodeFrame(frameOf(encode([1, 0, 0, "test.ping", { seq: -1, from: "a" }])), reg),
    "bad_field",
  );
  assert.match(m1, /body\.seq/);
  const m2 = expectError(
    decodeFrame(frameOf(encode([1, 0, 0, "test.ping", { seq: 1, from: "a", extra: 1 }])), reg),
    "bad_field",
  );
  assert.match(m2, /unknown field "extra"/);
  const m3 = expectError(
    decodeFrame(frameOf(encode([1, 0, 0, "test.blob", { data: "x", tags: [] }])), reg),
    "bad_field",
  );
  assert.match(m3, /body\.data: expected bytes/);
  expectError(
    decodeFrame(
      frameOf(
        encode([1, 0, 0, "test.blob", {
          data: new Uint8Array(1),
          tags: ["a", "b", "c", "d", "e"],
        }]),
      ),
      reg,
    ),
    "bad_field",
  );
  expectError(
    decodeFrame(frameOf(encode([1, 9, 0, "test.ping", { seq: 1, from: "a" }])), reg),
    "bad_field",
  );
  expectError(decodeFrame(frameOf(encode({ v: 1 })), reg), "malformed");
  expectError(decodeFrame(frameOf(new Uint8Array([0xc1])), reg), "malformed");
});

Deno.test("codec: error and cancel frames use built-in bodies", () => {
  const reg = registry();
  const e = decodeFrame(
    encodeFrame({
      kind: FrameKind.Error,
      id: 3,
      type: "test.ping",
      body: { code: "x", message: "y" },
    }),
    reg,
  );
  assert.ok(e.ok);
  const c = decodeFrame(
    encodeFrame({ kind: FrameKind.Cancel, id: 3, type: "test.ping", body: null }),
    reg,
  );
  assert.ok(c.ok);
  expectError(decodeFrame(frameOf(encode([1, FrameKind.Cancel, 3, "x", 5])), reg), "bad_field");
});

Deno.test("codec: a hostile array length does not allocate", () => {
  // msgpack array32 header claiming 2^32-1 elements, in a tiny frame.
  const payload = new Uint8Array([
    0x95,
    1,
    0,
    0,
    0xa9,
    ...new TextEncoder().encode("test.ping"),
    0xdd,
    0xff,
    0xff,
    0xff,
    0xff,
  ]);
  const res = decodePayload(payload, registry(), { maxFrameBytes: 1 << 20 });
  assert.equal(res.ok, false);
});

Deno.test("codec: FrameReader splits a stream at any boundary", () => {
  const reg = registry();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 50; i++) {
    frames.push(
      encodeFrame({ kind: 0, id: 0, type: "test.ping", body: { seq: i, from: "n".repeat(i) } }),
    );
  }
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let off = 0;
  for (const f of frames) {
    all.set(f, off);
    off += f.length;
  }
  for (const step of [1, 3, 7, 64, 1000, all.length]) {
    const r = new FrameReader();
    const seqs: number[] = [];
    for (let i = 0; i < all.length; i += step) {
      r.push(all.subarray(i, Math.min(all.length, i + step)));
      for (;;) {
        const p = r.next();
        if (p === null) break;
        assert.ok(!(p instanceof CodecError));
        const res = decodePayload(p, reg);
        assert.ok(res.ok);
        if (res.ok) seqs.push((res.value.body as PingT).seq);
      }
    }
    assert.deepEqual(seqs, [...Array(50).keys()]);
    assert.equal(r.buffered, 0);
  }
});
