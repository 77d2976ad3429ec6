import assert from "node:assert/strict";
import {
  DatagramCodec,
  DatagramTransport,
  type GossipDatagram,
} from "../../lib/transport/datagram.ts";
import { FaultInjector } from "../../lib/transport/faults.ts";
import { MemoryLogger } from "../../lib/transport/testing.ts";

const k1 = crypto.getRandomValues(new Uint8Array(32));
const k2 = crypto.getRandomValues(new Uint8Array(32));
const enc = new TextEncoder();

Deno.test("datagram: seal/open round trip authenticates the sender", async () => {
  const c = await DatagramCodec.create({ keys: [k1], cluster: "c1" });
  const d = await c.seal("m1", enc.encode("hello"));
  assert.equal(d[0], 1, "version byte");
  const r = await c.open(d);
  assert.ok(r.ok);
  assert.equal(r.from, "m1");
  assert.equal(new TextDecoder().decode(r.payload), "hello");
  // Every byte is covered: header (AAD), nonce, ciphertext, tag.
  for (const at of [0, 1, 2, 13, 14, d.length - 1]) {
    const bad = d.slice();
    bad[at] ^= 0x01;
    assert.equal((await c.open(bad)).ok, false, `flip at ${at} accepted`);
  }
});

Deno.test("datagram: keys rotate without downtime; other clusters and keys are refused", async () => {
  const oldNode = await DatagramCodec.create({ keys: [k1], cluster: "c1" });
  const rotating = await DatagramCodec.create({ keys: [k2, k1], cluster: "c1" });
  const newNode = await DatagramCodec.create({ keys: [k2], cluster: "c1" });
  const fromOld = await oldNode.seal("a", enc.encode("x"));
  const fromRotating = await rotating.seal("b", enc.encode("y"));
  assert.ok((await rotating.open(fromOld)).ok, "secondary key still decrypts");
  assert.ok((await newNode.open(fromRotating)).ok, "primary key encrypts");
  assert.equal((await oldNode.open(fromRotating)).ok, false);
  const r = await newNode.open(fromOld);
  assert.deepEqual(r, { ok: false, reason: "auth_failed" });
  const otherCluster = await DatagramCodec.create({ keys: [k1], cluster: "c2" });
  assert.deepEqual(await otherCluster.open(fromOld), { ok: false, reason: "auth_failed" });
  await rotating.setKeys([k2]);
  assert.equal((await rotating.open(fromOld)).ok, false, "removed key no longer accepted");
});

Deno.test("datagram: size limits and keyring validation", async () => {
  const c = await DatagramCodec.create({ keys: [k1], cluster: "c", maxDatagramBytes: 200 });
  const max = c.maxPayloadBytes("m1");
  assert.equal((await c.seal("m1", new Uint8Array(max))).length, 200);
  await assert.rejects(() => c.seal("m1", new Uint8Array(max + 1)), /exceeds the maximum/);
  assert.deepEqual(await c.open(new Uint8Array(201)), { ok: false, reason: "too_large" });
  assert.deepEqual(await c.open(new Uint8Array(5)), { ok: false, reason: "too_short" });
  await assert.rejects(() => DatagramCodec.create({ keys: [], cluster: "c" }), /no keys/);
  await assert.rejects(
    () => DatagramCodec.create({ keys: [new Uint8Array(16)], cluster: "c" }),
    /needs 32/,
  );
});

Deno.test("datagram: UDP delivery, forged datagrams dropped and counted, fault cut", async () => {
  const faults = new FaultInjector();
  const logger = new MemoryLogger();
  const a = await DatagramTransport.listen({ nodeId: "a", keys: [k1], cluster: "c", logger });
  const b = await DatagramTransport.listen({
    nodeId: "b",
    keys: [k1],
    cluster: "c",
    faults,
    logger,
  });
  const intruder = await DatagramTransport.listen({
    nodeId: "x",
    keys: [k2],
    cluster: "c",
    logger,
  });
  try {
    const got: GossipDatagram[] = [];
    a.onDatagram((d) => got.push(d));
    await b.send(a.addr, enc.encode("ping"), "a");
    await intruder.send(a.addr, enc.encode("evil"));
    const raw = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    await raw.send(new Uint8Array(100), { transport: "udp", ...a.addr });
    raw.close();
    const end = performance.now() + 2000;
    while ((got.length < 1 || a.dropped < 2) && performance.now() < end) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(got.length, 1);
    assert.equal(got[0].from, "b");
    assert.equal(new TextDecoder().decode(got[0].payload), "ping");
    assert.equal(a.received, 1);
    assert.equal(a.dropped, 2);
    assert.equal(a.droppedByReason.get("auth_failed"), 1);
    assert.equal(a.droppedByReason.get("bad_version"), 1);

    faults.set("a", { cut: "out" });
    await b.send(a.addr, enc.encode("lost"), "a");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.received, 1, "cut link delivers nothing");
    assert.equal(faults.dropped.out, 1);
    faults.clear();
    await b.send(a.addr, enc.encode("back"), "a");
    const end2 = performance.now() + 2000;
    while (a.received < 2 && performance.now() < end2) await new Promise((r) => setTimeout(r, 5));
    assert.equal(a.received, 2);
  } finally {
    a.close();
    b.close();
    intruder.close();
  }
});
