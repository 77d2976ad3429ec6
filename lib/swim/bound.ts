/**
 * The bound on full failure-detection time, derived from the protocol's
 * parameters, which the simulation tests assert.
 *
 * Notation: T probe interval, N members, μ `suspicion_mult`, ν the Lifeguard
 * maximum-timeout multiplier (1 without Lifeguard), p datagram loss, g gossip
 * interval, f `gossip_nodes`, h the local health score of the probers.
 *
 * 1. First probe of the crashed member X. Each of the N−1 live members probes
 *    X once per round of its own shuffled order, at an independent uniform
 *    position, so P(nobody probes X within k periods) ≈ (1 − k/N)^(N−1)
 *    ≤ e^(−k(N−1)/N). With k_ε = ⌈ln(1/ε) · N/(N−1)⌉ this fails with
 *    probability ≤ ε. The probe that starts in period k_ε ends (no ack, no
 *    indirect ack: X is down, so loss plays no part) one period later, when X
 *    becomes suspect: t_s ≤ (k_ε + 1)·(1+h)·T.
 * 2. Suspicion. Every member that holds the suspicion declares X dead when
 *    its own timer expires, at most S_max = ν · μ · max(1, log10 N) · T after
 *    it heard of it (Lifeguard shrinks this towards μ·max(1, log10 N)·T as
 *    independent confirmations arrive; without Lifeguard it is always that).
 * 3. Dissemination. The suspicion and then the dead declaration spread by
 *    gossip every g to f random members (plus piggybacking on probes); with
 *    loss the effective fan-out is f(1−p), so an epidemic reaches all N
 *    members within R_d = log_{1+f(1−p)} N + ln N / (f(1−p)) + 2 rounds
 *    (Pittel's bound with two rounds of slack): D = ⌈R_d⌉ · g. A member that
 *    misses the dead declaration (each update is sent ⌈retransmit_mult ·
 *    log10(N+1)⌉ times, so a member misses one with probability about
 *    e^(−R(1−p))) still holds the suspicion and expires it itself.
 *
 * Hence, with probability at least 1 − ε − N·e^(−2R(1−p)):
 *
 *     T_full ≤ (k_ε + 1)(1+h)·T + ν·μ·max(1, log10 N)·T + 2·D + 2·L
 *
 * where L is the largest one-way latency (the dead update crosses the
 * network; one D for the suspicion to reach a member, one for the dead
 * update, whichever path is slower).
 *
 * @module
 */
import type { SwimConfig } from "./config.ts";

/** Inputs of {@link detectionBoundMs}. */
export interface DetectionBoundInput {
  /** Protocol configuration (T, μ, ν, g, f, lifeguard). */
  config: SwimConfig;
  /** Cluster size N. */
  n: number;
  /** Datagram loss probability p. */
  loss: number;
  /** Allowed probability that nobody probes the crashed member in time (default 1e-3). */
  epsilon?: number;
  /** Health score of the probers (default 0: healthy). */
  health?: number;
  /** Largest one-way latency in ms (default 0). */
  maxLatencyMs?: number;
}

/** The parts of the bound, in ms, and their sum. */
export interface DetectionBound {
  /** Periods until someone has probed the crashed member (k_ε). */
  firstProbePeriods: number;
  /** Time until the first suspicion: (k_ε + 1)(1+h)·T. */
  suspectMs: number;
  /** Maximum suspicion timeout S_max. */
  suspicionMs: number;
  /** One epidemic dissemination D. */
  disseminationMs: number;
  /** The bound on full detection time. */
  totalMs: number;
}

/** The derived upper bound on the time until every live member declares a crashed one dead. */
export function detectionBoundMs(input: DetectionBoundInput): DetectionBound {
  const c = input.config;
  const n = Math.max(2, input.n);
  const eps = input.epsilon ?? 1e-3;
  const h = input.health ?? 0;
  const p = Math.min(0.99, Math.max(0, input.loss));
  const T = c.probeIntervalMs;
  const k = Math.ceil(Math.log(1 / eps) * n / (n - 1));
  const suspectMs = (k + 1) * (1 + h) * T;
  const nu = c.lifeguard ? c.suspicionMaxTimeoutMult : 1;
  const suspicionMs = nu * c.suspicionMult * Math.max(1, Math.log10(n)) * T;
  const fan = Math.max(0.1, c.gossipNodes * (1 - p));
  const rounds = Math.log(n) / Math.log(1 + fan) + Math.log(n) / fan + 2;
  const disseminationMs = Math.ceil(rounds) * c.gossipIntervalMs;
  const totalMs = suspectMs + suspicionMs + 2 * disseminationMs + 2 * (input.maxLatencyMs ?? 0);
  return { firstProbePeriods: k, suspectMs, suspicionMs, disseminationMs, totalMs };
}

/** Gossip rounds for a join to reach all N members, as in step 3: log_{1+f(1−p)} N + ln N/(f(1−p)) + 2. */
export function joinBoundMs(config: SwimConfig, n: number, loss: number): number {
  const fan = Math.max(0.1, config.gossipNodes * (1 - Math.min(0.99, Math.max(0, loss))));
  const rounds = Math.log(Math.max(2, n)) / Math.log(1 + fan) + Math.log(Math.max(2, n)) / fan + 2;
  return Math.ceil(rounds) * config.gossipIntervalMs;
}
