/**
 * Security matrix, gossip row: datagrams sealed with a key outside the
 * receiver's keyring, for another cluster label, tampered in flight, or sent
 * in plaintext are dropped by a real UDP endpoint (`DatagramTransport` on
 * loopback), which keeps accepting datagrams from its own cluster, with the
 * drop reason of each. The same row against a running node's gossip port is
 * in `security_transport_test.ts`; this one checks the reasons and key
 * rotation, which a node does not expose.
 */
import assert from "node:assert/strict";
import { DatagramTransport } from "../../lib/transport/datagram.ts";
import { generateGossipKey } from "../../lib/security/keyring.ts";
import { MemoryLogger } from "../../lib/transport/testing.ts";

const CLUSTER = "elasticore";

async function until(cond: () => boolean, what: string, ms = 3_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("security: gossip datagrams with a wrong key, another cluster label, tampered or plaintext are dropped", async () => {
  const key = generateGossipKey();
  const logger = new MemoryLogger();
  const open = (nodeId: string, keys: Uint8Array[], cluster = CLUSTER) =>
    DatagramTransport.listen({ nodeId, keys, cluster, logger });
  const rx = await open("rx", [key]);
  const friend = await open("friend", [key]);
  const wrongKey = await open("intruder", [generateGossipKey()]);
  const otherCluster = await open("neighbour", [key], "other-cluster");
  // A rotating keyring still seals with its primary, which rx does not hold.
  const rotated = await open("rotated", [generateGossipKey(), key]);
  const raw = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const got: { from: string; text: string }[] = [];
  rx.onDatagram((d) => got.push({ from: d.from, text: new TextDecoder().decode(d.payload) }));
  const to = { ...rx.addr, transport: "udp" as const };
  try {
    const enc = new TextEncoder();
    await friend.send(rx.addr, enc.encode("hello 1"));
    await wrongKey.send(rx.addr, enc.encode("forged by key"));
    await otherCluster.send(rx.addr, enc.encode("forged by label"));
    await rotated.send(rx.addr, enc.encode("new primary"));
    const sealed = await friend.codec.seal("friend", enc.encode("tampered"));
    for (const at of [1, 5, sealed.length - 1]) {
      const t = sealed.slice();
      t[at] ^= 0x01;
      await raw.send(t, to);
    }
    const otherVersion = await friend.codec.seal("friend", enc.encode("other version"));
    otherVersion[0] = 2; // another format version
    await raw.send(otherVersion, to);
    await raw.send(enc.encode("plaintext gossip: alive m1 incarnation 99"), to);
    await raw.send(new Uint8Array(0), to);
    await raw.send(new Uint8Array(9000).fill(7), to);
    await friend.send(rx.addr, enc.encode("hello 2"));

    await until(() => got.length === 2 && rx.dropped === 10, "two accepted, ten dropped");
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got, [
      { from: "friend", text: "hello 1" },
      { from: "friend", text: "hello 2" },
    ]);
    assert.equal(rx.received, 2);
    assert.equal(rx.dropped, 10);
    assert.equal(rx.droppedByReason.get("auth_failed"), 6, "key, label, rotation, 3 tampered");
    assert.equal(rx.droppedByReason.get("bad_version"), 2, "other version and plaintext");
    assert.equal(rx.droppedByReason.get("too_large"), 1);
    assert.equal(rx.droppedByReason.get("too_short"), 1, "empty");
    // A peer that adds rx's key to its ring (rotation step 1) is heard again.
    await rotated.codec.setKeys([key]);
    await rotated.send(rx.addr, enc.encode("rotated back"));
    await until(() => got.length === 3, "datagram after rotation");
    assert.deepEqual(got[2], { from: "rotated", text: "rotated back" });
  } finally {
    raw.close();
    for (const t of [rx, friend, wrongKey, otherCluster, rotated]) t.close();
  }
});
