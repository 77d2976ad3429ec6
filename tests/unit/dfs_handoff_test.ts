/**
 * A node leaving for good hands its metadata records to the owners that replace it
 * (`lib/dfs/node_handoff.ts`), and the others drop it from the quorum owners at once, so
 * one more failure among its keys' owners still leaves a majority (the CI failure of
 * 608807a: w1 left, w2 was killed, checkpoint paths owned by both stalled for the grace
 * period). A hand-off that misses a majority of some record's new owners tells nobody.
 *
 * Six in-process nodes, RF 3; the path's ring order is s0 .. s5.
 */
import assert from "node:assert/strict";
import { withSixNodes } from "../../lib/dfs/node_testing.ts";
import { codeOf } from "../../lib/dfs/node_errors.ts";
import { metadataKey } from "../../lib/dfs/ring/id.ts";
import { handoffLine } from "../../lib/cli/node.ts";
import type { FileMeta } from "../../lib/dfs/file_meta.ts";
import { handOffRecords, type HandoffTarget } from "../../lib/dfs/node_handoff.ts";

const enc = new TextEncoder();

Deno.test("dfs hand-off: after a node leaves, a second owner may die and its keys still take changes", async () => {
  const path = "/handoff/log";
  const key = metadataKey(path);
  await withSixNodes(path, async (c, s, text) => {
    await c.node(s[0]).append(path, enc.encode("a\n"));
    // Other files spread over the ring: every record s1 holds is handed off.
    const others = Array.from({ length: 12 }, (_, i) => `/handoff/other-${i}`);
    for (const p of others) await c.node(s[0]).append(p, enc.encode(`${p}\n`));
    const held = (await c.node(s[1]).store.listMeta("", 1000)).length;

    const stats = await c.node(s[1]).decommission();
    assert.deepEqual(stats.failed, []);
    assert.equal(stats.records, held);
    assert.equal(stats.announced, 5, "every other member was told");
    assert.equal(stats.stored + stats.alreadyThere >= 2 * held, true, JSON.stringify(stats));
    assert.match(handoffLine({ ...stats }), /5 members dropped it/);
    for (const id of c.nodes.keys()) {
      if (id === s[1]) continue;
      assert.deepEqual(c.node(id).quorumOwners(key), [s[0], s[2], s[3]], `owners seen by ${id}`);
    }
    // The leaving node refuses metadata requests: callers fall back.
    assert.equal(codeOf(await c.node(s[1]).localMeta(path).catch((e) => e)), "dfs_leaving");

    await c.kill(s[1]); // it stops (SWIM "left" follows the notice)
    await c.kill(s[2]); // a crash: s2 stays an owner for the grace period
    await c.node(s[0]).append(path, enc.encode("b\n")); // s0 and s3: a majority of s0 s2 s3
    for (const id of c.nodes.keys()) assert.equal(await text(id), "a\nb\n", `read through ${id}`);
    for (const p of others) {
      await c.node(s[3]).append(p, enc.encode("more\n"));
      assert.equal(await text(s[4], p), `${p}\nmore\n`, `${p} through ${s[4]}`);
    }
  });
});

Deno.test("dfs hand-off: a record short of a majority of its new owners tells nobody; writes fall back meanwhile", async () => {
  const path = "/handoff/short";
  const key = metadataKey(path);
  await withSixNodes(path, async (c, s, text) => {
    await c.node(s[0]).append(path, enc.encode("a\n"));
    // Another path owned by s1 s2 s3: without s1 its owners are s2 s3 s4.
    let other = "";
    for (let i = 0; other === ""; i++) {
      const p = `/handoff/q-${i}`;
      if (c.node(s[0]).quorumOwners(metadataKey(p))[0] === s[1]) other = p;
    }
    await c.node(s[0]).append(other, enc.encode("q\n"));
    // s3 and s4 crash: the other path's copy reaches one of its three replacements.
    await c.kill(s[3]);
    await c.kill(s[4]);
    const stats = await c.node(s[1]).decommission(5000);
    assert.deepEqual(stats.failed, [other], JSON.stringify(stats));
    assert.equal(stats.announced, 0);
    assert.match(handoffLine({ ...stats }), /treat it as crashed/);
    for (const id of c.nodes.keys()) {
      if (id !== s[1]) assert.deepEqual(c.node(id).quorumOwners(key), s.slice(0, 3));
    }
    // s1 still runs but refuses (dfs_leaving): the append falls back past it and reaches
    // s0 and s2, two of the unchanged owners.
    await c.node(s[0]).append(path, enc.encode("b\n"));
    assert.equal(await text(s[5]), "a\nb\n");
    // Once s1 is gone and s2 dies too, nothing is acknowledged: one owner of three.
    await c.kill(s[1]);
    await c.kill(s[2]);
    const err = await c.node(s[0]).append(path, enc.encode("c\n")).then(() => null, (e) => e);
    assert.equal(codeOf(err), "dfs_unavailable", String(err));
  });
});

Deno.test("dfs hand-off: copies go to live replacements, with retries, until the deadline", async () => {
  const rec = (path: string) => ({ path }) as FileMeta;
  const tries = new Map<string, number>();
  const target = (flaky: Set<string>, dead: Set<string>): HandoffTarget => ({
    replacements: (r) => r.path === "/a" ? ["x", "y", "z"] : ["y", "z", "w"],
    isDead: (p) => dead.has(p),
    put: (p, r) => {
      const k = `${p}${r.path}`;
      tries.set(k, (tries.get(k) ?? 0) + 1);
      if (flaky.has(p) && tries.get(k)! < 3) return Promise.reject(new Error("reset"));
      return Promise.resolve(p !== "z");
    },
  });
  // y fails twice per copy, then takes it; z already holds both; w is dead.
  const ok = await handOffRecords([rec("/a"), rec("/b")], target(new Set(["y"]), new Set(["w"])), {
    deadline: Date.now() + 10_000,
  });
  assert.deepEqual(ok.failed, []);
  assert.equal(ok.stored, 3); // x and y for /a, y for /b
  assert.equal(ok.alreadyThere, 2);
  assert.equal(tries.get("w/b"), undefined, "a dead replacement is not asked");
  assert.equal(tries.get("y/a"), 3);
  // With y failing every time and one attempt: /a keeps x and z (a majority), /b only z.
  tries.clear();
  const short = await handOffRecords(
    [rec("/a"), rec("/b")],
    target(new Set(["y"]), new Set(["w"])),
    { deadline: Date.now() + 10_000, attempts: 1 },
  );
  assert.deepEqual(short.failed, ["/b"]);
  // Past the deadline nothing is offered: every record is short.
  const late = await handOffRecords([rec("/a")], target(new Set(), new Set()), {
    deadline: Date.now() - 1,
  });
  assert.deepEqual(late.failed, ["/a"]);
});
