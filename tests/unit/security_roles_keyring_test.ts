import assert from "node:assert/strict";
import {
  ACTIONS,
  authorize,
  parseRole,
  requirePermission,
  ROLES,
} from "../../lib/security/roles.ts";
import {
  formatKeyring,
  generateGossipKey,
  generateKeyring,
  installKey,
  parseKeyring,
  primaryKey,
  readKeyringFile,
  removeKey,
  useKey,
  writeKeyringFile,
} from "../../lib/security/keyring.ts";
import { ElasticoreError } from "../../lib/errors.ts";

Deno.test("roles: the permission table", () => {
  const allowed = (role: string) => ACTIONS.filter((a) => authorize(role, a)).sort();
  assert.deepEqual(allowed("reader"), [
    "cluster:read",
    "fs:read",
    "job:read",
    "kv:read",
    "logs:read",
  ]);
  assert.deepEqual(allowed("operator"), [
    "cluster:read",
    "fs:read",
    "fs:write",
    "job:read",
    "job:write",
    "kv:read",
    "kv:write",
    "logs:read",
  ]);
  assert.deepEqual(allowed("admin"), [...ACTIONS].sort());
  assert.equal(authorize("operator", "cluster:admin"), false);
  assert.equal(authorize("operator", "token:create"), false);
  assert.equal(authorize("root", "kv:read"), false);
  assert.equal(authorize("admin", "kv:delete"), false);
  assert.equal(authorize("__proto__", "kv:read"), false);
  assert.deepEqual([...ROLES], ["reader", "operator", "admin"]);
});

Deno.test("roles: requirePermission and parseRole give typed errors", () => {
  requirePermission("admin", "cluster:admin");
  assert.throws(
    () => requirePermission("reader", "kv:write"),
    (e: unknown) => e instanceof ElasticoreError && e.code === "forbidden" && e.status === 403,
  );
  assert.equal(parseRole("reader"), "reader");
  assert.throws(() => parseRole("superuser"), /unknown role "superuser"/);
});

Deno.test("keyring: format/parse round-trip with comments and blank lines", () => {
  const ring = { keys: [generateGossipKey(), generateGossipKey()] };
  const text = formatKeyring(ring);
  assert.match(text, /^# /);
  const parsed = parseKeyring(`\n# extra comment\n${text}\n\n`);
  assert.deepEqual(parsed.keys, ring.keys);
  assert.deepEqual(primaryKey(parsed), ring.keys[0]);
  assert.equal(generateKeyring().keys.length, 1);
});

Deno.test("keyring: errors name the line", () => {
  const k1 = generateGossipKey().toBase64();
  const short = new Uint8Array(16).toBase64();
  assert.throws(
    () => parseKeyring(`# c\n${k1}\nnot-base64!\n`, "ring"),
    /ring line 3: key is not valid base64/,
  );
  assert.throws(
    () => parseKeyring(`${k1}\n${short}\n`, "ring"),
    /ring line 2: key is 16 bytes, need 32/,
  );
  assert.throws(
    () => parseKeyring(`${k1}\n\n${k1}\n`, "ring"),
    /ring line 3: duplicate of the key on line 1/,
  );
  assert.throws(() => parseKeyring("# only a comment\n", "ring"), /ring: holds no keys/);
  assert.throws(() => parseKeyring(`${k1.slice(0, -1)}\n`), /line 1: key is not valid base64/);
});

Deno.test("keyring: rotation install, use, remove", () => {
  const a = generateGossipKey();
  const b = generateGossipKey();
  let ring = { keys: [a] };
  ring = installKey(ring, b);
  assert.deepEqual(ring.keys, [a, b]);
  assert.equal(installKey(ring, b), ring);
  ring = useKey(ring, b);
  assert.deepEqual(primaryKey(ring), b);
  assert.throws(() => removeKey(ring, b), /primary/);
  ring = removeKey(ring, a);
  assert.deepEqual(ring.keys, [b]);
  assert.throws(() => useKey(ring, a), /not in the keyring/);
  assert.throws(() => installKey(ring, new Uint8Array(8)), /8 bytes/);
});

Deno.test("keyring: file write is 0600 and reads back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/gossip.keyring`;
    const ring = generateKeyring();
    await writeKeyringFile(path, ring);
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual((await readKeyringFile(path)).keys, ring.keys);
    await Deno.writeTextFile(path, "garbage\n");
    await assert.rejects(readKeyringFile(path), new RegExp(`${path} line 1`));
    await assert.rejects(readKeyringFile(`${dir}/none`), /does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
