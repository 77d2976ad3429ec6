import assert from "node:assert/strict";
import {
  commitManifest,
  isTransientFsError,
  type Manifest,
  metaKeys,
  retryTransient,
} from "../../lib/stream/runtime/commit.ts";
import { LocalDirFs } from "../../lib/stream/runtime/fs.ts";
import { MemoryMetaStore } from "../../lib/stream/runtime/meta.ts";
import { validateJobSpec } from "../../lib/stream/spec.ts";
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

/** Checkpoint 1's manifest with one staged file of sink task s0.0: `/st/1`, 10 bytes. */
function oneFileManifest(): Manifest {
  return {
    id: 1,
    at: new Date().toISOString(),
    durationMs: 1,
    states: {},
    offsets: {},
    staged: { "s0.0": [{ id: 1, path: "/st/1", bytes: 10 }] },
  };
}

/**
 * A {@link MemoryMetaStore} whose first write of `key` times out with its outcome unknown and
 * lands later, just before the next write of that key (a Raft proposal committed after its
 * waiter gave up, e.g. across a leader change).
 */
class LateLandingMeta extends MemoryMetaStore {
  #late: (() => Promise<number>) | undefined;
  #armed = true;
  constructor(readonly key: string) {
    super();
  }
  override async put(key: string, value: unknown, cas?: number): Promise<number> {
    if (key === this.key && this.#armed) {
      this.#armed = false;
      this.#late = () => super.put(key, value, cas);
      throw new ElasticoreError("proposal_timeout", "entry 9: outcome unknown", { status: 504 });
    }
    if (key === this.key && this.#late) {
      const land = this.#late;
      this.#late = undefined;
      await land();
    }
    return await super.put(key, value, cas);
  }
}

Deno.test("a commit whose record write lands late starts over instead of failing (CHAOS-4)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fs = new LocalDirFs(dir);
    const meta = new LateLandingMeta(metaKeys.sink("j"));
    const spec = validateJobSpec({
      name: "late",
      source: { kind: "lines", path: "/in" },
      stages: [{ op: "select", columns: ["a"] }],
      sink: { kind: "dfs", path: "/out.ndjson" },
    });
    const enc = new TextEncoder();
    await fs.write("/st/1", enc.encode('{"a":"1"}\n'));
    const m = oneFileManifest();
    // As the job driver runs it: the 504 is transient, so the commit is tried again; its
    // compare-and-set then meets the record moved by the late first write.
    await retryTransient(() => commitManifest(fs, meta, "j", spec, m), { firstDelayMs: 1 });
    assert.equal(new TextDecoder().decode(await fs.read("/out.ndjson")), '{"a":"1"}\n');
    assert.deepEqual((await meta.get(metaKeys.sink("j")))?.value, { committed: 1, bytes: 10 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stale committer cannot append the output again (CHAOS-7)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fs = new LocalDirFs(dir);
    const meta = new MemoryMetaStore();
    const spec = validateJobSpec({
      name: "zombie",
      source: { kind: "lines", path: "/in" },
      stages: [{ op: "select", columns: ["a"] }],
      sink: { kind: "dfs", path: "/out.ndjson" },
    });
    await fs.write("/st/1", new TextEncoder().encode('{"a":"1"}\n'));
    const m = oneFileManifest();
    // The new leader's driver commits. A previous leader's driver read the record and the
    // output's size before that (0 bytes) and appends only now.
    await commitManifest(fs, meta, "j", spec, m);
    let stale = true;
    const staleFs = Object.assign(Object.create(null), {
      size: (p: string) => {
        if (stale && p === "/out.ndjson") {
          stale = false;
          return Promise.resolve(0);
        }
        return fs.size(p);
      },
      readRange: (p: string, off: number, len: number) => fs.readRange(p, off, len),
      read: (p: string) => fs.read(p),
      write: (p: string, b: Uint8Array, o?: { overwrite?: boolean }) => fs.write(p, b, o),
      append: (p: string, b: Uint8Array, o?: { expectSize?: number }) => fs.append(p, b, o),
      exists: (p: string) => fs.exists(p),
      list: (p: string) => fs.list(p),
      delete: (p: string) => fs.delete(p),
    });
    const staleMeta = new MemoryMetaStore();
    await staleMeta.put(metaKeys.sink("j"), { committed: 0, bytes: 0 }, 0);
    let first = true;
    const zombieMeta = Object.assign(Object.create(null), {
      get: (
        k: string,
      ) => (first && k === metaKeys.sink("j") ? (first = false, staleMeta.get(k)) : meta.get(k)),
      put: (k: string, v: unknown, cas?: number) => meta.put(k, v, cas),
      list: (p: string) => meta.list(p),
      delete: (k: string) => meta.delete(k),
    });
    await commitManifest(staleFs, zombieMeta, "j", spec, m);
    assert.equal(new TextDecoder().decode(await fs.read("/out.ndjson")), '{"a":"1"}\n');
    assert.deepEqual((await meta.get(metaKeys.sink("j")))?.value, { committed: 1, bytes: 10 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
