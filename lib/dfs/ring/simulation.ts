/**
 * The Chord ring simulation: joins, crashes, restarts, partitions (isolated
 * nodes, then heal) and message loss, driven by one seed on `lib/sim`.
 * After every disturbance the network must stabilize and then satisfy Zave's
 * properties (one ordered ring, connected appendages, ordered successor
 * lists) and exact pointers; lookups run through the protocol must find the
 * true successor among live members; and the block placement model must
 * never lose an acknowledged block and must converge back to RF replicas.
 *
 * `runRingSimulation({ seed, nodes: 1000, rounds: 0, lookups: 2000 })`
 * measures the mean lookup hop count of a 1,000-node ring.
 *
 * @module
 */
import { type SimReport, Simulator } from "../../sim/mod.ts";
import { hashToRingId } from "./id.ts";
import { RingCluster } from "./cluster.ts";
import { PlacementModel } from "./placement.ts";
import { trueSuccessor } from "./invariants.ts";

/** Options of {@link runRingSimulation}. */
export interface RingSimOptions {
  /** The seed; the same options and seed give the same trace hash. */
  seed: number;
  /** Stop after this many events (a failing run's step count replays it). */
  steps?: number;
  /** Initial number of nodes. Default 32. */
  nodes?: number;
  /** Churn epochs: disturbance, then stabilization and checks. Default 4. */
  rounds?: number;
  /** Successor-list length r. Default 5. */
  successors?: number;
  /** Replication factor; at most RF-1 failures per epoch. Default 3. */
  rf?: number;
  /** Blocks written per epoch. Default 40. */
  blocks?: number;
  /**
   * Failures (crashes or isolations) per epoch. Default: a random number in
   * 1..RF-1, the assumption under which no block may be lost. Larger values
   * break that assumption on purpose (the checks must then report a loss).
   */
  failures?: number;
  /** Message loss while disturbed. Default 0.01. */
  loss?: number;
  /** Isolate nodes (a partition) as one kind of failure. Default true. */
  partitions?: boolean;
  /** Deliver SWIM-style liveness hints to the cores. Default true. */
  swimHints?: boolean;
  /** Lookups checked after each stabilization. Default 100. */
  lookups?: number;
  /** Virtual ms per tick. Default 200. */
  tickMs?: number;
  /** How the initial nodes form the ring: joining one by one, or static bootstrap. */
  initial?: "join" | "static";
  /** Longest time allowed to stabilize after a disturbance, virtual ms. Default 120000. */
  settleMs?: number;
}

class StepLimit extends Error {}

