import assert from "node:assert/strict";
import {
  createClusterCa,
  describeCertificate,
  importPrivateKey,
  isSignedBy,
  issueNodeCertificate,
  nodeIdFromCertificate,
} from "../../lib/security/pki.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { PemConverter } from "@peculiar/x509";

const DAY = 24 * 60 * 60 * 1000;

Deno.test("pki: CA is self-signed, CA:true, PEM key is PKCS#8", async () => {
  const ca = await createClusterCa({ name: "test-cluster CA" });
  assert.equal(ca.name, "test-cluster CA");
  assert.match(ca.certPem, /^-----BEGIN CERTIFICATE-----\n/);
  assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  const info = describeCertificate(ca.certPem);
  assert.equal(info.commonName, "test-cluster CA");
  assert.equal(info.issuerCommonName, "test-cluster CA");
  assert.equal(info.isCa, true);
  assert.ok(await isSignedBy(ca.certPem, ca.certPem));
  const lifetimeDays = (info.notAfter.getTime() - info.notBefore.getTime()) / DAY;
  assert.ok(lifetimeDays > 3600 && lifetimeDays < 3700, `CA lifetime ${lifetimeDays}`);
  await importPrivateKey(ca.keyPem);
});

Deno.test("pki: node certificate has CN, SANs, both EKUs and the CA's signature", async () => {
  const ca = await createClusterCa({ name: "ca" });
  const node = await issueNodeCertificate(ca, {
    nodeId: "m1",
    hosts: ["127.0.0.1", "::1", "localhost", "Node-1.Example.com", "127.0.0.1"],
  });
  const info = describeCertificate(node.certPem);
  assert.equal(info.commonName, "m1");
  assert.equal(info.issuerCommonName, "ca");
  assert.equal(info.isCa, false);
  assert.deepEqual(info.dnsNames, ["m1.elasticore", "localhost", "node-1.example.com"]);
  assert.deepEqual(info.ipAddresses, ["127.0.0.1", "::1"]);
  assert.deepEqual(info.extendedKeyUsages.sort(), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
  assert.ok(await isSignedBy(node.certPem, ca.certPem));
  const other = await createClusterCa({ name: "other" });
  assert.equal(await isSignedBy(node.certPem, other.certPem), false);
  assert.equal(await nodeIdFromCertificate(node.certPem), "m1");
  // DER input, as node:tls getPeerCertificate().raw gives it.
  const der = new Uint8Array(PemConverter.decodeFirst(node.certPem));
  assert.equal(await nodeIdFromCertificate(der), "m1");
  // Distinct keys and serials per certificate.
  const node2 = await issueNodeCertificate(ca, { nodeId: "m2", hosts: [] });
  assert.notEqual(node2.keyPem, node.keyPem);
  assert.notEqual(describeCertificate(node2.certPem).serialNumber, info.serialNumber);
});

Deno.test("pki: validity windows, expired certificates", async () => {
  const ca = await createClusterCa({ name: "ca", validDays: 10 });
  const caInfo = describeCertificate(ca.certPem);
  assert.ok(Math.abs(caInfo.notAfter.getTime() - caInfo.notBefore.getTime() - 10 * DAY) < 2000);
  const now = Date.now();
  const expired = await issueNodeCertificate(ca, {
    nodeId: "w9",
    hosts: ["127.0.0.1"],
    notBefore: new Date(now - 3 * DAY),
    notAfter: new Date(now - DAY),
  });
  const info = describeCertificate(expired.certPem);
  assert.ok(info.notAfter.getTime() < now, "notAfter is in the past");
  const short = await issueNodeCertificate(ca, { nodeId: "w1", hosts: [], validDays: 2 });
  const s = describeCertificate(short.certPem);
  assert.ok(Math.abs(s.notAfter.getTime() - s.notBefore.getTime() - 2 * DAY) < 2000);
  assert.ok(s.notBefore.getTime() <= now, "notBefore is backdated, not in the future");
});

Deno.test("pki: bad input gives typed errors naming the problem", async () => {
  const ca = await createClusterCa({ name: "ca" });
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof ElasticoreError, String(e));
      return e.code;
    }
    assert.fail("expected an error");
  };
  assert.equal(
    await code(issueNodeCertificate(ca, { nodeId: "Bad Id", hosts: [] })),
    "pki_bad_node_id",
  );
  assert.equal(
    await code(issueNodeCertificate(ca, { nodeId: "m1", hosts: ["not a host"] })),
    "pki_bad_host",
  );
  assert.equal(
    await code(issueNodeCertificate(ca, { nodeId: "m1", hosts: [], validDays: 0 })),
    "pki_bad_validity",
  );
  assert.equal(await code(createClusterCa({ name: "  " })), "pki_bad_name");
  assert.equal(
    await code(issueNodeCertificate({ ...ca, certPem: "garbage" }, { nodeId: "m1", hosts: [] })),
    "pki_bad_certificate",
  );
  assert.equal(
    await code(issueNodeCertificate({ ...ca, keyPem: "garbage" }, { nodeId: "m1", hosts: [] })),
    "pki_bad_key",
  );
  assert.equal(await code(nodeIdFromCertificate(new Uint8Array([1, 2, 3]))), "pki_bad_certificate");
});
