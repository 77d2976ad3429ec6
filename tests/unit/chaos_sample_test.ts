import assert from "node:assert/strict";
import { procSample } from "../../scripts/chaos/cluster.ts";

Deno.test("chaos: a process's RSS and open descriptors are sampled under the project's permissions", async () => {
  const s = await procSample(Deno.pid);
  assert.ok(s.rssKiB > 10_000, `rss ${s.rssKiB} KiB`);
  assert.ok(s.fds >= 3, `fds ${s.fds}`);
  await assert.rejects(procSample(2 ** 22 + 12345));
});
