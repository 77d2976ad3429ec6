import assert from "node:assert/strict";
import { decodeFrame, encodeFrame, FrameKind, MessageRegistry } from "../../proto/codec.ts";
import { type RingMessage, ringMessages } from "../../proto/dfs_ring.ts";
import { RingNode } from "../../lib/dfs/ring/node.ts";

const registry = new MessageRegistry().register(ringMessages);

Deno.test("every message the core emits passes its wire schema", () => {
  const members = ["w0", "w1", "w2", "w3", "w4", "w5"];
  const nodes = new Map(members.map((id) => [id, new RingNode({ self: id, successors: 3 })]));
  for (const n of nodes.values()) n.bootstrap(members);
  const seen = new Set<string>();
  const queue: { from: string; to: string; msg: RingMessage }[] = [];
  const pump = (id: string) => {
    for (const e of nodes.get(id)!.ready()) {
      if (e.kind !== "send") continue;
      const frame = encodeFrame({
        kind: FrameKind.Message,
        id: 0,
        type: e.msg.type,
        body: e.msg.body,
      });
      const d = decodeFrame(frame, registry);
      assert.ok(d.ok, d.ok ? "" : d.error.message);
      seen.add(e.msg.type);
      queue.push({ from: id, to: e.to, msg: e.msg });
    }
  };
  for (let t = 0; t < 6; t++) {
    for (const [id, n] of nodes) {
      n.tick();
      pump(id);
    }
    nodes.get("w0")!.lookup(123456789n);
    pump("w0");
    while (queue.length > 0) {
      const m = queue.shift()!;
      nodes.get(m.to)!.step(m.from, m.msg);
      pump(m.to);
    }
  }
  for (const type of ["ring.state_req", "ring.state_resp", "ring.find_req", "ring.find_resp"]) {
    assert.ok(seen.has(type), `saw ${type}`);
  }
});

Deno.test("malformed ring messages are rejected by the codec with bad_field", () => {
  const bad = [
    { type: "ring.find_req", body: { req: 1, key: "XYZ" } },
    { type: "ring.find_req", body: { req: 1, key: "00000000000000000" } },
    { type: "ring.state_resp", body: { req: 1, pred: null, succs: new Array(65).fill("a") } },
    { type: "ring.state_req", body: { req: -1, notify: true } },
    { type: "ring.state_req", body: { req: 1, notify: true, extra: 1 } },
    { type: "ring.ping", body: { req: 1.5 } },
    { type: "ring.find_req", body: { req: 1, key: "0000000000000000", avoid: "n1" } },
    {
      type: "ring.find_req",
      body: { req: 1, key: "0000000000000000", avoid: new Array(65).fill("n1") },
    },
    { type: "ring.find_req", body: { req: 1, key: "0000000000000000", avoid: [7] } },
  ];
  for (const m of bad) {
    const d = decodeFrame(encodeFrame({ kind: FrameKind.Message, id: 0, ...m }), registry);
    assert.equal(d.ok, false, JSON.stringify(m.body).slice(0, 60));
    if (!d.ok) assert.equal(d.error.code, "bad_field");
  }
});

Deno.test("a find request names the nodes to route around, and is valid without them", () => {
  for (
    const body of [
      { req: 1, key: "00000000000000ff" },
      { req: 2, key: "00000000000000ff", avoid: ["w1", "w2"] },
    ]
  ) {
    const d = decodeFrame(
      encodeFrame({ kind: FrameKind.Message, id: 0, type: "ring.find_req", body }),
      registry,
    );
    assert.ok(d.ok, d.ok ? "" : d.error.message);
    if (d.ok) assert.deepEqual(d.value.body, body);
  }
});
