import assert from "node:assert/strict";
import { join } from "node:path";
import { DevCluster } from "../../lib/cli/dev_cluster.ts";

Deno.test("dev: workers that never join are named, with their state and the end of their log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ec-dev-missing-" });
  try {
    const c = new DevCluster({ masters: 1, workers: 3, dir, portBase: 30000, transport: "tcp" });
    const lines = Array.from({ length: 8 }, (_, i) => `line ${i + 1}`).join("\n");
    await Deno.writeTextFile(join(dir, "w2.out"), lines + "\n");
    const client = {
      json: <T>() =>
        Promise.resolve({
          members: [
            { id: "m1", state: "alive" },
            { id: "w1", state: "alive" },
            { id: "w2", state: "suspect" },
          ],
        } as T),
    };
    await assert.rejects(c.waitForWorkers(client, 300), (e: Error) => {
      assert.match(e.message, /^workers did not all join within 300 ms: w2 \(suspect; /);
      assert.match(e.message, /w2\.out, ending:\n {4}line 4\n {4}line 5\n[^]*line 8\)/);
      assert.doesNotMatch(e.message, /line 3/);
      assert.match(e.message, /; w3 \(not a member; .*w3\.out\)$/);
      assert.doesNotMatch(e.message, /w1 \(/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dev: a cluster view that never answers is named with its last error; a node log tail stands in for empty stderr", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ec-dev-missing-" });
  try {
    const c = new DevCluster({ masters: 1, workers: 1, dir, portBase: 30000, transport: "tcp" });
    await Deno.mkdir(join(dir, "data", "w1", "logs"), { recursive: true });
    await Deno.writeTextFile(join(dir, "w1.out"), "Warning Permissions in the config file\n");
    await Deno.writeTextFile(
      join(dir, "data", "w1", "logs", "node.jsonl"),
      '{"msg":"joining"}\n{"msg":"still joining"}\n',
    );
    const timeouts: (number | undefined)[] = [];
    const client = {
      json: <T>(r: { timeoutMs?: number }): Promise<T> => {
        timeouts.push(r.timeoutMs);
        return Promise.reject(new Error("request timed out after 5000 ms"));
      },
    };
    await assert.rejects(c.waitForWorkers(client, 300), (e: Error) => {
      assert.match(e.message, /w1 \(not a member; .*w1\.out, ending:\n {4}\{"msg":"joining"\}/);
      assert.match(e.message, /still joining/);
      assert.match(e.message, /the cluster view was never read \(last error: request timed out/);
      return true;
    });
    assert.ok(timeouts.length > 0 && timeouts.every((t) => t === 5_000), String(timeouts));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
