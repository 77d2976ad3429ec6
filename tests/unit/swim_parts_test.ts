import assert from "node:assert/strict";
import { decodeFrame, encodeFrame, FrameKind, MessageRegistry } from "../../proto/codec.ts";
import { swimMessages, type Update, updateSizeBound } from "../../proto/swim.ts";
import { BroadcastQueue } from "../../lib/swim/broadcast.ts";
import {
  DEFAULT_SWIM_CONFIG,
  pushPullIntervalMs,
  retransmitLimit,
  swimConfigFromSection,
} from "../../lib/swim/config.ts";
import { IndexedSet } from "../../lib/swim/members.ts";
import { ProbeScheduler } from "../../lib/swim/probe.ts";
import { suspicionTimeoutMs } from "../../lib/swim/suspicion.ts";
import { Deadlines } from "../../lib/swim/timers.ts";
import { ElasticoreError } from "../../lib/errors.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { makeNode, sends, tickTo } from "../../lib/swim/harness.ts";

const alive = (id: string, inc = 0): Update => ({
  t: "alive",
  id,
  inc,
  addr: `${id}:7401`,
  meta: { roles: "worker" },
});

Deno.test("broadcast queue: least transmitted first, newest first, replaced per member, limited", () => {
  const q = new BroadcastQueue(100);
  q.enqueue(alive("a"));
  q.enqueue(alive("b"));
  assert.deepEqual(q.take(10000, 3, 1).map((u) => u.id), ["b"]);
  assert.deepEqual(q.take(10000, 3, 1).map((u) => u.id), ["a"]);
  q.enqueue(alive("c"));
  assert.deepEqual(q.take(10000, 3).map((u) => u.id), ["c", "b", "a"]);
  // A newer update about a member replaces the queued one (and restarts its count).
  q.enqueue({ t: "suspect", id: "a", inc: 0, from: "x" });
  assert.equal(q.pending("a")?.t, "suspect");
  assert.equal(q.size, 3);
  for (let i = 0; i < 5; i++) q.take(10000, 3);
  assert.equal(q.size, 0, "each update is sent `limit` times");
});

Deno.test("broadcast queue: packs into the byte budget and bounds its length", () => {
  const q = new BroadcastQueue(10);
  for (let i = 0; i < 20; i++) q.enqueue(alive(`n${i}`));
  assert.equal(q.size, 10);
  const one = updateSizeBound(alive("n10"));
  const got = q.take(one * 3 + 1, 5);
  assert.equal(got.length, 3);
  assert.ok(got.reduce((s, u) => s + updateSizeBound(u), 0) <= one * 3 + 1);
});

Deno.test("update size bound is never below the encoded size", () => {
  const reg = new MessageRegistry().register(swimMessages);
  const updates: Update[] = [
    alive("node-ü-1", 123456789),
    { t: "suspect", id: "x", inc: 2 ** 40, from: "ĳ".repeat(60) },
    { t: "dead", id: "d", inc: 0, from: "e" },
    { t: "left", id: "l", inc: 9 },
    {
      t: "alive",
      id: "m",
      inc: 1,
      addr: "[::1]:7401",
      meta: { roles: "master,worker", dfs_capacity: 2 ** 50, version: "0.1.0", e: "😀" },
    },
  ];
  for (const u of updates) {
    const frame = encodeFrame({
      kind: FrameKind.Message,
      id: 0,
      type: "swim.gossip",
      body: { from: "", gossip: [u] },
    });
    const empty = encodeFrame({
      kind: FrameKind.Message,
      id: 0,
      type: "swim.gossip",
      body: { from: "", gossip: [] },
    });
    assert.ok(frame.byteLength - empty.byteLength <= updateSizeBound(u), `bound for ${u.t}`);
    assert.ok(decodeFrame(frame, reg).ok);
  }
});

