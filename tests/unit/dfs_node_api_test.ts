import assert from "node:assert/strict";
import { Command } from "commander";
import { createApiApp } from "../../lib/api/app.ts";
import type { Principal } from "../../lib/api/auth.ts";
import { fsRoutes, parseRange } from "../../lib/api/fs_routes.ts";
import { ApiClient } from "../../lib/cli/client.ts";
import { progressLine, registerFs } from "../../lib/cli/fs.ts";
import { FsClient } from "../../lib/dfs/client.ts";
import { DfsTestCluster } from "../../lib/dfs/node_testing.ts";
import { ElasticoreError } from "../../lib/errors.ts";

const TOKENS: Record<string, Principal> = {
  "tok-admin": { subject: "alice", role: "admin" },
  "tok-reader": { subject: "bob", role: "reader" },
};

function content(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let x = seed || 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function appFor(c: DfsTestCluster, id: string) {
  return createApiApp({
    verify: (t) => {
      const p = TOKENS[t];
      if (!p) return Promise.reject(new ElasticoreError("token_invalid", "bad", { status: 401 }));
      return Promise.resolve(p);
    },
    metrics: c.nodes.get(id)!.metrics,
    health: () => ({ node: id, status: "ok", roles: ["worker"], version: "test" }),
    isLeader: () => false,
    maxBodyBytes: 64 << 20,
    modules: [fsRoutes(() => c.node(id))],
  });
}

Deno.test("fs routes: parseRange", () => {
  assert.deepEqual(parseRange("bytes=0-9", 100), { offset: 0, length: 10 });
  assert.deepEqual(parseRange("bytes=90-", 100), { offset: 90, length: 10 });
  assert.deepEqual(parseRange("bytes=-5", 100), { offset: 95, length: 5 });
  assert.deepEqual(parseRange("bytes=95-200", 100), { offset: 95, length: 5 });
  assert.equal(parseRange(undefined, 100), undefined);
  for (const bad of ["bytes=100-", "bytes=5-2", "items=0-1", "bytes=-", "bytes=-0"]) {
    assert.throws(() => parseRange(bad, 100), (e: ElasticoreError) => e.status === 416);
  }
  assert.match(progressLine(512, 1024, 1000), /\[#{15}\.{15}\]\s+50% 512 B \/ 1\.0 KiB/);
});

Deno.test("fs routes: the HTTP API over a 3-node DFS", async () => {
  const c = await DfsTestCluster.start({ ids: ["a1", "a2", "a3"], blockBytes: 32 * 1024 });
  try {
    await c.settled();
    const app = appFor(c, "a1");
    const app2 = appFor(c, "a2");
    const auth = { authorization: "Bearer tok-admin" };
    const data = content(100_000, 11);
    let res = await app.request("/v1/fs/dir/f.bin", { method: "PUT", headers: auth, body: data });
    assert.equal(res.status, 201);
    assert.equal((await res.json()).size, 100_000);
    res = await app2.request("/v1/fs/dir/f.bin", { method: "PUT", headers: auth, body: data });
    assert.equal(res.status, 409);
    assert.equal((await res.json()).error.code, "fs_exists");
    res = await app2.request("/v1/fs/dir/f.bin?overwrite=true", {
      method: "PUT",
      headers: auth,
      body: data.subarray(0, 90_000),
    });
    assert.equal(res.status, 201);
    assert.equal((await res.json()).version, 2);

    res = await app.request("/v1/fs/dir/f.bin", { headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), "90000");
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), data.subarray(0, 90_000));
    res = await app.request("/v1/fs/dir/f.bin", {
      headers: { ...auth, range: "bytes=30000-70000" },
    });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get("content-range"), "bytes 30000-70000/90000");
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), data.subarray(30_000, 70_001));
    res = await app.request("/v1/fs/dir/f.bin", { headers: { ...auth, range: "bytes=95000-" } });
    assert.equal(res.status, 416);
    await res.body?.cancel();

    // Reader may read, not write.
    const reader = { authorization: "Bearer tok-reader" };
    res = await app.request("/v1/fs/dir/f.bin?stat", { headers: reader });
    assert.equal((await res.json()).size, 90_000);
    res = await app.request("/v1/fs/dir/x", { method: "PUT", headers: reader, body: "x" });
    assert.equal(res.status, 403);
    await res.body?.cancel();

    // Invalid paths are 400 fs_invalid_path; missing files 404 fs_not_found.
    for (const bad of ["/v1/fs/a%2F..%2Fb", "/v1/fs/a/%01", "/v1/fs/a//b", "/v1/fs/%ZZ"]) {
      res = await app.request(bad, { method: "PUT", headers: auth, body: "x" });
      assert.equal(res.status, 400, bad);
      assert.equal((await res.json()).error.code, "fs_invalid_path");
    }
    res = await app.request("/v1/fs/nope", { headers: auth });
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error.code, "fs_not_found");

    // Append, merge, ls, rm.
    for (let i = 0; i < 3; i++) {
      res = await app2.request("/v1/fs/log?append", {
        method: "PUT",
        headers: auth,
        body: `r${i}\n`,
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    res = await app.request("/v1/fs/log?merge", { method: "POST", headers: auth });
    assert.equal((await res.json()).pieces, 0);
    res = await app.request("/v1/fs/log", { headers: auth });
    assert.equal(await res.text(), "r0\nr1\nr2\n");
    res = await app.request("/v1/fs?prefix=/", { headers: auth });
    assert.deepEqual((await res.json()).files.map((f: { path: string }) => f.path), [
      "/dir/f.bin",
      "/log",
    ]);
    res = await app.request("/v1/fs/log", { method: "DELETE", headers: auth });
    assert.equal((await res.json()).deleted, true);
    res = await app.request("/v1/fs/log?stat", { headers: auth });
    assert.equal(res.status, 404);
    await res.body?.cancel();

    // The HTTP client and the CLI against a real server.
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      app.fetch,
    );
    try {
      const url = `http://127.0.0.1:${server.addr.port}`;
      const fs = new FsClient(new ApiClient([url], "tok-admin", undefined));
      const body = new Blob([data]).stream();
      assert.equal((await fs.put("/c/streamed", body)).size, data.length);
      const d = await fs.get("/c/streamed", { start: 10, end: 19 });
      assert.deepEqual(
        new Uint8Array(await new Response(d.body).arrayBuffer()),
        data.subarray(10, 20),
      );
      await assert.rejects(fs.stat("/c/none"), (e: ElasticoreError) => e.code === "fs_not_found");
      await assert.rejects(
        fs.put("/c/streamed", data),
        (e: ElasticoreError) => e.code === "fs_exists" && e.status === 409,
      );

      const dir = await Deno.makeTempDir();
      try {
        const local = `${dir}/in.bin`;
        await Deno.writeFile(local, data.subarray(0, 5000));
        const program = new Command("elasticore").exitOverride();
        registerFs(program);
        const common = ["--api", url, "--token", "tok-admin", "--json"];
        await program.parseAsync(["fs", "put", local, "/cli/x", ...common], { from: "user" });
        await program.parseAsync(["fs", "get", "/cli/x", `${dir}/out.bin`, ...common], {
          from: "user",
        });
        assert.deepEqual(await Deno.readFile(`${dir}/out.bin`), data.subarray(0, 5000));
        assert.equal((await fs.stat("/cli/x")).size, 5000);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    } finally {
      await server.shutdown();
    }
  } finally {
    await c.close();
  }
});
