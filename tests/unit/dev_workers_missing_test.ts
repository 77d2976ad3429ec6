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
