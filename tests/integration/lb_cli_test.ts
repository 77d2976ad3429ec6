import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TestBackend, testPki } from "../../lib/lb/testing.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function lbCommand(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-P", "main.ts", "lb", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

/** Reads lines from `stream` until one matches `re`; resolves with the match. */
async function waitForLine(
  reader: ReadableStreamDefaultReader<string>,
  re: RegExp,
  timeoutMs: number,
): Promise<RegExpExecArray> {
  let buf = "";
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const timer = new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now()));
    const next = await Promise.race([reader.read(), timer]);
    if (next === null) break;
    if (next.done) throw new Error(`process output ended without ${re}: ${buf}`);
    buf += next.value;
    const m = re.exec(buf);
    if (m) return m;
  }
  throw new Error(`no ${re} within ${timeoutMs} ms: ${buf}`);
}

Deno.test("lb cli: `elasticore lb` proxies to two backends and stops on SIGTERM", async () => {
  const { ca, certs } = await testPki(["lb", "b1", "b2"]);
  const dir = await Deno.makeTempDir();
  const kv = new Map<string, Uint8Array>();
  const b1 = TestBackend.start({ name: "b1", ...certs.b1, kv });
  const b2 = TestBackend.start({ name: "b2", ...certs.b2, kv, leader: true });
  const client = Deno.createHttpClient({ caCerts: [ca.certPem] });
  let child: Deno.ChildProcess | undefined;
  try {
    await Deno.writeTextFile(join(dir, "ca.pem"), ca.certPem);
    await Deno.writeTextFile(join(dir, "lb.pem"), certs.lb.certPem);
    await Deno.writeTextFile(join(dir, "lb-key.pem"), certs.lb.keyPem);
    child = lbCommand([
      "--listen",
      "127.0.0.1:0",
      "--backends",
      `${b1.url},${b2.url}`,
      "--ca",
      join(dir, "ca.pem"),
      "--cert",
      join(dir, "lb.pem"),
      "--key",
      join(dir, "lb-key.pem"),
      "--check-interval",
      "100ms",
      "--policy",
      "least-connections",
    ]).spawn();
    const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const m = await waitForLine(stdout, /elasticore lb listening on (https:\/\/\S+)/, 20_000);
    const url = m[1];

    const put = await fetch(`${url}/v1/kv/greeting`, { method: "PUT", body: "hi", client });
    assert.equal(put.status, 200);
    assert.equal(put.headers.get("x-elasticore-backend"), b2.url);
    await put.body?.cancel();
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const get = await fetch(`${url}/v1/kv/greeting`, { client });
      assert.equal(await get.text(), "hi");
      seen.add(get.headers.get("x-elasticore-backend")!);
    }
    assert.deepEqual([...seen].sort(), [b1.url, b2.url].sort());
    const status = await (await fetch(`${url}/lb/status`, { client })).json();
    assert.equal(status.leader, b2.url);
    assert.equal(status.policy, "least-connections");

    child.kill("SIGTERM");
    const code = (await child.status).code;
    assert.equal(code, 0);
    stdout.releaseLock();
    await child.stdout.cancel().catch(() => {});
    const stderr = await new Response(child.stderr).text();
    assert.match(stderr, /backend state changed backend=https:\/\/127\.0\.0\.1:\d+ what=leader/);
    child = undefined;
  } finally {
    if (child) {
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
    }
    client.close();
    await b1.stop();
    await b2.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lb cli: a missing option is one clear error line", async () => {
  const out = await lbCommand(["--backends", "https://127.0.0.1:1"]).output();
  assert.equal(out.code, 1);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.match(stderr, /^error\[lb_missing_option\]: --ca is required/m);
});