/** Runs one seeded ring simulation; throws `SimulationFailure` on a violated check. */
export function runRingSimulation(opts: RingSimOptions): SimReport {
  const o = {
    nodes: 32,
    rounds: 4,
    successors: 5,
    rf: 3,
    blocks: 40,
    loss: 0.01,
    partitions: true,
    swimHints: true,
    lookups: 100,
    tickMs: 200,
    initial: "join" as const,
    settleMs: 120_000,
    steps: Infinity,
    ...opts,
  };
  if (o.rf < 1 || o.rf > o.successors) {
    throw new RangeError(`rf must be in 1..successors (${o.successors}), got ${o.rf}`);
  }
  if (o.nodes < o.successors + 1) {
    throw new RangeError(`need at least r+1 = ${o.successors + 1} nodes (Zave's stable base)`);
  }
  const sim = new Simulator({ seed: o.seed });
  const prng = sim.prng;
  let placement: PlacementModel | null = null;
  const cluster = new RingCluster(sim, {
    tickMs: o.tickMs,
    core: { successors: o.successors },
    swimHints: o.swimHints,
    hintDelayMs: 3 * o.tickMs,
    onData: (to, from, msg) => placement?.onData(to, from, msg),
    onNeighbors: (id) => placement?.onNeighbors(id),
  });
  placement = new PlacementModel(cluster, o.rf);
  const pm = placement;
  sim.onCrash((id) => {
    const lost = pm.onCrash(id);
    if (lost.length > 0) sim.fail("NoDataLoss", `crash of ${id} lost blocks ${lost.slice(0, 5)}`);
  });

  const s = {
    crashes: 0,
    isolations: 0,
    restarts: 0,
    newJoins: 0,
    lookups: 0,
    lookupHops: 0,
    lookupFailures: 0,
    transientViolations: 0,
    maxSettleMs: 0,
    completed: false,
  };

  // With a step limit, the checks after the last allowed event still run, so a
  // failure found at step N is found again by a replay limited to N steps.
  const advance = (ms: number) => {
    if (sim.steps >= o.steps) throw new StepLimit();
    sim.run({ untilMs: sim.now + ms, maxSteps: o.steps - sim.steps });
  };
  const repairEvery = 5 * o.tickMs;
  const repairLoop = () => {
    pm.repair();
    sim.schedule(repairEvery, "repair", repairLoop);
  };

  const members = () => {
    const m = cluster.members();
    if (m.length === 0) {
      const up = sim.nodeIds().filter((id) => sim.isUp(id));
      sim.fail("Membership", `no reachable member left (${up.length} nodes up)`);
    }
    return m;
  };

  let nextId = 0;
  const fresh = () => `n${nextId++}`;
  const crashed: string[] = [];

  // Stable means: exact pointers at two checks in a row, the first taken after
  // requests sent before the disturbance ended have had time to time out.
  const settle = (label: string) => {
    const start = sim.now;
    let streak = 0;
    for (;;) {
      advance(5 * o.tickMs);
      const c = cluster.check();
      streak = c.stable ? streak + 1 : 0;
      if (streak >= 2) break;
      if (sim.now - start > o.settleMs) {
        sim.fail(
          "Stabilized",
          `${label}: not stable after ${o.settleMs}ms: ${
            [...c.problems, ...c.unstable].slice(0, 6).join("; ")
          }`,
        );
      }
      if (c.problems.length > 0) s.transientViolations++;
    }
    s.maxSettleMs = Math.max(s.maxSettleMs, sim.now - start);
    sim.trace(`stable ${label} after ${sim.now - start}ms`);
  };

  const checkLookups = (label: string) => {
    const from = members();
    const sorted = cluster.sortedMembers();
    let pending = 0;
    for (let i = 0; i < o.lookups; i++) {
      const at = prng.pick(from);
      const key = hashToRingId(`lookup ${o.seed} ${label} ${i}`);
      pending++;
      cluster.lookup(at, key, (r) => {
        pending--;
        s.lookups++;
        s.lookupHops += r.hops;
        const want = trueSuccessor(sorted, key);
        if (!r.ok || r.owner !== want) {
          s.lookupFailures++;
          sim.fail(
            "LookupCorrect",
            `${label}: lookup from ${at} found ${
              r.ok ? r.owner : r.reason
            }, true successor ${want}`,
          );
        }
      });
    }
    for (let t = 0; pending > 0; t++) {
      if (t > 100) sim.fail("LookupCorrect", `${label}: ${pending} lookups never finished`);
      advance(o.tickMs);
    }
  };

  const checkPlacement = (label: string) => {
    const start = sim.now;
    for (;;) {
      const c = pm.check(cluster.sortedMembers());
      if (c.lost.length > 0) sim.fail("NoDataLoss", `${label}: lost ${c.lost.slice(0, 5)}`);
      if (c.underReplicated === 0) return c;
      if (sim.now - start > o.settleMs) {
        sim.fail("Replication", `${label}: ${c.underReplicated} blocks below RF`);
      }
      advance(repairEvery);
    }
  };

  const writeBlocks = (label: string) => {
    const live = members();
    for (let i = 0; i < o.blocks; i++) {
      const key = hashToRingId(`block ${o.seed} ${label} ${i}`);
      pm.write(prng.pick(live), key, 20 * o.tickMs);
    }
  };

  try {
    // Zave's initialization: a correct ring of at least r+1 members (the stable base).
    const all = Array.from({ length: o.nodes }, fresh);
    const base = o.initial === "static" ? all : all.slice(0, o.successors + 1);
    for (const id of all) cluster.add(id);
    for (const id of base) cluster.core(id).bootstrap(base);
    for (const id of base) cluster.flush(id);
    for (const id of all.slice(base.length)) {
      sim.schedule(prng.next() * o.nodes * 40, `join ${id}`, () => {
        cluster.join(id, prng.pick(members()));
        cluster.announce(id);
      });
    }
    repairLoop();
    advance(o.nodes * 40 + 2000);
    settle("initial");
    checkLookups("initial");
    writeBlocks("initial");
    advance(30 * o.tickMs);
    checkPlacement("initial");

    for (let epoch = 1; epoch <= o.rounds; epoch++) {
      const label = `epoch ${epoch}`;
      writeBlocks(label);
      cluster.net.setDefaults({ loss: o.loss });
      // At most RF-1 failures (crashes or isolations) between stabilizations.
      const failures = o.failures ?? prng.between(1, Math.max(1, o.rf - 1));
      const victims = prng.shuffle(members()).slice(0, failures);
      let isolated = false;
      for (const v of victims) {
        const delay = prng.next() * 10 * o.tickMs;
        if (o.partitions && prng.chance(0.4)) {
          isolated = true;
          s.isolations++;
          sim.schedule(delay, `isolate ${v}`, () => cluster.isolate(v));
        } else {
          s.crashes++;
          crashed.push(v);
          sim.schedule(delay, `crash ${v}`, () => cluster.crash(v));
        }
      }
      const joiners = prng.int(3);
      for (let j = 0; j < joiners; j++) {
        const id = fresh();
        s.newJoins++;
        sim.schedule(prng.next() * 10 * o.tickMs, `join ${id}`, () => {
          cluster.add(id);
          cluster.join(id, prng.pick(members()));
          cluster.announce(id);
        });
      }
      if (crashed.length > failures && prng.chance(0.7)) {
        const id = crashed.splice(prng.int(crashed.length - failures), 1)[0];
        s.restarts++;
        sim.schedule(prng.next() * 10 * o.tickMs, `restart ${id}`, () => {
          cluster.restart(id);
          cluster.join(id, prng.pick(members()));
          cluster.announce(id);
        });
      }
      advance(20 * o.tickMs);
      cluster.net.setDefaults({ loss: 0 });
      if (isolated) cluster.heal();
      settle(label);
      checkLookups(label);
      checkPlacement(label);
    }
    s.completed = true;
  } catch (e) {
    if (!(e instanceof StepLimit)) throw e;
  }

  const final = pm.check(cluster.sortedMembers());
  const ring = cluster.check();
  return {
    protocol: "ring",
    seed: o.seed,
    steps: sim.steps,
    virtualMs: Math.round(sim.now),
    traceHash: sim.traceHash,
    summary: {
      completed: s.completed,
      members: cluster.members().length,
      rings: ring.rings,
      stable: ring.stable,
      joins: cluster.joins,
      newJoins: s.newJoins,
      crashes: s.crashes,
      isolations: s.isolations,
      restarts: s.restarts,
      aloneEvents: cluster.aloneEvents,
      maxSettleMs: Math.round(s.maxSettleMs),
      transientViolations: s.transientViolations,
      lookups: s.lookups,
      lookupFailures: s.lookupFailures,
      meanLookupHops: s.lookups > 0 ? Number((s.lookupHops / s.lookups).toFixed(3)) : 0,
      halfLog2N: Number((0.5 * Math.log2(Math.max(1, cluster.members().length))).toFixed(3)),
      blocksAcked: final.blocks,
      blocksLost: final.lost.length,
      underReplicated: final.underReplicated,
      extraCopies: final.extraCopies,
      writesUnacked: pm.stats.unacked,
      repairCopies: pm.stats.repairs,
      surplusDropped: pm.stats.dropped,
      messagesSent: cluster.net.stats.sent,
      messagesLost: cluster.net.stats.lost,
      messagesCut: cluster.net.stats.cut,
    },
  };
}
