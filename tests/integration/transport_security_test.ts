/**
 * Acceptance matrix of the transport's security: who may connect (TLS and
 * QUIC), and that an oversized frame closes only the connection it came on.
 */
import assert from "node:assert/strict";
import * as tls from "node:tls";
import { bytes, object, str } from "../../proto/schema.ts";
import { isTransportError } from "../../lib/transport/errors.ts";
import {
  type MemoryLogger,
  startTestNode,
  type TestNode,
  testPki,
} from "../../lib/transport/testing.ts";
import type { NodeIdentity, TransportKind } from "../../lib/transport/types.ts";

const messages = {
  "t.echo": object({ s: str(64) }),
  "t.echo.reply": object({ s: str(64) }),
  "t.blob": object({ d: bytes(1 << 20) }),
  "t.blob.reply": object({ n: bytes(16) }),
};

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function server(kind: TransportKind, identity: NodeIdentity, maxFrameBytes?: number) {
  const node = await startTestNode({ kind, identity, messages, transport: { maxFrameBytes } });
  node.rpc.handle("t.echo", (body) => body);
  node.rpc.handle("t.blob", () => ({ n: new Uint8Array(1) }));
  return node;
}

async function client(kind: TransportKind, identity: NodeIdentity, target: TestNode) {
  const node = await startTestNode({ kind, identity, messages, listen: false });
  node.rpc.addPeer("srv", target.addr);
  return node;
}

async function expectRejected(c: TestNode): Promise<unknown> {
  const err = await c.rpc.call("srv", "t.echo", { s: "x" }, { deadlineMs: 2000 }).then(
    () => null,
    (e) => e,
  );
  assert.ok(err !== null, "the connection should have been refused");
  assert.ok(
    isTransportError(err, "peer_unavailable") || isTransportError(err, "handshake_failed"),
    `unexpected error ${err}`,
  );
  return err;
}

function failures(n: TestNode, reason: string): number {
  return n.rpc.metrics.handshakeFailures.get(reason) ?? 0;
}

function logged(l: MemoryLogger, reason: string): boolean {
  return l.warned(reason);
}

for (const kind of ["tcp", "quic"] as const) {
  Deno.test(`${kind}: right CA accepted; wrong CA and expired certificate rejected and logged`, async () => {
    const pki = await testPki("cluster-ca");
    const other = await testPki("rogue-ca");
    const srv = await server(kind, await pki.identity("srv"));
    const good = await client(kind, await pki.identity("good"), srv);
    // Trusts the real CA (so it could reach the server) but holds a rogue certificate.
    const rogueCert = await other.identity("rogue");
    const rogue = await client(kind, { ...rogueCert, caPem: pki.ca.certPem }, srv);
    const old = await client(
      kind,
      await pki.identity("old", {
        notBefore: new Date(Date.now() - 3 * 86400_000),
        notAfter: new Date(Date.now() - 86400_000),
      }),
      srv,
    );
    try {
      assert.deepEqual(await good.rpc.call("srv", "t.echo", { s: "hi" }, { deadlineMs: 2000 }), {
        s: "hi",
      });
      await expectRejected(rogue);
      const wrongCaReason = kind === "tcp" ? "certificate_rejected" : "untrusted_certificate";
      await until(() => failures(srv, wrongCaReason) >= 1, "wrong-CA failure count");
      assert.ok(logged(srv.logger, wrongCaReason));
      const before = failures(srv, kind === "tcp" ? "certificate_rejected" : "certificate_expired");
      await expectRejected(old);
      const expiredReason = kind === "tcp" ? "certificate_rejected" : "certificate_expired";
      await until(() => failures(srv, expiredReason) > before, "expired failure count");
      assert.ok(logged(srv.logger, expiredReason));
      // The accepted client is unaffected.
      assert.deepEqual(await good.rpc.call("srv", "t.echo", { s: "again" }), { s: "again" });
    } finally {
      await Promise.all([srv.rpc.close(), good.rpc.close(), rogue.rpc.close(), old.rpc.close()]);
    }
  });

  Deno.test(`${kind}: a frame over the maximum closes that connection only`, async () => {
    const pki = await testPki();
    const srv = await server(kind, await pki.identity("srv"), 64 * 1024);
    const big = await client(kind, await pki.identity("big"), srv);
    const small = await client(kind, await pki.identity("small"), srv);
    try {
      assert.deepEqual(await small.rpc.call("srv", "t.echo", { s: "1" }), { s: "1" });
      const err = await big.rpc.call("srv", "t.blob", { d: new Uint8Array(200_000) }, {
        deadlineMs: 2000,
      }).then(() => null, (e) => e);
      assert.ok(isTransportError(err, "peer_unavailable"), `expected peer_unavailable, got ${err}`);
      await until(() => srv.rpc.metrics.oversizedCloses >= 1, "oversized close");
      assert.equal(srv.rpc.metrics.rejectedFrames.get("oversized"), 1);
      assert.ok(logged(srv.logger, "exceeds") || logged(srv.logger, "maximum"));
      // The other connection keeps working, and the offender may reconnect.
      assert.deepEqual(await small.rpc.call("srv", "t.echo", { s: "2" }), { s: "2" });
      assert.deepEqual(await big.rpc.call("srv", "t.echo", { s: "3" }), { s: "3" });
    } finally {
      await Promise.all([srv.rpc.close(), big.rpc.close(), small.rpc.close()]);
    }
  });
}

