import assert from "node:assert/strict";
import { NODE_MALLOC_TUNABLES, withMallocTunables } from "../../lib/cli/dev_cluster.ts";

Deno.test("malloc tunables: the systemd unit runs nodes with the same glibc settings", async () => {
  const unit = await Deno.readTextFile(
    new URL("../../scripts/systemd/elasticore.service", import.meta.url),
  );
  const lines = unit.split("\n").filter((l) => l.startsWith("Environment=GLIBC_TUNABLES="));
  assert.deepEqual(lines, [`Environment=GLIBC_TUNABLES=${NODE_MALLOC_TUNABLES}`]);
});

Deno.test("malloc tunables: added to a node's environment unless it sets its own", () => {
  assert.deepEqual(withMallocTunables({ A: "1" }), {
    A: "1",
    GLIBC_TUNABLES: NODE_MALLOC_TUNABLES,
  });
  const own = { GLIBC_TUNABLES: "glibc.malloc.arena_max=2" };
  assert.deepEqual(withMallocTunables(own), own);
});
