import assert from "node:assert/strict";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import {
  type CertifiedKey,
  type ClusterCa,
  createClusterCa,
  issueNodeCertificate,
  nodeIdFromCertificateSync,
} from "../../lib/security/pki.ts";

const DAY = 24 * 60 * 60 * 1000;

interface Outcome {
  /** Node id the server saw on an authorized client certificate, if the handshake passed. */
  serverSawPeer?: string;
  /** What the client read before the connection closed. */
  clientRead: string;
  /** Client-side error message, if any. */
  clientError?: string;
}

/**
 * Starts a mutual-TLS server on 127.0.0.1 trusting `ca`, connects once with
 * `client` (or no certificate) trusting `ca`, and reports what each side saw.
 */
async function handshake(
  ca: ClusterCa,
  server: CertifiedKey,
  client: CertifiedKey | undefined,
  clientTrusts: ClusterCa = ca,
): Promise<Outcome> {
  const outcome: Outcome = { clientRead: "" };
  const srv = tls.createServer({
    key: server.keyPem,
    cert: server.certPem,
    ca: [ca.certPem],
    requestCert: true,
    rejectUnauthorized: true,
  }, (socket) => {
    if (socket.authorized) {
      outcome.serverSawPeer = nodeIdFromCertificateSync(
        new Uint8Array(socket.getPeerCertificate().raw),
      );
    }
    socket.end("welcome");
  });
  srv.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", () => resolve()));
  const port = (srv.address() as AddressInfo).port;
  try {
    await new Promise<void>((resolve) => {
      const sock = tls.connect({
        host: "127.0.0.1",
        port,
        ca: [clientTrusts.certPem],
        servername: "m1.elasticore",
        ...(client ? { key: client.keyPem, cert: client.certPem } : {}),
      });
      sock.on("data", (d) => outcome.clientRead += String(d));
      sock.on("error", (e) => {
        outcome.clientError = e.message;
        resolve();
      });
      sock.on("close", () => resolve());
    });
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
  return outcome;
}

let fixture: Promise<{ ca: ClusterCa; server: CertifiedKey; client: CertifiedKey }> | undefined;
function setup() {
  fixture ??= (async () => {
    const ca = await createClusterCa({ name: "tls-test" });
    const server = await issueNodeCertificate(ca, { nodeId: "m1", hosts: ["127.0.0.1"] });
    const client = await issueNodeCertificate(ca, { nodeId: "w7", hosts: ["127.0.0.1"] });
    return { ca, server, client };
  })();
  return fixture;
}

Deno.test("tls: mutual TLS accepts a client certificate from the cluster CA", async () => {
  const { ca, server, client } = await setup();
  const out = await handshake(ca, server, client);
  assert.equal(out.serverSawPeer, "w7");
  assert.equal(out.clientRead, "welcome");
  assert.equal(out.clientError, undefined);
});

Deno.test("tls: rejects a client certificate from another CA", async () => {
  const { ca, server } = await setup();
  const other = await createClusterCa({ name: "intruder" });
  const foreign = await issueNodeCertificate(other, { nodeId: "w7", hosts: ["127.0.0.1"] });
  const out = await handshake(ca, server, foreign);
  assert.equal(out.serverSawPeer, undefined);
  assert.equal(out.clientRead, "");
});

Deno.test("tls: rejects a client without a certificate", async () => {
  const { ca, server } = await setup();
  const out = await handshake(ca, server, undefined);
  assert.equal(out.serverSawPeer, undefined);
  assert.equal(out.clientRead, "");
});

Deno.test("tls: rejects an expired client certificate", async () => {
  const { ca, server } = await setup();
  const now = Date.now();
  const expired = await issueNodeCertificate(ca, {
    nodeId: "w8",
    hosts: ["127.0.0.1"],
    notBefore: new Date(now - 10 * DAY),
    notAfter: new Date(now - DAY),
  });
  const out = await handshake(ca, server, expired);
  assert.equal(out.serverSawPeer, undefined);
  assert.equal(out.clientRead, "");
});

Deno.test("tls: client rejects a server certificate from another CA", async () => {
  const { ca, server, client } = await setup();
  const other = await createClusterCa({ name: "other" });
  const out = await handshake(ca, server, client, other);
  assert.ok(out.clientError, "client reports a certificate error");
  assert.equal(out.clientRead, "");
  assert.equal(out.serverSawPeer, undefined);
});
