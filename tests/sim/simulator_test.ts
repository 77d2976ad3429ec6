import assert from "node:assert/strict";
import {
  EventQueue,
  Prng,
  SimDisk,
  SimNetwork,
  SimulationFailure,
  Simulator,
} from "../../lib/sim/mod.ts";

/**
 * A deliberately flawed test protocol: a counter node acknowledges client
 * increments BEFORE syncing them to disk (it syncs on a timer). Crashes make
 * acknowledged increments disappear; the invariant must catch that.
 */
function runFlawedCounter(seed: number, opts: { syncBeforeAck: boolean; steps: number }) {
  const sim = new Simulator({ seed });
  const disk = new SimDisk<number>();
  let counter = 0;
  let acked = 0;
  sim.addNode("server");
  sim.addNode("client");
  const net = new SimNetwork<{ t: "inc" } | { t: "ack"; value: number }>(
    sim,
    (to, _from, msg) => {
      if (to === "server" && msg.t === "inc") {
        counter++;
        disk.write("counter", counter);
        if (opts.syncBeforeAck) disk.sync();
        net.send("server", "client", { t: "ack", value: counter });
      } else if (to === "client" && msg.t === "ack") {
        acked = Math.max(acked, msg.value);
      }
    },
    { defaults: { minLatencyMs: 1, maxLatencyMs: 3 }, describe: (m) => m.t },
  );
  const syncTimer = () => {
    disk.sync();
    sim.schedule(50, "server sync", syncTimer, "server");
  };
  sim.onCrash((id) => {
    if (id === "server") disk.crash();
  });
  sim.onRestart((id) => {
    if (id !== "server") return;
    counter = disk.read("counter") ?? 0;
    sim.schedule(50, "server sync", syncTimer, "server");
  });
  sim.schedule(50, "server sync", syncTimer, "server");
  const clientLoop = () => {
    net.send("client", "server", { t: "inc" });
    sim.schedule(sim.prng.between(1, 10), "client inc", clientLoop, "client");
  };
  sim.schedule(0, "client inc", clientLoop, "client");
  const faults = () => {
    if (sim.isUp("server") && sim.prng.chance(0.3)) {
      sim.crash("server");
      sim.schedule(sim.prng.between(5, 40), "restart server", () => sim.restart("server"));
    }
    sim.schedule(sim.prng.between(20, 200), "faults", faults);
  };
  sim.schedule(100, "faults", faults);
  sim.invariant("acknowledged increments survive crashes", () => {
    if (sim.isUp("server") && counter < acked) {
      return `server counter ${counter} is below acknowledged ${acked}`;
    }
    return undefined;
  });
  sim.run({ maxSteps: opts.steps });
  return { hash: sim.traceHash, steps: sim.steps, disk };
}

Deno.test("sim: the same seed gives the same trace hash; another seed another", () => {
  const a = runFlawedCounter(7, { syncBeforeAck: true, steps: 3000 });
  const b = runFlawedCounter(7, { syncBeforeAck: true, steps: 3000 });
  const c = runFlawedCounter(8, { syncBeforeAck: true, steps: 3000 });
  assert.equal(a.hash, b.hash);
  assert.notEqual(a.hash, c.hash);
  assert.equal(a.steps, 3000);
});

Deno.test("sim: an invariant violation is reported with the seed that reproduces it", () => {
  let failure: SimulationFailure | undefined;
  let seed = 1;
  for (; seed < 200 && !failure; seed++) {
    try {
      runFlawedCounter(seed, { syncBeforeAck: false, steps: 5000 });
    } catch (e) {
      if (!(e instanceof SimulationFailure)) throw e;
      failure = e;
    }
  }
  assert.ok(failure, "the flawed protocol was never caught");
  assert.equal(failure.invariant, "acknowledged increments survive crashes");
  assert.match(failure.message, new RegExp(`seed ${failure.seed}`));
  assert.match(failure.message, /deno task sim --seed/);
  // Replaying the seed fails at exactly the same step with the same detail.
  let replay: SimulationFailure | undefined;
  try {
    runFlawedCounter(failure.seed, { syncBeforeAck: false, steps: 5000 });
  } catch (e) {
    if (e instanceof SimulationFailure) replay = e;
  }
  assert.ok(replay);
  assert.equal(replay.step, failure.step);
  assert.equal(replay.message, failure.message);
  // The correct protocol (sync before ack) passes the same seed.
  runFlawedCounter(failure.seed, { syncBeforeAck: true, steps: 5000 });
});

Deno.test("sim: a crash loses exactly the writes not yet synced", () => {
  const disk = new SimDisk<string>();
  disk.write("a", "1");
  disk.write("b", "1");
  disk.sync();
  disk.write("a", "2");
  disk.delete("b");
  disk.write("c", "1");
  assert.equal(disk.read("a"), "2");
  assert.equal(disk.read("b"), undefined);
  assert.equal(disk.pendingWrites, 3);
  assert.equal(disk.crash(), 3);
  assert.deepEqual(disk.durableEntries(), [["a", "1"], ["b", "1"]]);
  assert.equal(disk.read("a"), "1");
  assert.equal(disk.read("b"), "1");
  assert.equal(disk.read("c"), undefined);
  assert.deepEqual(disk.keys(), ["a", "b"]);
});

