/**
 * Deterministic simulation of SWIM + Lifeguard on `lib/sim`: N cores over a
 * lossy, jittery `SimNetwork` for datagrams and a lossless one for push/pull
 * streams, one wake-up event per node at a time (no O(N²) work per tick).
 *
 * Scenario (all times virtual): at t = 0 the N nodes start from a warm member
 * list; at `joinAtMs` one more node joins through a random seed; at
 * `crashAtMs` `crash` random nodes crash; `slow` nodes are CPU-starved in
 * episodes (every message they send or receive is delayed by
 * `slowDelayMs`); the run lasts `periods` probe intervals. Measured: the
 * time until every live member declares each crashed node dead (against
 * {@link detectionBoundMs}), the time for the join to reach every member,
 * and false positives (healthy nodes declared dead by anyone).
 *
 * Reproduce the 1,000-node measurement with
 * `runSwimSimulation({ seed: 1, nodes: 1000, loss: 0.1, lifeguard: true })`.
 *
 * @module
 */
import type { Ack, Ping, PushPull, SwimDatagram } from "../../proto/swim.ts";
import type { SimReport } from "../sim/report.ts";
import { type EventHandle, Simulator } from "../sim/simulator.ts";
import { SimNetwork } from "../sim/network.ts";
import { type DetectionBound, detectionBoundMs, joinBoundMs } from "./bound.ts";
import { DEFAULT_SWIM_CONFIG, type SwimConfig, validateSwimConfig } from "./config.ts";
import { SwimCore } from "./core.ts";
import type { SwimEffect, SwimEvent } from "./types.ts";

/** Options of {@link runSwimSimulation}. */
export interface SwimSimOptions {
  /** Seed of the run. */
  seed: number;
  /** Initial cluster size (default 50). */
  nodes?: number;
  /** Datagram loss probability (default 0.1). */
  loss?: number;
  /** Lifeguard on or off (default true). */
  lifeguard?: boolean;
  /** Nodes crashed at `crashAtMs` (default 1). */
  crash?: number;
  /** Virtual time of the crashes (default 5 probe intervals). */
  crashAtMs?: number;
  /** Whether one node joins at `joinAtMs` (default true). */
  join?: boolean;
  /** Virtual time of the join (default 2 probe intervals). */
  joinAtMs?: number;
  /** CPU-starved nodes (default 0). */
  slow?: number;
  /** Extra delay range of a starved node's messages, in ms (default [200, 800]). */
  slowDelayMs?: [number, number];
  /** Starved episode length and period, in ms (default 3000 of every 6000). */
  slowEpisodeMs?: [number, number];
  /** Protocol periods to run (default: enough to cover the detection bound). */
  periods?: number;
  /** Maximum events (default unlimited). */
  steps?: number;
  /** One-way latency range in ms (default [1, 10]). */
  latencyMs?: [number, number];
  /**
   * Whether an unanswered probe also pings over the stream transport (default: the
   * configuration's, on). Off, only datagrams carry probes, and suspicions under loss are
   * many times more frequent: the harsh case for refutations.
   */
  streamFallback?: boolean;
  /** Overrides of the protocol configuration. */
  config?: Partial<SwimConfig>;
  /** Throw `SimulationFailure` at the first false positive (default false). */
  failOnFalsePositive?: boolean;
}

type StreamMsg =
  | { kind: "req"; state: PushPull }
  | { kind: "resp"; state: PushPull }
  | { kind: "ping"; ping: Ping }
  | { kind: "pong"; ack: Ack };

interface SimNode {
  id: string;
  core: SwimCore;
  wake?: EventHandle;
  wakeAt?: number;
  slowPhase?: number;
}

