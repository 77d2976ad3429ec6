/**
 * Deterministic simulation of a Raft cluster serving the KV store: servers
 * (core + SimDisk + state machine) over a `SimNetwork` with loss,
 * duplication and reordering; faults drawn from the seed (partitions,
 * leader isolation, crashes that lose unsynced writes, restarts, membership
 * changes, leadership transfers, compaction); clients issuing KV operations
 * with timeouts. Safety invariants run after every event, and the client
 * history must pass the linearizability checker at the end.
 *
 * @module
 */
import { raftMessages } from "../../proto/raft.ts";
import { checkLinearizable, kvModel } from "../sim/linearizability.ts";
import { SimNetwork } from "../sim/network.ts";
import type { Prng } from "../sim/prng.ts";
import type { SimReport } from "../sim/report.ts";
import { Simulator } from "../sim/simulator.ts";
import { RaftSafetyChecks } from "./sim_checks.ts";
import { SimClients } from "./sim_clients.ts";
import { type CoreSettings, SimRaftNode } from "./sim_node.ts";
import type { RaftMessage, UnsafeTestingOptions } from "./types.ts";

/** Options of {@link runRaftSimulation}. */
export interface RaftSimOptions {
  /** The seed: everything random derives from it. */
  seed: number;
  /** Events to run. Default 4000. */
  steps?: number;
  /** Initial voters: 3 or 5. Default 3. */
  nodes?: 3 | 5;
  /** Concurrent clients. Default 3. */
  clients?: number;
  /** Inject faults (partitions, crashes, loss, membership changes...). Default true. */
  faults?: boolean;
  /** Validate every message against its wire schema. Default true. */
  validateMessages?: boolean;
  /** Trace lines kept for a failure report. Default 200. */
  traceTail?: number;
  /** Test only: deliberately break the core to prove the checks catch it. */
  unsafe?: UnsafeTestingOptions;
}

const TICK_MS = 10;

