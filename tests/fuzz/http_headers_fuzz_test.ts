/**
 * Fuzzes request headers of the HTTP API in process, above all
 * `Authorization`: valid tokens of every role in odd spellings, mutated and
 * re-signed-looking tokens, tampered claims, foreign keys and clusters,
 * expired tokens, other schemes, duplicates and junk, plus random other
 * headers. The app is the node's (`nodeListingApp`: same `createApiApp` and
 * route modules) with the real token verifier. Checked for every request:
 * nothing throws out of the app; no 500; 4xx/5xx carry the JSON error body;
 * nothing gets past authentication unless its header carries a token that
 * verifies; and a canonical `Bearer <valid token>` is authenticated and gets
 * 403 exactly when the role table denies the route's action.
 */
import assert from "node:assert/strict";
import { cachingVerifier } from "../../lib/api/auth.ts";
import {
  nodeListingApp,
  requestMethod,
  type RouteRule,
  routeTable,
} from "../../lib/api/routes_table.ts";
import { fromBase64Url, toBase64Url } from "../../lib/security/encoding.ts";
import { authorize, ROLES } from "../../lib/security/roles.ts";
import {
  createToken,
  generateEd25519TokenKey,
  importHmacTokenKey,
  makeTokenVerifier,
  type TokenKey,
  verifyToken,
} from "../../lib/security/tokens.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { fuzzBudget, fuzzSeed, mutate, randomBytes } from "./fuzz_util.ts";

const CLUSTER = "fuzz";
const HOUR = 3_600_000;
const enc = new TextEncoder();
const dec = new TextDecoder();

const OTHER_HEADERS = [
  "content-type",
  "accept",
  "accept-encoding",
  "if-none-match",
  "range",
  "origin",
  "cookie",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-real-ip",
  "expect",
  "te",
  "upgrade",
  "via",
  "x-http-method-override",
  "x-original-url",
  "x-rewrite-url",
  "forwarded",
  "host",
];
const HEADER_VALUES = [
  "",
  "*",
  "application/json",
  "text/plain; charset=utf-8",
  "bytes=0-10",
  "bytes=-1",
  'W/"x"',
  '"abc", *',
  "100-continue",
  "websocket",
  "DELETE",
  "/v1/kv/x",
  "/v1/health",
  "127.0.0.1",
  "for=1.2.3.4;proto=https",
  "a".repeat(8000),
  "\u00ff\u00fe",
];

function retag(token: string, edit: (claims: Record<string, unknown>) => void): string {
  const [tag, body, sig] = token.split(".");
  const raw = fromBase64Url(body);
  if (!raw) return token;
  const claims = JSON.parse(dec.decode(raw)) as Record<string, unknown>;
  edit(claims);
  return `${tag}.${toBase64Url(enc.encode(JSON.stringify(claims)))}.${sig}`;
}

/** A random printable string that a `Headers` object accepts as a value. */
function headerText(prng: Prng, max: number): string {
  let s = "";
  const n = prng.int(max + 1);
  for (let i = 0; i < n; i++) s += String.fromCharCode(0x20 + prng.int(0x5f));
  return s;
}

