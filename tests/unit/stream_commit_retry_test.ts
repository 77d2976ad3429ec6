import assert from "node:assert/strict";
import { isTransientFsError, retryTransient } from "../../lib/stream/runtime/commit.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { TransportError } from "../../lib/transport/errors.ts";

Deno.test("commit retries: peers that failed, were unavailable or timed out are transient", () => {
  assert.ok(isTransientFsError(new TransportError("deadline_exceeded", "call to m1 exceeded")));
  assert.ok(isTransientFsError(new TransportError("peer_unavailable", "w2 is unreachable")));
  assert.ok(
    isTransientFsError(
      new TransportError("remote_error", "m2 failed: [dfs_size_mismatch] got 1 of 2 bytes", {
        remoteCode: "dfs_size_mismatch",
      }),
    ),
  );
  assert.ok(isTransientFsError(new ElasticoreError("dfs_no_quorum", "x", { status: 503 })));
  assert.ok(isTransientFsError(new Error("block b.0: dfs_size_mismatch")));
  assert.ok(!isTransientFsError(new ElasticoreError("fs_not_found", "no file", { status: 404 })));
  assert.ok(!isTransientFsError(new ElasticoreError("job_invalid", "bad", { status: 400 })));
});

Deno.test("retryTransient retries a timed-out call and gives up on a permanent error", async () => {
  let n = 0;
  const v = await retryTransient(() => {
    n++;
    if (n < 3) throw new TransportError("deadline_exceeded", "call to m1 exceeded its deadline");
    return Promise.resolve(42);
  }, { firstDelayMs: 1 });
  assert.equal(v, 42);
  assert.equal(n, 3);
  let m = 0;
  await assert.rejects(
    retryTransient(() => {
      m++;
      throw new ElasticoreError("fs_not_found", "gone", { status: 404 });
    }, { firstDelayMs: 1 }),
    /gone/,
  );
  assert.equal(m, 1);
});