/** Runs one seeded simulation; throws `SimulationFailure` on any safety violation. */
export function runRaftSimulation(opts: RaftSimOptions): SimReport {
  const steps = opts.steps ?? 4000;
  const nVoters = opts.nodes ?? 3;
  const faults = opts.faults ?? true;
  const validate = opts.validateMessages ?? true;
  const sim = new Simulator({ seed: opts.seed, traceTail: opts.traceTail ?? 200 });
  const prng = sim.prng;
  const checks = new RaftSafetyChecks();

  // Parameters drawn from the seed.
  const loss = faults ? prng.pick([0, 0.01, 0.03, 0.08]) : 0;
  const duplicate = faults ? prng.pick([0, 0.01, 0.05]) : 0;
  const maxLatency = prng.pick([3, 6, 15]);
  const maxSync = prng.pick([0.2, 1, 4]);
  const compactEvery = prng.between(10, 120);
  const faultEvery = prng.pick([40, 100, 250]);
  // Ids are never reused for a blank machine (a wiped server rejoining under its old id
  // could form a stale majority with other amnesiacs); a removed server may rejoin with its disk.
  const ids = Array.from({ length: nVoters }, (_, i) => `n${i + 1}`);
  const maxMachines = nVoters + 3;
  const initial = ids.slice();
  const counters = { snapshotsMade: 0, snapshotsInstalled: 0, crashes: 0, partitions: 0 };
  const conf = { changes: 0, transfers: 0 };

  const net = new SimNetwork<RaftMessage>(sim, (to, _from, msg) => nodes.get(to)?.receive(msg), {
    defaults: { minLatencyMs: 0.5, maxLatencyMs: maxLatency, loss, duplicate },
    describe: (msg) => `${msg.type} t${msg.term}`,
  });

  const settings: CoreSettings = {
    electionTick: 10,
    heartbeatTick: 2,
    preVote: true,
    checkQuorum: true,
    maxEntriesPerMsg: prng.pick([1, 4, 32]),
    maxBytesPerMsg: 4096,
    maxInflight: prng.pick([1, 4, 16]),
    unsafeTesting: opts.unsafe ?? {},
  };
  const hooks = {
    persisting: (n: SimRaftNode, ents: Parameters<RaftSafetyChecks["onPersist"]>[1]) =>
      checks.onPersist(n, ents),
    applying: (n: SimRaftNode, e: Parameters<RaftSafetyChecks["onApply"]>[1]) =>
      checks.onApply(n, e),
    snapshot: (_n: SimRaftNode, installed: boolean) => {
      if (installed) counters.snapshotsInstalled++;
      else counters.snapshotsMade++;
    },
    send: (from: string, msg: RaftMessage) => {
      if (validate) raftMessages[`raft.${msg.type}`].parse(msg, msg.type);
      net.send(from, msg.to, msg);
    },
  };
  const nodes = new Map<string, SimRaftNode>();
  const addMachine = (id: string): SimRaftNode => {
    sim.addNode(id);
    const node = new SimRaftNode(id, sim, hooks, {
      settings,
      compactEvery,
      syncDelay: () => prng.next() * maxSync,
      tickMs: TICK_MS,
    });
    nodes.set(id, node);
    return node;
  };
  sim.onCrash((id) => nodes.get(id)!.crash());
  sim.onRestart((id) => nodes.get(id)!.start());
  for (const id of initial) {
    const node = addMachine(id);
    node.bootstrap(initial);
    node.start();
  }
  /** Removed servers, down, disks kept: they may rejoin. */
  const spare = new Set<string>();

  sim.invariant("raft safety", () => checks.check(nodes.values()));

  const clients = new SimClients(sim, nodes, checks, {
    clients: opts.clients ?? 3,
    members: () => ids.filter((id) => !spare.has(id)),
  });
  clients.start();

  const leader = (): SimRaftNode | undefined => {
    let best: SimRaftNode | undefined;
    for (const n of nodes.values()) {
      if (n.core?.role === "leader" && (!best || n.core.term > best.core!.term)) best = n;
    }
    return best;
  };
  let pending: { op: string; node: string; index: number; term: number } | undefined;

  const membership = (p: Prng): void => {
    const l = leader();
    if (!l?.core || pending) return;
    const cs = l.core.conf;
    const members = cs.voters.length + cs.learners.length;
    const choice = p.int(3);
    let node: string;
    let op: "add_learner" | "promote" | "remove";
    if (choice === 0 && (spare.size > 0 || ids.length < maxMachines)) {
      node = spare.size > 0 && (ids.length >= maxMachines || p.chance(0.5))
        ? [...spare][0]
        : `n${ids.length + 1}`;
      op = "add_learner";
    } else if (choice === 1 && cs.learners.length > 0) {
      node = cs.learners[0];
      const pr = l.core.status().progress[node];
      if (!pr || pr.match < l.core.log.committed) return;
      op = "promote";
    } else if (choice === 2 && members > nVoters) {
      node = p.pick([...cs.voters, ...cs.learners].filter((id) => id !== l.id));
      op = "remove";
    } else return;
    const r = l.core.proposeConfChange({ op, node });
    if (!r.ok) return;
    conf.changes++;
    pending = { op, node, index: r.index, term: r.term };
    sim.trace(`conf ${op} ${node} proposed by ${l.id} at ${r.index}/${r.term}`);
    if (op === "add_learner") {
      if (spare.delete(node)) sim.restart(node);
      else {
        ids.push(node);
        addMachine(node).start();
      }
    }
    l.pump();
  };

  // Once a change is decided: a removed node is switched off (disk kept); a lost add is undone.
  const settleMembership = (): void => {
    if (!pending) return;
    const t = checks.committedTerm(pending.index);
    if (t === undefined) return;
    const done = pending;
    pending = undefined;
    const committed = t === done.term;
    sim.trace(`conf ${done.op} ${done.node} ${committed ? "committed" : "lost"}`);
    if ((done.op === "remove" && committed) || (done.op === "add_learner" && !committed)) {
      sim.crash(done.node);
      spare.add(done.node);
    }
  };

  const fault = (): void => {
    const p = prng;
    settleMembership();
    const roll = p.next();
    const up = ids.filter((id) => !spare.has(id) && sim.isUp(id));
    const down = ids.filter((id) => !spare.has(id) && !sim.isUp(id));
    if (roll < 0.15) {
      const members = ids.filter((id) => !spare.has(id));
      p.shuffle(members);
      const cut = p.between(1, members.length - 1);
      net.partition(members.slice(0, cut), members.slice(cut));
      counters.partitions++;
    } else if (roll < 0.25) {
      const l = leader();
      if (l) {
        net.isolate(l.id);
        counters.partitions++;
      }
    } else if (roll < 0.45) {
      net.heal();
    } else if (roll < 0.58 && up.length > 0) {
      const id = p.pick(up);
      sim.crash(id);
      counters.crashes++;
      sim.schedule(p.between(20, 600), `restart ${id}`, () => {
        if (!spare.has(id)) sim.restart(id);
      });
    } else if (roll < 0.63 && down.length > 0) {
      sim.restart(p.pick(down));
    } else if (roll < 0.8) {
      membership(p);
    } else if (roll < 0.88) {
      const l = leader();
      if (l?.core) {
        const others = l.core.conf.voters.filter((v) => v !== l.id);
        if (others.length > 0 && l.core.transferLeadership(p.pick(others)).ok) conf.transfers++;
        l.pump();
      }
    }
  };
  const scheduleFault = (): void => {
    sim.schedule(faultEvery * (0.5 + prng.next()), "fault", () => {
      fault();
      scheduleFault();
    });
  };
  if (faults) scheduleFault();

  sim.run({ maxSteps: steps });

  // Quiesce: heal, restart everyone, and let outstanding requests finish or time out.
  net.heal();
  net.setDefaults({ loss: 0, duplicate: 0 });
  for (const id of ids) if (!spare.has(id)) sim.restart(id);
  clients.stop();
  sim.run({ maxSteps: steps, untilMs: sim.now + 3000 });

  const unverified = checks.unverifiedAcks();
  if (unverified.length > 0) {
    sim.fail("acknowledged write lost", `never committed: ${unverified.slice(0, 5).join(", ")}`);
  }
  const history = clients.history((i) => checks.committedTerm(i));
  const lin = checkLinearizable(history, kvModel, { maxSteps: 500_000 });
  if (!lin.ok) {
    sim.fail("linearizability", lin.counterexample?.message ?? "not linearizable");
  }
  let maxTerm = 0;
  for (const n of nodes.values()) maxTerm = Math.max(maxTerm, n.core?.term ?? 0);
  return {
    protocol: "raft",
    seed: opts.seed,
    steps: sim.steps,
    virtualMs: Math.round(sim.now),
    traceHash: sim.traceHash,
    summary: {
      nodes: nVoters,
      commits: checks.maxCommitted,
      elections: checks.elections,
      leaderChanges: checks.leaderChanges,
      maxTerm,
      snapshotsMade: counters.snapshotsMade,
      snapshotsInstalled: counters.snapshotsInstalled,
      crashes: counters.crashes,
      partitions: counters.partitions,
      confChanges: conf.changes,
      transfers: conf.transfers,
      opsOk: clients.stats.ok,
      opsTimedOut: clients.stats.timedOut,
      opsRefused: clients.stats.refused,
      historyOps: history.length,
      linearizable: lin.ok,
      messagesSent: net.stats.sent,
      messagesLost: net.stats.lost + net.stats.cut,
    },
  };
}