Deno.test({
  name: "fuzz: 8,000+ requests with random and mutated Authorization and other headers",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const prng = new Prng(fuzzSeed() ^ 0x4844);
    const key = await importHmacTokenKey(randomBytes(prng, 32));
    const otherKey = await importHmacTokenKey(randomBytes(prng, 32));
    const ed = await generateEd25519TokenKey();
    const sign = (k: TokenKey, role: string, extra: { cluster?: string; now?: number } = {}) =>
      createToken(k, {
        subject: `fuzz-${role}`,
        role: role as typeof ROLES[number],
        cluster: extra.cluster ?? CLUSTER,
        ttlMs: HOUR,
        now: extra.now,
      });
    const valid = await Promise.all(ROLES.map((r) => sign(key, r)));
    const foreign = [
      ...(await Promise.all(ROLES.map((r) => sign(otherKey, r)))),
      await sign(key, "admin", { cluster: "other" }),
      await sign(key, "admin", { now: Date.now() - 2 * HOUR }),
      await sign(ed, "admin"),
    ];
    let authenticated = 0;
    const inner = cachingVerifier(makeTokenVerifier(key, CLUSTER));
    const verify = async (t: string) => {
      const p = await inner(t);
      authenticated++;
      return p;
    };
    const rules: RouteRule[] = await routeTable((v) => nodeListingApp(v));
    const app = nodeListingApp(verify, 4096);
    const verifies = async (t: string) => (await verifyToken(key, t, { cluster: CLUSTER })).ok;

    const authHeader = (): { value: string | null; canonical?: string } => {
      const tok = prng.pick(valid);
      switch (prng.int(14)) {
        case 0:
          return { value: null };
        case 1:
        case 12:
        case 13:
          return { value: `Bearer ${tok}`, canonical: tok };
        case 2:
          return {
            value: `${prng.pick(["bearer", "BEARER", "Bearer\t", "Bearer  "])} ${tok}${
              prng.pick(["", " ", "\t"])
            }`,
          };
        case 3:
          return { value: `Bearer ${dec.decode(mutate(prng, enc.encode(tok)))}` };
        case 4:
          return {
            value: `Bearer ${
              retag(tok, (c) => {
                const f = prng.pick(["role", "cluster", "exp", "sub", "iat", "jti", "extra"]);
                c[f] = prng.pick(["admin", "other", 9e15, -1, "", null, ["admin"], { a: 1 }]);
              })
            }`,
          };
        case 5:
          return { value: `Bearer ${prng.pick(foreign)}` };
        case 6:
          return { value: `${prng.pick(["Basic", "Token", "Digest", "JWT", ""])} ${tok}` };
        case 7:
          return { value: `Bearer ${tok}, Bearer ${prng.pick(valid)}` };
        case 8:
          return { value: `Bearer ${tok.replaceAll("-", "+").replaceAll("_", "/")}==` };
        case 9: {
          const parts = tok.split(".");
          const op = prng.int(3);
          const t = op === 0
            ? parts.reverse().join(".")
            : op === 1
            ? `${tok}.${parts[2]}`
            : parts.slice(0, 2).join(".");
          return { value: `Bearer ${t}` };
        }
        case 10:
          return { value: `Bearer ${"A".repeat(prng.int(6000))}` };
        default:
          return { value: headerText(prng, 80) };
      }
    };

    const total = fuzzBudget(8_000);
    const statuses = new Map<number, number>();
    let canonicalChecked = 0;
    for (let i = 0; i < total; i++) {
      const rule = prng.pick(rules);
      const method = prng.chance(0.9)
        ? requestMethod(rule.method)
        : prng.pick(["GET", "PUT", "POST", "DELETE"]);
      const headers = new Headers();
      const auth = authHeader();
      try {
        if (auth.value !== null) headers.set("authorization", auth.value);
      } catch {
        headers.set("authorization", "Bearer invalid");
        auth.value = "Bearer invalid";
        auth.canonical = undefined;
      }
      const extra = prng.int(4);
      for (let h = 0; h < extra; h++) {
        const name = prng.chance(0.8)
          ? prng.pick(OTHER_HEADERS)
          : `x-${headerText(prng, 10).replace(/[^a-z0-9-]/g, "") || "a"}`;
        try {
          headers.append(name, prng.chance(0.6) ? prng.pick(HEADER_VALUES) : headerText(prng, 200));
        } catch {
          // a value the Headers API refuses cannot be sent by any client either
        }
      }
      const body = method === "GET"
        ? undefined
        : prng.chance(0.5)
        ? "{}"
        : new Uint8Array(randomBytes(prng, prng.int(6000)));
      const bodySize = typeof body === "string" ? body.length : body?.length ?? 0;
      const before = authenticated;
      let res: Response;
      try {
        res = await app.fetch(
          new Request(`https://node.test${rule.sample}`, { method, headers, body }),
        );
      } catch (e) {
        assert.fail(`seed ${fuzzSeed()} request ${i}: ${method} ${rule.sample} threw ${e}`);
      }
      const text = await res.text();
      const where = `seed ${fuzzSeed()} request ${i}: ${method} ${rule.sample} auth=${
        JSON.stringify(auth.value?.slice(0, 120))
      } → ${res.status} ${text.slice(0, 160)}`;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      assert.notEqual(res.status, 500, where);
      // `/v1/health/leader` answers 503 with the health body on a non-leader, by design.
      if (res.status >= 400 && rule.path !== "/v1/health/leader") {
        const err = (JSON.parse(text) as { error?: { code?: unknown } }).error;
        assert.equal(typeof err?.code, "string", where);
      }
      if (authenticated > before) {
        const words = (auth.value ?? "").split(/[\s,]+/).filter((w) => w.length > 0);
        const ok = await Promise.all(words.map(verifies));
        assert.ok(ok.some((x) => x), `authenticated without a valid token: ${where}`);
      }
      if (
        auth.canonical && rule.access.kind === "action" && method === requestMethod(rule.method) &&
        bodySize <= 4096 // the body limit is checked before the token
      ) {
        const claims = JSON.parse(dec.decode(fromBase64Url(auth.canonical.split(".")[1])!)) as {
          role: string;
        };
        assert.notEqual(res.status, 401, where);
        assert.equal(res.status === 403, !authorize(claims.role, rule.access.action), where);
        canonicalChecked++;
      }
    }
    console.log(
      `http headers fuzz: ${total} requests, ${canonicalChecked} role decisions checked; statuses ` +
        JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0]))),
    );
    assert.ok(canonicalChecked > total / 20, "too few canonical-token requests");
    assert.ok((statuses.get(401) ?? 0) > total / 3, "too few refusals: the generator is broken");
  },
});
