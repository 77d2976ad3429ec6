import assert from "node:assert/strict";
import { safeParse } from "../../proto/schema.ts";
import { PushPull, swimMessages, type Update } from "../../proto/swim.ts";
import { Prng } from "../../lib/sim/prng.ts";
import { makeNode, testConfig } from "../../lib/swim/harness.ts";
import { fuzzBudget, fuzzSeed } from "./fuzz_util.ts";

const IDS = ["a", "b", "c", "d", "e", "", "zz"];
const TYPES = Object.keys(swimMessages);

function randomValue(r: Prng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 6 : 9)) {
    case 0:
      return r.int(5) - 1;
    case 1:
      return r.pick([0.5, -3, 2 ** 60, NaN, Infinity, 7]);
    case 2:
      return r.pick(IDS);
    case 3:
      return "x".repeat(r.int(300));
    case 4:
      return r.pick([true, false, null, undefined]);
    case 5:
      return new Uint8Array(r.int(4));
    case 6:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    case 7: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(4); i > 0; i--) {
        o[r.pick(["seq", "from", "t", "id", "inc", "x"])] = randomValue(r, depth + 1);
      }
      return o;
    }
    default:
      return randomUpdate(r);
  }
}

function randomUpdate(r: Prng): Update {
  const id = r.pick(IDS);
  const inc = r.int(6);
  switch (r.int(4)) {
    case 0:
      return {
        t: "alive",
        id,
        inc,
        addr: `${id}:7401`,
        meta: r.chance(0.5) ? {} : { roles: "w", n: r.int(9) },
      };
    case 1:
      return { t: "suspect", id, inc, from: r.pick(IDS) };
    case 2:
      return { t: "dead", id, inc, from: r.pick(IDS) };
    default:
      return { t: "left", id, inc };
  }
}

function validBody(r: Prng, type: string): Record<string, unknown> {
  const gossip = Array.from({ length: r.int(4) }, () => randomUpdate(r));
  const from = r.pick(IDS);
  const seq = r.int(20);
  switch (type) {
    case "swim.ping":
      return { seq, from, target: r.pick(IDS), gossip };
    case "swim.ping_req":
      return {
        seq,
        from,
        target: r.pick(IDS),
        targetAddr: `${r.pick(IDS)}:7401`,
        nack: r.chance(0.5),
        gossip,
      };
    case "swim.ack":
    case "swim.nack":
      return { seq, from, gossip };
    case "swim.gossip":
      return { from, gossip };
    default:
      return {
        from,
        join: r.chance(0.5),
        members: Array.from({ length: r.int(5) }, () => ({
          id: r.pick(IDS),
          addr: `${r.pick(IDS)}:7401`,
          inc: r.int(6),
          state: r.pick(["alive", "suspect", "dead", "left"]),
          meta: {},
        })),
      };
  }
}

function mutate(r: Prng, body: Record<string, unknown>): unknown {
  const copy: Record<string, unknown> = { ...body };
  const keys = Object.keys(copy);
  switch (r.int(4)) {
    case 0:
      if (keys.length) copy[r.pick(keys)] = randomValue(r);
      break;
    case 1:
      if (keys.length) delete copy[r.pick(keys)];
      break;
    case 2:
      copy[r.pick(["extra", "t", "gossip"])] = randomValue(r);
      break;
    default:
      return randomValue(r);
  }
  return copy;
}

Deno.test("swim fuzz: 12,000 random and mutated messages never throw and keep the core sane", () => {
  const r = new Prng(fuzzSeed());
  for (const lifeguard of [true, false]) {
    const node = makeNode("a", ["a", "b", "c", "d"], testConfig({ lifeguard }), 7);
    const core = node.core;
    let now = 0;
    let accepted = 0;
    let rejected = 0;
    let lastInc = core.incarnation;
    for (let i = 0; i < fuzzBudget(6000); i++) {
      now += r.int(120);
      const type = r.chance(0.95) ? r.pick(TYPES) : r.pick(["swim.bogus", "", "raft.append"]);
      const valid = Object.hasOwn(swimMessages, type) ? validBody(r, type) : {};
      const body = r.chance(0.5) ? valid : mutate(r, valid);
      if (type === "swim.push_pull") {
        const p = safeParse(PushPull, body);
        if (p.ok) {
          if (r.chance(0.5)) core.handlePushPull(p.value, now);
          else core.mergeRemoteState(p.value, now);
          accepted++;
        } else {
          rejected++;
        }
      } else {
        const err = core.receiveUnknown(`${r.pick(IDS)}:7401`, type, body, now);
        if (err) {
          assert.equal(err.code, "swim_bad_message");
          rejected++;
        } else {
          accepted++;
        }
      }
      if (r.chance(0.3)) core.tick(now);
      if (r.chance(0.001)) core.updateMeta({ v: i }, now);
      core.drain();
      assert.ok(core.incarnation >= lastInc, "incarnation never decreases");
      lastInc = core.incarnation;
      assert.equal(core.member("a")?.status, "alive", "never dead in its own view");
      assert.ok(core.health >= 0 && core.health <= 8);
    }
    assert.ok(accepted > 1000 && rejected > 1000, `accepted ${accepted}, rejected ${rejected}`);
  }
});