Deno.test("datagrams stay under max_datagram_bytes however much gossip is queued", () => {
  const reg = new MessageRegistry().register(swimMessages);
  const ids = Array.from({ length: 200 }, (_, i) => `member-${i}`);
  const a = makeNode("member-0", ["member-0"]);
  for (const id of ids.slice(1)) {
    a.core.receive("x:1", { type: "swim.gossip", body: { from: "x", gossip: [alive(id)] } }, 0);
  }
  let checked = 0;
  for (let t = 0; t <= 3000; t += 100) {
    for (const s of sends(tickTo(a, t))) {
      const frame = encodeFrame({
        kind: FrameKind.Message,
        id: 0,
        type: s.msg.type,
        body: s.msg.body,
      });
      assert.ok(
        frame.byteLength <= DEFAULT_SWIM_CONFIG.maxDatagramBytes,
        `${frame.byteLength} bytes`,
      );
      assert.ok(decodeFrame(frame, reg).ok);
      checked++;
    }
  }
  assert.ok(checked > 5);
});

Deno.test("deadlines: earliest first, moved and cleared keys do not fire", () => {
  const d = new Deadlines();
  d.set("a", 30);
  d.set("b", 10);
  d.set("c", 20);
  d.set("b", 40);
  d.clear("c");
  assert.equal(d.next(), 30);
  assert.equal(d.popDue(35), "a");
  assert.equal(d.popDue(35), undefined);
  assert.equal(d.popDue(40), "b");
  assert.equal(d.size, 0);
});

Deno.test("indexed set: O(1) add/delete and distinct random samples with exclusions", () => {
  const s = new IndexedSet();
  for (let i = 0; i < 100; i++) s.add(`n${i}`);
  s.delete("n5");
  s.delete("n99");
  assert.equal(s.size, 98);
  assert.equal(s.has("n5"), false);
  const rng = new Prng(3);
  for (let k = 0; k < 50; k++) {
    const got = s.sample(rng, 3, new Set(["n1", "n2"]));
    assert.equal(new Set(got).size, 3);
    for (const g of got) assert.ok(s.has(g) && g !== "n1" && g !== "n2");
  }
  const small = new IndexedSet();
  small.add("x");
  small.add("y");
  assert.deepEqual(small.sample(rng, 3, new Set(["x"])), ["y"]);
});

Deno.test("probe scheduler: every live member once per round, new members this round", () => {
  const live = new IndexedSet();
  for (let i = 0; i < 10; i++) live.add(`n${i}`);
  const p = new ProbeScheduler();
  const rng = new Prng(9);
  const round = new Set<string>();
  for (let i = 0; i < 10; i++) round.add(p.next(live, rng)!);
  assert.equal(round.size, 10);
  live.add("new");
  p.added("new", rng);
  live.delete("n0");
  const rest: string[] = [];
  for (let i = 0; i < 10; i++) rest.push(p.next(live, rng)!);
  assert.ok(rest.includes("new"));
  assert.ok(!rest.includes("n0"));
  assert.equal(new ProbeScheduler().next(new IndexedSet(), rng), undefined);
});

Deno.test("formulas: retransmit limit, suspicion timeout, push/pull scaling", () => {
  assert.equal(retransmitLimit(4, 100), Math.ceil(4 * Math.log10(101)));
  assert.equal(retransmitLimit(4, 1000), 13);
  assert.equal(suspicionTimeoutMs(0, 2, 4000, 24000), 24000);
  assert.equal(suspicionTimeoutMs(2, 2, 4000, 24000), 4000);
  assert.equal(suspicionTimeoutMs(5, 0, 4000, 24000), 4000);
  assert.ok(suspicionTimeoutMs(1, 2, 4000, 24000) < 24000);
  assert.equal(pushPullIntervalMs(DEFAULT_SWIM_CONFIG, 32), 30000);
  assert.equal(pushPullIntervalMs(DEFAULT_SWIM_CONFIG, 1000), 30000 * 6);
});

Deno.test("config: [swim] section maps onto the core config and bad values name the key", () => {
  const c = swimConfigFromSection({ probe_interval_ms: 2000, lifeguard: false, seeds: ["x:1"] });
  assert.equal(c.probeIntervalMs, 2000);
  assert.equal(c.lifeguard, false);
  assert.equal(c.probeTimeoutMs, 500);
  assert.throws(
    () => swimConfigFromSection({ gossip_nodes: -1 }),
    (e) =>
      e instanceof ElasticoreError && e.code === "swim_config_invalid" &&
      /gossipNodes/.test(e.message),
  );
  assert.throws(() => swimConfigFromSection({ probe_timeout_ms: 5000 }), ElasticoreError);
});
