import assert from "node:assert/strict";
import {
  createToken,
  formatTokenKeyFile,
  generateEd25519TokenKey,
  generateTokenKeyBytes,
  importHmacTokenKey,
  makeTokenVerifier,
  parseTokenKeyFile,
  parseTtl,
  readTokenKeyFile,
  type TokenKey,
  type TokenResult,
  verifyToken,
} from "../../lib/security/tokens.ts";
import { fromBase64Url, toBase64Url } from "../../lib/security/encoding.ts";
import { ElasticoreError } from "../../lib/errors.ts";

const NOW = Date.UTC(2030, 0, 1);
const HOUR = 3_600_000;
const key = await importHmacTokenKey(generateTokenKeyBytes());

function mint(k: TokenKey = key, extra: Partial<Parameters<typeof createToken>[1]> = {}) {
  return createToken(k, {
    subject: "alice",
    role: "operator",
    cluster: "prod",
    ttlMs: HOUR,
    now: NOW,
    ...extra,
  });
}

function code(r: TokenResult): string {
  return r.ok ? "ok" : r.error.code;
}

Deno.test("tokens: a fresh token verifies and carries its claims", async () => {
  const token = await mint(key, { jti: "abc" });
  assert.match(token, /^ec1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  const r = await verifyToken(key, token, { cluster: "prod", now: NOW + 1000 });
  assert.ok(r.ok);
  assert.deepEqual(r.claims, {
    sub: "alice",
    role: "operator",
    iat: NOW / 1000,
    exp: NOW / 1000 + 3600,
    cluster: "prod",
    jti: "abc",
  });
  // Random jti by default.
  const a = await mint();
  const b = await mint();
  assert.notEqual(a, b);
});

Deno.test("tokens: expiry is exclusive at exp", async () => {
  const token = await mint();
  assert.equal(code(await verifyToken(key, token, { cluster: "prod", now: NOW + HOUR - 1 })), "ok");
  const r = await verifyToken(key, token, { cluster: "prod", now: NOW + HOUR });
  assert.equal(code(r), "token_expired");
});

Deno.test("tokens: wrong key, wrong cluster, tampered payload and signature", async () => {
  const token = await mint();
  const other = await importHmacTokenKey(generateTokenKeyBytes());
  assert.equal(
    code(await verifyToken(other, token, { cluster: "prod", now: NOW })),
    "token_bad_signature",
  );
  assert.equal(
    code(await verifyToken(key, token, { cluster: "dev", now: NOW })),
    "token_wrong_cluster",
  );

  // Re-encode the payload with an elevated role, keeping the signature.
  const [tag, body, sig] = token.split(".");
  const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(body)));
  claims.role = "admin";
  const forged = `${tag}.${toBase64Url(new TextEncoder().encode(JSON.stringify(claims)))}.${sig}`;
  assert.equal(
    code(await verifyToken(key, forged, { cluster: "prod", now: NOW })),
    "token_bad_signature",
  );

  // Flip one bit of the signature.
  const sigBytes = fromBase64Url(sig)!;
  sigBytes[5] ^= 1;
  const flipped = `${tag}.${body}.${toBase64Url(sigBytes)}`;
  assert.equal(
    code(await verifyToken(key, flipped, { cluster: "prod", now: NOW })),
    "token_bad_signature",
  );

  // Non-canonical base64 spelling of the same signature is refused, not accepted.
  const last = sig[sig.length - 1];
  const alt = "AEIMQUYcgkosw048".includes(last)
    ? String.fromCharCode(last.charCodeAt(0) + 1)
    : last;
  if (alt !== last) {
    const respelled = `${tag}.${body}.${sig.slice(0, -1)}${alt}`;
    assert.equal(
      code(await verifyToken(key, respelled, { cluster: "prod", now: NOW })),
      "token_malformed",
    );
  }
});

Deno.test("tokens: malformed strings are refused with token_malformed", async () => {
  const good = await mint();
  const [, body, sig] = good.split(".");
  const cases = [
    "",
    "ec1",
    "ec1..",
    "ec1.abc",
    `ec2.${body}.${sig}`,
    `ec1.${body}.${sig}.x`,
    `ec1.${body}!.${sig}`,
    `ec1.${body}.${sig}=`,
    `ec1. ${body}.${sig}`,
    `ec1.${body}.`,
    "x".repeat(5000),
    "ec1.e30.AAAA",
  ];
  for (const t of cases) {
    const r = await verifyToken(key, t, { cluster: "prod", now: NOW });
    assert.equal(code(r), "token_malformed", `case ${JSON.stringify(t.slice(0, 40))}`);
  }
});