/** Runs one seeded SWIM scenario and returns its report. */
export function runSwimSimulation(opts: SwimSimOptions): SimReport {
  const n = opts.nodes ?? 50;
  const loss = opts.loss ?? 0.1;
  const lifeguard = opts.lifeguard ?? true;
  const fallback = opts.streamFallback === undefined
    ? {}
    : { streamFallbackPing: opts.streamFallback };
  const cfg = validateSwimConfig({
    ...DEFAULT_SWIM_CONFIG,
    lifeguard,
    ...fallback,
    ...opts.config,
  });
  const T = cfg.probeIntervalMs;
  const [latMin, latMax] = opts.latencyMs ?? [1, 10];
  const [slowMin, slowMax] = opts.slowDelayMs ?? [200, 800];
  const [episodeOn, episodePeriod] = opts.slowEpisodeMs ?? [3000, 6000];
  const crashAt = opts.crashAtMs ?? 5 * T;
  const joinAt = opts.joinAtMs ?? 2 * T;
  const withJoin = opts.join ?? true;
  const bound: DetectionBound = detectionBoundMs({
    config: cfg,
    n,
    loss,
    maxLatencyMs: latMax + slowMax,
  });
  const periods = opts.periods ?? Math.ceil((crashAt + bound.totalMs) / T) + 5;
  const endMs = periods * T;

  const sim = new Simulator({ seed: opts.seed, traceTail: 50 });
  const rng = sim.prng;
  const nodes = new Map<string, SimNode>();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(`n${i}`);
  const joinerId = `n${n}`;

  // Choose the roles up front so they do not depend on event order.
  const shuffled = rng.shuffle([...ids]);
  const crashed = new Set(shuffled.slice(0, Math.min(opts.crash ?? 1, n - 2)));
  const slowIds = new Set(
    shuffled.slice(crashed.size, crashed.size + Math.min(opts.slow ?? 0, n - crashed.size - 1)),
  );
  const seedId = shuffled[n - 1];

  let violation: string | undefined;
  sim.invariant("swim", () => violation);

  // Measurements.
  const deadSeenBy = new Map<string, Set<string>>();
  const detectedAt = new Map<string, number>();
  const firstSuspectAt = new Map<string, number>();
  const joinSeenBy = new Set<string>();
  let joinStartedAt = -1;
  let joinDoneAt = -1;
  let join99At = -1;
  let falseSuspicions = 0;
  const falseSuspicionIncidents = new Set<string>();
  let falseDead = 0;
  const falselyDead = new Set<string>();
  let maxHealth = 0;
  let eventsSeen = 0;
  let liveMembers = n; // initial nodes that are up (the joiner is added when it starts)

  const isStarved = (node: SimNode): boolean =>
    node.slowPhase !== undefined && (sim.now + node.slowPhase) % episodePeriod < episodeOn;
  const slowDelay = (): number => slowMin + rng.next() * (slowMax - slowMin);

  const net = new SimNetwork<SwimDatagram>(sim, (to, from, msg) => {
    const node = nodes.get(to);
    if (!node) return;
    if (isStarved(node)) {
      sim.schedule(slowDelay(), `slow-recv ${to}`, () => deliver(node, from, msg), to);
    } else {
      deliver(node, from, msg);
    }
  }, {
    defaults: { minLatencyMs: latMin, maxLatencyMs: latMax, loss, duplicate: 0 },
    describe: (m) => m.type,
  });
  const streams = new SimNetwork<StreamMsg>(sim, (to, from, msg) => {
    const node = nodes.get(to);
    if (!node) return;
    if (isStarved(node)) {
      sim.schedule(slowDelay(), `slow-stream ${to}`, () => onStream(node, from, msg), to);
    } else {
      onStream(node, from, msg);
    }
  }, {
    defaults: { minLatencyMs: latMin, maxLatencyMs: latMax, loss: 0, duplicate: 0 },
    describe: (m) => `push_pull.${m.kind}`,
  });

  function onStream(node: SimNode, from: string, msg: StreamMsg): void {
    if (msg.kind === "req") {
      const reply = node.core.handlePushPull(msg.state, sim.now);
      streams.send(node.id, from, { kind: "resp", state: reply });
    } else if (msg.kind === "resp") {
      node.core.mergeRemoteState(msg.state, sim.now);
    } else if (msg.kind === "ping") {
      const ack = node.core.answerStreamPing(msg.ping);
      if (ack) streams.send(node.id, from, { kind: "pong", ack });
    } else {
      node.core.streamAck(msg.ack.seq, sim.now);
    }
    flush(node);
  }

  function deliver(node: SimNode, from: string, msg: SwimDatagram): void {
    node.core.receive(from, msg, sim.now);
    flush(node);
  }

  function onEvent(observer: string, ev: SwimEvent): void {
    eventsSeen++;
    if (ev.id === observer) {
      violation = `${observer} emitted a ${ev.kind} event about itself`;
      return;
    }
    if (ev.kind === "suspect") {
      if (crashed.has(ev.id) && sim.now >= crashAt) {
        if (!firstSuspectAt.has(ev.id)) firstSuspectAt.set(ev.id, sim.now);
      } else {
        falseSuspicions++;
        falseSuspicionIncidents.add(`${ev.id}@${ev.inc}`);
      }
    } else if (ev.kind === "dead" || ev.kind === "left") {
      if (crashed.has(ev.id) && sim.now >= crashAt) {
        const seen = deadSeenBy.get(ev.id)!;
        seen.add(observer);
        if (seen.size >= liveMembers && !detectedAt.has(ev.id)) detectedAt.set(ev.id, sim.now);
      } else {
        falseDead++;
        falselyDead.add(ev.id);
        if (opts.failOnFalsePositive) {
          violation = `false positive: ${observer} declared healthy ${ev.id} ${ev.kind}`;
        }
      }
    } else if (ev.kind === "join" && ev.id === joinerId && joinStartedAt >= 0) {
      joinSeenBy.add(observer);
      if (join99At < 0 && joinSeenBy.size >= Math.ceil(0.99 * (liveMembers - 1))) {
        join99At = sim.now;
      }
      if (joinDoneAt < 0 && joinSeenBy.size >= liveMembers - 1) joinDoneAt = sim.now;
    }
  }

  function flush(node: SimNode): void {
    const fx: SwimEffect[] = node.core.drain();
    if (fx.length === 0) return;
    const starved = isStarved(node);
    for (const e of fx) {
      switch (e.type) {
        case "send": {
          const to = e.to ?? e.addr;
          if (starved) {
            sim.schedule(
              slowDelay(),
              `slow-send ${node.id}`,
              () => net.send(node.id, to, e.msg),
              node.id,
            );
          } else {
            net.send(node.id, to, e.msg);
          }
          break;
        }
        case "push_pull":
          streams.send(node.id, e.to ?? e.addr, { kind: "req", state: e.state });
          break;
        case "stream_ping":
          streams.send(node.id, e.to, { kind: "ping", ping: e.ping });
          break;
        case "wake":
          setWake(node, e.at);
          break;
        case "event":
          onEvent(node.id, e.event);
          break;
        case "join_failed":
          violation = `${node.id} failed to join after ${e.attempts} attempts`;
          break;
      }
    }
    const h = node.core.health;
    if (h > maxHealth) maxHealth = h;
  }

  function setWake(node: SimNode, at: number): void {
    if (node.wake && !node.wake.cancelled && node.wakeAt === at) return;
    if (node.wake) sim.cancel(node.wake);
    node.wakeAt = at;
    node.wake = sim.schedule(Math.max(0, at - sim.now), `wake ${node.id}`, () => {
      node.wake = undefined;
      node.core.tick(sim.now);
      flush(node);
    }, node.id);
  }

  function addNode(id: string): SimNode {
    sim.addNode(id);
    const core = new SwimCore({
      self: { id, addr: id, meta: { roles: "worker", rpc: `${id}:7400`, version: "0.1.0" } },
      config: cfg,
      rng: rng.fork(),
      now: sim.now,
    });
    const node: SimNode = { id, core };
    nodes.set(id, node);
    return node;
  }

  // Warm start: every initial node knows every other one.
  const initial = ids.map((id) => ({
    id,
    addr: id,
    inc: 0,
    state: "alive" as const,
    meta: { roles: "worker", rpc: `${id}:7400`, version: "0.1.0" },
  }));
  for (const id of ids) {
    const node = addNode(id);
    if (slowIds.has(id)) node.slowPhase = rng.int(episodePeriod);
    node.core.bootstrap(initial, 0);
    node.core.start(0);
    node.core.drain().filter((e) => e.type === "wake").forEach((e) => setWake(node, e.at));
  }
  for (const c of crashed) deadSeenBy.set(c, new Set());

  if (withJoin) {
    sim.schedule(joinAt, "join", () => {
      const node = addNode(joinerId);
      liveMembers++;
      joinStartedAt = sim.now;
      node.core.start(sim.now);
      node.core.join([seedId], sim.now);
      flush(node);
    });
  }
  sim.schedule(crashAt, "crash", () => {
    for (const c of crashed) {
      sim.crash(c);
      joinSeenBy.delete(c);
      liveMembers--;
    }
  });

  sim.run({ untilMs: endMs, maxSteps: opts.steps });

  const detections = [...crashed].map((c) => (detectedAt.get(c) ?? Infinity) - crashAt);
  const detectMax = detections.length ? Math.max(...detections) : 0;
  const detectMean = detections.length
    ? detections.reduce((a, b) => a + b, 0) / detections.length
    : 0;
  const firstSuspect = [...crashed].map((c) => (firstSuspectAt.get(c) ?? Infinity) - crashAt);
  const joinMs = joinDoneAt >= 0 ? joinDoneAt - joinStartedAt : Infinity;
  return {
    protocol: "swim",
    seed: sim.seed,
    steps: sim.steps,
    virtualMs: sim.now,
    traceHash: sim.traceHash,
    summary: {
      nodes: n,
      loss,
      lifeguard,
      slowNodes: slowIds.size,
      periods,
      crashed: crashed.size,
      detectedByAll: detections.every(Number.isFinite),
      detectMaxMs: finite(detectMax),
      detectMeanMs: finite(detectMean),
      firstSuspectMaxMs: finite(firstSuspect.length ? Math.max(...firstSuspect) : 0),
      detectBoundMs: Math.round(bound.totalMs),
      withinBound: detectMax <= bound.totalMs,
      joinPropagated: Number.isFinite(joinMs) || !withJoin,
      joinMs: finite(joinMs),
      join99Ms: join99At >= 0 ? Math.round(join99At - joinStartedAt) : -1,
      joinPeriods: Number.isFinite(joinMs) ? Math.round((joinMs / T) * 100) / 100 : -1,
      joinBoundMs: joinBoundMs(cfg, n + 1, loss) + 2 * (latMax + slowMax) + 2 * latMax,
      falseSuspicions: falseSuspicionIncidents.size,
      falseSuspicionEvents: falseSuspicions,
      falsePositiveEvents: falseDead,
      falsePositiveNodes: falselyDead.size,
      maxHealth,
      events: eventsSeen,
      datagramsSent: net.stats.sent,
      datagramsLost: net.stats.lost,
      streamMessages: streams.stats.sent,
    },
  };
}

function finite(x: number): number {
  return Number.isFinite(x) ? Math.round(x) : -1;
}