Deno.test("sim: timers of a crashed node die with it; others keep running", () => {
  const sim = new Simulator({ seed: 3 });
  sim.addNode("a");
  sim.addNode("b");
  const fired: string[] = [];
  sim.schedule(10, "a timer", () => fired.push("a"), "a");
  sim.schedule(10, "b timer", () => fired.push("b"), "b");
  sim.schedule(10, "free timer", () => fired.push("free"));
  sim.schedule(5, "crash a", () => sim.crash("a"));
  sim.run();
  assert.deepEqual(fired, ["b", "free"]);
  assert.equal(sim.isUp("a"), false);
  assert.equal(sim.epoch("a"), 1);
});

Deno.test("sim: partitions drop exactly the cut links, and healing restores them", () => {
  const sim = new Simulator({ seed: 11 });
  const ids = ["n1", "n2", "n3", "n4", "n5"];
  for (const id of ids) sim.addNode(id);
  const got = new Set<string>();
  const net = new SimNetwork<string>(sim, (to, from) => got.add(`${from}>${to}`));
  net.partition(["n1", "n2"], ["n3", "n4", "n5"]);
  net.cut("n3", "n4"); // one direction only
  for (const a of ids) for (const b of ids) if (a !== b) net.send(a, b, "x");
  sim.run();
  const side = (n: string) => (n === "n1" || n === "n2" ? 0 : 1);
  for (const a of ids) {
    for (const b of ids) {
      if (a === b) continue;
      const expectCut = side(a) !== side(b) || (a === "n3" && b === "n4");
      assert.equal(got.has(`${a}>${b}`), !expectCut, `${a}>${b}`);
    }
  }
  assert.equal(net.stats.cut, 12 + 1);
  assert.equal(net.stats.delivered, 20 - 13);
  net.heal();
  got.clear();
  for (const a of ids) for (const b of ids) if (a !== b) net.send(a, b, "y");
  sim.run();
  assert.equal(got.size, 20);
});

Deno.test("sim: a partition started while messages are in flight drops them at delivery", () => {
  const sim = new Simulator({ seed: 5 });
  sim.addNode("a");
  sim.addNode("b");
  let delivered = 0;
  const net = new SimNetwork<string>(sim, () => delivered++, {
    defaults: { minLatencyMs: 10, maxLatencyMs: 10 },
  });
  net.send("a", "b", "x");
  sim.schedule(5, "cut", () => net.partition(["a"], ["b"]));
  sim.run();
  assert.equal(delivered, 0);
  assert.equal(net.stats.cut, 1);
});

Deno.test("sim: loss and duplication follow the configured probabilities", () => {
  const sim = new Simulator({ seed: 99 });
  sim.addNode("a");
  sim.addNode("b");
  let delivered = 0;
  const net = new SimNetwork<number>(sim, () => delivered++, {
    defaults: { loss: 0.1, duplicate: 0.05, minLatencyMs: 0, maxLatencyMs: 20 },
  });
  const n = 20_000;
  for (let i = 0; i < n; i++) net.send("a", "b", i);
  sim.run();
  const lostRate = net.stats.lost / n;
  assert.ok(Math.abs(lostRate - 0.1) < 0.01, `loss rate ${lostRate}`);
  assert.equal(delivered, n - net.stats.lost + net.stats.duplicated);
});

Deno.test("sim: jittered latency reorders messages", () => {
  const sim = new Simulator({ seed: 4 });
  sim.addNode("a");
  sim.addNode("b");
  const order: number[] = [];
  const net = new SimNetwork<number>(sim, (_to, _from, m) => order.push(m), {
    defaults: { minLatencyMs: 1, maxLatencyMs: 50 },
  });
  for (let i = 0; i < 100; i++) net.send("a", "b", i);
  sim.run();
  assert.equal(order.length, 100);
  assert.notDeepEqual(order, [...order].sort((x, y) => x - y));
});

Deno.test("sim: PRNG is deterministic and roughly uniform", () => {
  const a = new Prng(123);
  const b = new Prng(123);
  const xs = Array.from({ length: 1000 }, () => a.nextU32());
  const ys = Array.from({ length: 1000 }, () => b.nextU32());
  assert.deepEqual(xs, ys);
  const buckets = new Array(10).fill(0);
  const p = new Prng(9);
  for (let i = 0; i < 100_000; i++) buckets[p.int(10)]++;
  for (const c of buckets) assert.ok(Math.abs(c - 10_000) < 500, `bucket ${c}`);
  assert.deepEqual(new Prng(1).shuffle([1, 2, 3, 4, 5]).sort(), [1, 2, 3, 4, 5]);
});

Deno.test("sim: the event queue orders by time, then insertion", () => {
  const q = new EventQueue<string>();
  q.push(5, "c");
  q.push(1, "a");
  q.push(5, "d");
  q.push(1, "b");
  q.push(0, "z");
  const out: string[] = [];
  for (let e = q.pop(); e; e = q.pop()) out.push(e.value);
  assert.deepEqual(out, ["z", "a", "b", "c", "d"]);
});