Deno.test("tokens: a correctly signed but invalid payload is malformed", async () => {
  const raw = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  const bytes = new Uint8Array(await crypto.subtle.exportKey("raw", raw));
  const k = await importHmacTokenKey(bytes.slice(0, 32));
  if (k.kind !== "hmac") throw new Error("expected an HMAC key");
  const signPayload = async (payload: string) => {
    const body = toBase64Url(new TextEncoder().encode(payload));
    const sig = await crypto.subtle.sign("HMAC", k.key, new TextEncoder().encode(`ec1.${body}`));
    return `ec1.${body}.${toBase64Url(new Uint8Array(sig))}`;
  };
  const base = { sub: "a", role: "reader", iat: 1, exp: 2_000_000_000, cluster: "prod", jti: "j" };
  const bad = [
    "not json",
    "[]",
    JSON.stringify({ ...base, role: "root" }),
    JSON.stringify({ ...base, exp: 0 }),
    JSON.stringify({ ...base, extra: 1 }),
    JSON.stringify({ ...base, sub: "" }),
    JSON.stringify({ ...base, iat: 1.5 }),
  ];
  for (const p of bad) {
    assert.equal(
      code(await verifyToken(k, await signPayload(p), { cluster: "prod", now: NOW })),
      "token_malformed",
      p,
    );
  }
  assert.equal(
    code(
      await verifyToken(k, await signPayload(JSON.stringify(base)), { cluster: "prod", now: NOW }),
    ),
    "ok",
  );
});

Deno.test("tokens: Ed25519 keys sign and verify; algorithms do not mix", async () => {
  const ed = await generateEd25519TokenKey();
  const token = await mint(ed);
  assert.match(token, /^ec1e\./);
  assert.equal(code(await verifyToken(ed, token, { cluster: "prod", now: NOW })), "ok");
  if (ed.kind !== "ed25519") throw new Error("expected an Ed25519 key");
  const verifyOnly: TokenKey = { kind: "ed25519", publicKey: ed.publicKey };
  assert.equal(code(await verifyToken(verifyOnly, token, { cluster: "prod", now: NOW })), "ok");
  await assert.rejects(mint(verifyOnly), ElasticoreError);
  assert.equal(
    code(await verifyToken(key, token, { cluster: "prod", now: NOW })),
    "token_bad_signature",
  );
  assert.equal(
    code(await verifyToken(ed, await mint(), { cluster: "prod", now: NOW })),
    "token_bad_signature",
  );
  const other = await generateEd25519TokenKey();
  assert.equal(
    code(await verifyToken(other, token, { cluster: "prod", now: NOW })),
    "token_bad_signature",
  );
});

Deno.test("tokens: createToken validates its options", async () => {
  await assert.rejects(mint(key, { subject: "" }), /subject/);
  await assert.rejects(mint(key, { subject: "has space" }), /subject/);
  await assert.rejects(mint(key, { cluster: "bad label!" }), /cluster label/);
  await assert.rejects(mint(key, { ttlMs: 999 }), /at least 1s/);
  await assert.rejects(mint(key, { jti: "" }), /token id/);
});

Deno.test("tokens: key file round-trip and errors", async () => {
  const bytes = generateTokenKeyBytes();
  assert.deepEqual(parseTokenKeyFile(`# comment\n${formatTokenKeyFile(bytes)}`), bytes);
  assert.throws(() => parseTokenKeyFile(""), /exactly one/);
  assert.throws(() => parseTokenKeyFile("@@@@\n"), /not valid base64/);
  assert.throws(() => parseTokenKeyFile("AAAA\n"), /3 bytes, need 32/);
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/token.key`;
    await Deno.writeTextFile(path, formatTokenKeyFile(bytes));
    const k = await readTokenKeyFile(path);
    const t = await mint(k);
    assert.equal(
      code(await verifyToken(await importHmacTokenKey(bytes), t, { cluster: "prod", now: NOW })),
      "ok",
    );
    await assert.rejects(readTokenKeyFile(`${dir}/missing.key`), /does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tokens: ttl parsing", () => {
  assert.equal(parseTtl("30s"), 30_000);
  assert.equal(parseTtl("15m"), 900_000);
  assert.equal(parseTtl("24h"), 86_400_000);
  assert.equal(parseTtl("7d"), 604_800_000);
  for (const bad of ["", "10", "h", "1.5h", "-1h", "1w", "0s", "3651d", "1 h"]) {
    assert.throws(
      () => parseTtl(bad),
      (e: unknown) => e instanceof ElasticoreError && e.code === "bad_ttl",
      bad,
    );
  }
});

Deno.test("tokens: API verifier resolves a principal or rejects with a 401", async () => {
  let now = NOW;
  const verify = makeTokenVerifier(key, "prod", () => now);
  const p = await verify(await mint());
  assert.equal(p.subject, "alice");
  assert.equal(p.role, "operator");
  now = NOW + 2 * HOUR;
  await assert.rejects(
    verify(await mint()),
    (e: unknown) => e instanceof ElasticoreError && e.code === "token_expired" && e.status === 401,
  );
  await assert.rejects(
    verify("junk"),
    (e: unknown) => e instanceof ElasticoreError && e.code === "token_malformed",
  );
});
