import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import {
  decodeKvCommand,
  encodeKvCommand,
  type KvCommand,
  KvCommandError,
  KvStateMachine,
} from "../../lib/raft/kv_state.ts";

const v = (s: string) => new TextEncoder().encode(s);
const put = (key: string, value: string, cas?: number): Uint8Array =>
  encodeKvCommand(
    cas === undefined ? { op: "put", key, value: v(value) } : {
      op: "put",
      key,
      value: v(value),
      cas,
    },
  );
const del = (key: string, cas?: number): Uint8Array =>
  encodeKvCommand(cas === undefined ? { op: "delete", key } : { op: "delete", key, cas });

Deno.test("kv state: versions are the Raft index of the last write; cas guards writes", () => {
  const kv = new KvStateMachine();
  assert.deepEqual(kv.apply(3, put("a", "1", 0)), { ok: true, version: 3, existed: false });
  assert.deepEqual(kv.apply(4, put("a", "2", 0)), { ok: false, code: "cas_mismatch", version: 3 });
  assert.deepEqual(kv.get("a"), { value: v("1"), version: 3 });
  assert.deepEqual(kv.apply(5, put("a", "3", 3)), { ok: true, version: 5, existed: true });
  assert.deepEqual(kv.apply(6, put("a", "4")), { ok: true, version: 6, existed: true });
  assert.deepEqual(kv.apply(7, del("a", 5)), { ok: false, code: "cas_mismatch", version: 6 });
  assert.deepEqual(kv.apply(8, del("a", 6)), { ok: true, version: 8, existed: true });
  assert.equal(kv.get("a"), undefined);
  assert.deepEqual(kv.apply(9, del("a")), { ok: true, version: 9, existed: false });
  assert.deepEqual(kv.apply(10, put("a", "5", 0)), { ok: true, version: 10, existed: false });
  assert.equal(kv.apply(11, new Uint8Array(0)), undefined, "an empty entry is a no-op");
  assert.equal(kv.applied, 11);
  assert.throws(() => kv.apply(11, put("b", "x")), KvCommandError, "applied out of order");
});

Deno.test("kv state: replicas applying the same commands agree, snapshots round-trip", () => {
  const cmds = [put("x/1", "a"), put("x/2", "b"), put("y", "c"), del("x/1"), put("x/3", "d", 0)];
  const a = new KvStateMachine();
  const b = new KvStateMachine();
  cmds.forEach((c, i) => a.apply(i + 1, c));
  cmds.forEach((c, i) => b.apply(i + 1, c));
  assert.deepEqual(a.snapshot(), b.snapshot(), "deterministic, byte-identical snapshots");
  assert.deepEqual(a.list("x/").map(([k, it]) => [k, it.version]), [["x/2", 2], ["x/3", 5]]);
  assert.deepEqual(a.list("", 1).map(([k]) => k), ["x/2"]);
  const c = new KvStateMachine();
  c.restore(a.snapshot());
  assert.equal(c.applied, 5);
  assert.equal(c.size, 3);
  assert.deepEqual(c.get("y"), { value: v("c"), version: 3 });
  assert.deepEqual(c.apply(6, put("y", "z", 3)), { ok: true, version: 6, existed: true });
  assert.throws(() => c.restore(encode({ applied: -1, items: [] })), /malformed kv snapshot/);
});

Deno.test("kv commands: decoding validates and names what is wrong", () => {
  const cmd: KvCommand = { op: "put", key: "k", value: v("x"), cas: 4, id: "r1" };
  assert.deepEqual(decodeKvCommand(encodeKvCommand(cmd)), cmd);
  assert.throws(() => decodeKvCommand(new Uint8Array([0xc1])), /not valid msgpack/);
  assert.throws(() => decodeKvCommand(encode({ op: "get", key: "k" })), /unknown op "get"/);
  assert.throws(() => decodeKvCommand(encode({ op: "put", key: "k" })), /value: missing/);
  assert.throws(
    () => decodeKvCommand(encode({ op: "delete", key: "k", cas: -1 })),
    (e: unknown) =>
      e instanceof KvCommandError && e.code === "bad_kv_command" && /cas/.test(e.message),
  );
  assert.throws(
    () => decodeKvCommand(encode({ op: "delete", key: "k", extra: 1 })),
    /unknown field/,
  );
});