/** Totals over a range of seeds, from {@link runRaftSeeds}. */
export interface RaftSeedTotals {
  /** Seeds run. */
  seeds: number;
  /** Committed entries, summed. */
  commits: number;
  /** Leaders elected, summed. */
  elections: number;
  /** Node crashes, summed. */
  crashes: number;
  /** Snapshots made or installed, summed. */
  snapshots: number;
  /** Membership changes proposed, summed. */
  confChanges: number;
  /** Client operations checked for linearizability, summed. */
  ops: number;
  /** Slowest seed, in wall-clock ms. */
  slowestMs: number;
}

/**
 * Runs seeds `from..to` (inclusive) with the same options; throws the first
 * `SimulationFailure`. Returns totals so callers can check the runs did work.
 */
export function runRaftSeeds(
  from: number,
  to: number,
  opts: Omit<RaftSimOptions, "seed"> = {},
): RaftSeedTotals {
  const t: RaftSeedTotals = {
    seeds: 0,
    commits: 0,
    elections: 0,
    crashes: 0,
    snapshots: 0,
    confChanges: 0,
    ops: 0,
    slowestMs: 0,
  };
  for (let seed = from; seed <= to; seed++) {
    const start = performance.now();
    const s = runRaftSimulation({ ...opts, seed }).summary;
    t.slowestMs = Math.max(t.slowestMs, performance.now() - start);
    t.seeds++;
    t.commits += Number(s.commits);
    t.elections += Number(s.elections);
    t.crashes += Number(s.crashes);
    t.snapshots += Number(s.snapshotsMade) + Number(s.snapshotsInstalled);
    t.confChanges += Number(s.confChanges);
    t.ops += Number(s.historyOps);
  }
  return t;
}
