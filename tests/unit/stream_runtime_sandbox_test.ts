/**
 * User operators run in permission-less Web Workers: files, network,
 * environment and subprocesses are out of reach; state snapshots round-trip;
 * a bad module or a hanging one fails with a typed error.
 */
import assert from "node:assert/strict";
import { SandboxedOperator } from "../../lib/stream/runtime/sandbox.ts";

const enc = new TextEncoder();
const THIS_FILE = new URL(import.meta.url).pathname;

Deno.test("sandbox: files, fetch, env and subprocesses all fail inside a user operator", async () => {
  // The host can do all of these (the test runs with -P), so a failure inside is the sandbox.
  assert.ok((await Deno.readTextFile(THIS_FILE)).length > 0);
  assert.ok(Deno.env.get("PATH") !== undefined);
  const src = `
    const results: Record<string, string> = {};
    async function probe(name: string, f: () => unknown) {
      try { await f(); results[name] = "allowed"; }
      catch (e) { results[name] = (e as Error).name; }
    }
    await probe("readTextFile", () => Deno.readTextFile(${JSON.stringify(THIS_FILE)}));
    await probe("fetch", () => fetch("https://127.0.0.1:8443/"));
    await probe("envGet", () => Deno.env.get("PATH"));
    await probe("command", () => new Deno.Command("true").output());
    await probe("importFile", () => import(${JSON.stringify("file://" + THIS_FILE)}));
    export function process() { return results; }
  `;
  const op = await SandboxedOperator.load(enc.encode(src), { name: "/apps/probe.ts" });
  try {
    const { out, errors } = await op.processBatch([{ x: 1 }]);
    assert.deepEqual(errors, []);
    const r = out[0];
    for (const k of ["readTextFile", "fetch", "envGet", "command"]) {
      assert.equal(r[k], "NotCapable", `${k} should be denied, got ${r[k]}`);
    }
    assert.notEqual(r.importFile, "allowed");
  } finally {
    op.close();
  }
});

Deno.test("sandbox: keyed state snapshots and restores; thrown records are reported", async () => {
  const src = `
    interface Ctx {
      state: { get(k: string): unknown; set(k: string, v: unknown): void };
      params: Record<string, string>;
    }
    export function process(r: { k: string }, ctx: Ctx) {
      if (r.k === "bad") throw new Error("bad record");
      const n = ((ctx.state.get(r.k) as number | undefined) ?? 0) + 1;
      ctx.state.set(r.k, n);
      return { k: r.k, n, who: ctx.params.who };
    }`;
  const a = await SandboxedOperator.load(enc.encode(src), {
    name: "/apps/count.ts",
    params: { who: "a" },
  });
  const b = await SandboxedOperator.load(enc.encode(src), {
    name: "/apps/count.ts",
    params: { who: "b" },
  });
  try {
    const r1 = await a.processBatch([{ k: "x" }, { k: "bad" }, { k: "x" }, { k: "y" }]);
    assert.deepEqual(r1.out.map((r) => r.n), [1, 2, 1]);
    assert.deepEqual(r1.errors, [{ index: 1, message: "bad record" }]);
    const snap = await a.snapshot();
    assert.deepEqual(snap, [["x", 2], ["y", 1]]);
    await b.restore(snap);
    const r2 = await b.processBatch([{ k: "x" }]);
    assert.deepEqual(r2.out, [{ k: "x", n: 3, who: "b" }]);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("sandbox: a module without process, and a hanging one, fail with typed errors", async () => {
  await assert.rejects(
    () => SandboxedOperator.load(enc.encode("export const x = 1;"), { name: "/apps/none.ts" }),
    (e: Error & { code?: string }) =>
      e.code === "stream_user_operator" && /process/.test(e.message),
  );
  const op = await SandboxedOperator.load(
    enc.encode("export function process() { for (;;) {} }"),
    { name: "/apps/spin.ts", timeoutMs: 300 },
  );
  await assert.rejects(
    () => op.processBatch([{ a: 1 }]),
    (e: Error & { code?: string }) => e.code === "stream_user_operator" && /300 ms/.test(e.message),
  );
  op.close();
});