Deno.test("tcp: no client certificate and plaintext are rejected and logged", async () => {
  const pki = await testPki();
  const srv = await server("tcp", await pki.identity("srv"));
  try {
    const sock = tls.connect({
      host: srv.addr.hostname,
      port: srv.addr.port,
      ca: [pki.ca.certPem],
      servername: "srv.elasticore",
    });
    await new Promise<void>((resolve) => {
      sock.on("error", () => resolve());
      sock.on("close", () => resolve());
    });
    await until(() => failures(srv, "no_client_certificate") === 1, "no-cert failure count");
    assert.ok(logged(srv.logger, "no_client_certificate"));

    const plain = await Deno.connect({ hostname: srv.addr.hostname, port: srv.addr.port });
    await plain.write(new TextEncoder().encode("\x00\x00\x00\x10plaintext frame!"));
    const buf = new Uint8Array(64);
    await plain.read(buf).catch(() => null);
    plain.close();
    await until(() => failures(srv, "plaintext") === 1, "plaintext failure count");
    assert.ok(logged(srv.logger, "plaintext"));
    assert.equal(srv.rpc.metrics.framesIn, 0, "no frame may be accepted from these clients");
  } finally {
    await srv.rpc.close();
  }
});

Deno.test("quic: a certificate presented with the wrong key fails the signature check", async () => {
  const pki = await testPki();
  const srv = await server("quic", await pki.identity("srv"));
  const victim = await pki.identity("victim");
  const thief = await pki.identity("thief");
  // The thief replays the victim's certificate but can only sign with its own key.
  const forger = await client("quic", { ...victim, keyPem: thief.keyPem }, srv);
  try {
    await expectRejected(forger);
    await until(() => failures(srv, "bad_signature") === 1, "bad signature count");
    assert.ok(logged(srv.logger, "bad_signature"));
  } finally {
    await Promise.all([srv.rpc.close(), forger.rpc.close()]);
  }
});

Deno.test("tcp: a server with a certificate for another node id is refused by the client", async () => {
  const pki = await testPki();
  const srv = await server("tcp", await pki.identity("imposter"));
  const c = await client("tcp", await pki.identity("c"), srv);
  try {
    const err = await expectRejected(c);
    assert.ok(isTransportError(err));
  } finally {
    await Promise.all([srv.rpc.close(), c.rpc.close()]);
  }
});
