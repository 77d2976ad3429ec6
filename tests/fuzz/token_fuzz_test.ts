import assert from "node:assert/strict";
import {
  createToken,
  generateEd25519TokenKey,
  importHmacTokenKey,
  type TokenKey,
  verifyToken,
} from "../../lib/security/tokens.ts";
import { fromBase64Url, toBase64Url } from "../../lib/security/encoding.ts";
import { ROLES } from "../../lib/security/roles.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { fuzzBudget, fuzzSeed, mutate, randomBytes } from "./fuzz_util.ts";

const NOW = Date.UTC(2031, 5, 1);
const URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const NOISE = [".", "=", "+", "/", " ", "\n", "\u0000", "é", "\u{1F600}", "ec1", "ec1e", ".."];

function randomChar(prng: Prng): string {
  return prng.int(8) === 0 ? prng.pick(NOISE) : URL_ALPHABET[prng.int(URL_ALPHABET.length)];
}

/** One string-level edit: substitute, insert, delete, swap parts, truncate, duplicate. */
function editString(prng: Prng, s: string, corpus: string[]): string {
  const at = s.length === 0 ? 0 : prng.int(s.length);
  switch (prng.int(9)) {
    case 0:
      return s.slice(0, at) + randomChar(prng) + s.slice(at + 1);
    case 1:
      return s.slice(0, at) + randomChar(prng) + s.slice(at);
    case 2:
      return s.slice(0, at) + s.slice(at + 1 + prng.int(4));
    case 3: {
      const parts = s.split(".");
      const other = prng.pick(corpus).split(".");
      const i = prng.int(Math.max(parts.length, 1));
      parts[i] = other[prng.int(other.length)] ?? "";
      return parts.join(".");
    }
    case 4:
      return s.slice(0, at);
    case 5:
      return s + s.slice(at);
    case 6: {
      // Flip the low bits of a part's last character: an alias spelling when they are padding.
      const parts = s.split(".");
      const i = prng.int(parts.length);
      const p = parts[i];
      const v = URL_ALPHABET.indexOf(p[p.length - 1]);
      if (v < 0) return s;
      parts[i] = p.slice(0, -1) + URL_ALPHABET[v ^ (1 + prng.int(3))];
      return parts.join(".");
    }
    case 7: {
      const parts = s.split(".");
      return prng.pick([parts.reverse().join("."), parts.join(".."), parts.join(".") + "."]);
    }
    default: {
      const i = prng.int(Math.max(1, s.length - 1));
      return s.slice(0, i) + (s[i + 1] ?? "") + (s[i] ?? "") + s.slice(i + 2);
    }
  }
}

/** Re-encodes the payload with altered claims while keeping the original signature. */
function forgeClaims(prng: Prng, token: string): string {
  const [tag, body, sig] = token.split(".");
  const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(body)));
  switch (prng.int(5)) {
    case 0:
      claims.role = "admin";
      break;
    case 1:
      claims.exp += 1 + prng.int(100_000);
      break;
    case 2:
      claims.cluster = "other";
      break;
    case 3:
      claims.sub = claims.sub + "x";
      break;
    default:
      claims.extra = prng.int(10);
  }
  return `${tag}.${toBase64Url(new TextEncoder().encode(JSON.stringify(claims)))}.${sig}`;
}

Deno.test("fuzz: verifyToken never throws and never accepts a mutated token", async () => {
  const seed = fuzzSeed();
  const prng = new Prng(seed);
  const hmac = await importHmacTokenKey(randomBytes(prng, 32));
  const ed = await generateEd25519TokenKey();
  const keys: TokenKey[] = [hmac, ed];
  const valid = new Set<string>();
  const corpus: string[] = [];
  for (const key of keys) {
    for (const role of ROLES) {
      const t = await createToken(key, {
        subject: `user-${role}`,
        role,
        cluster: "fuzz",
        ttlMs: 3_600_000,
        now: NOW - 1000,
        jti: `j${corpus.length}`,
      });
      const r = await verifyToken(key, t, { cluster: "fuzz", now: NOW });
      assert.ok(r.ok, "a fresh token verifies, so the fuzz loop can tell acceptance apart");
      valid.add(t);
      corpus.push(t);
    }
  }

  const iterations = fuzzBudget(20_000);
  const codes = new Map<string, number>();
  let identical = 0;
  for (let i = 0; i < iterations; i++) {
    const base = prng.pick(corpus);
    let input: string;
    const mode = prng.int(10);
    if (mode < 5) {
      input = base;
      const edits = 1 + prng.int(3);
      for (let e = 0; e < edits; e++) input = editString(prng, input, corpus);
    } else if (mode < 7) {
      input = new TextDecoder().decode(mutate(prng, new TextEncoder().encode(base)));
    } else if (mode < 8) {
      input = forgeClaims(prng, base);
    } else if (mode < 9) {
      const n = prng.int(200);
      input = Array.from({ length: n }, () => randomChar(prng)).join("");
    } else {
      input = new TextDecoder().decode(randomBytes(prng, prng.int(300)));
    }
    if (valid.has(input)) {
      identical++;
      continue;
    }
    for (const key of keys) {
      let result;
      try {
        result = await verifyToken(key, input, { cluster: "fuzz", now: NOW });
      } catch (e) {
        assert.fail(
          `seed ${seed} iteration ${i}: verifyToken threw ${e} for ${JSON.stringify(input)}`,
        );
      }
      assert.equal(
        result.ok,
        false,
        `seed ${seed} iteration ${i}: accepted mutated token ${JSON.stringify(input)}`,
      );
      if (!result.ok) codes.set(result.error.code, (codes.get(result.error.code) ?? 0) + 1);
    }
  }
  // Every refusal path is exercised except expiry (mutations cannot forge a valid signature).
  assert.ok((codes.get("token_malformed") ?? 0) > 0);
  assert.ok((codes.get("token_bad_signature") ?? 0) > 0);
  assert.ok(identical < iterations / 100, `too many identity mutations: ${identical}`);
});
