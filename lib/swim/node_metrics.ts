/**
 * Prometheus metrics of the SWIM shell, registered in a `MetricsRegistry`
 * (`elasticore_swim_*`), plus a plain snapshot for status views, tests and
 * benchmarks.
 *
 * @module
 */
import type { Counter } from "../metrics.ts";
import { MetricsRegistry } from "../metrics.ts";
import type { MemberStatus } from "./types.ts";

/** What the gauges read from the running node. */
export interface SwimGaugeSource {
  /** Lifeguard health score (0 = healthy). */
  health(): number;
  /** Our incarnation. */
  incarnation(): number;
  /** Known members by status (the local node included). */
  memberCounts(): Record<MemberStatus, number>;
}

/** A snapshot of the counters. */
export interface SwimStats {
  /** Direct probes (pings) sent, relayed ones included. */
  probes: number;
  /** Indirect probe requests sent. */
  pingReqs: number;
  /** Acks received. */
  acks: number;
  /** Nacks received. */
  nacks: number;
  /** Suspicions seen (suspect events). */
  suspicions: number;
  /** Deaths seen (dead events). */
  deaths: number;
  /** Times we raised our incarnation to refute a suspicion or a death. */
  refutations: number;
  /** Datagrams sent. */
  datagramsOut: number;
  /** Datagrams received and accepted. */
  datagramsIn: number;
  /** Datagram bytes sent (encrypted size, without IP/UDP headers). */
  bytesOut: number;
  /** Datagram bytes received (encrypted size). */
  bytesIn: number;
  /** Push/pull exchanges completed (both directions). */
  pushPulls: number;
  /** Stream fallback pings that got an answer. */
  streamPingAcks: number;
  /** Lifeguard health score now. */
  health: number;
}

/** The counters and gauges of one node. */
export class SwimMetrics {
  /** The registry they live in. */
  readonly registry: MetricsRegistry;
  readonly #probes: Counter;
  readonly #pingReqs: Counter;
  readonly #acks: Counter;
  readonly #nacks: Counter;
  readonly #suspicions: Counter;
  readonly #deaths: Counter;
  readonly #refutations: Counter;
  readonly #datagrams: Counter;
  readonly #bytes: Counter;
  readonly #dropped: Counter;
  readonly #pushPulls: Counter;
  readonly #streamPings: Counter;
  readonly #source: SwimGaugeSource;

  /** Registers every metric in `registry` (a fresh one by default). */
  constructor(source: SwimGaugeSource, registry: MetricsRegistry = new MetricsRegistry()) {
    this.registry = registry;
    this.#source = source;
    const r = registry;
    this.#probes = r.counter(
      "elasticore_swim_probes_total",
      "SWIM pings sent (direct and relayed)",
    );
    this.#pingReqs = r.counter("elasticore_swim_ping_reqs_total", "SWIM indirect probe requests");
    this.#acks = r.counter("elasticore_swim_acks_total", "SWIM acks received");
    this.#nacks = r.counter("elasticore_swim_nacks_total", "SWIM nacks received (Lifeguard)");
    this.#suspicions = r.counter("elasticore_swim_suspicions_total", "Members suspected");
    this.#deaths = r.counter("elasticore_swim_deaths_total", "Members declared dead");
    this.#refutations = r.counter(
      "elasticore_swim_refutations_total",
      "Incarnation raises to refute a suspicion of ourselves",
    );
    this.#datagrams = r.counter("elasticore_swim_datagrams_total", "Gossip datagrams by direction");
    this.#bytes = r.counter(
      "elasticore_swim_bytes_total",
      "Gossip datagram bytes (encrypted) by direction",
    );
    this.#dropped = r.counter(
      "elasticore_swim_dropped_datagrams_total",
      "Gossip datagrams refused by the SWIM shell, by reason",
    );
    this.#pushPulls = r.counter(
      "elasticore_swim_push_pulls_total",
      "Push/pull exchanges by role and result",
    );
    this.#streamPings = r.counter(
      "elasticore_swim_stream_pings_total",
      "Stream fallback pings by result",
    );
    r.gauge("elasticore_swim_health_score", "Lifeguard local health score (0 = healthy)", () => [
      [undefined, this.#source.health()],
    ]);
    r.gauge("elasticore_swim_incarnation", "Our incarnation number", () => [
      [undefined, this.#source.incarnation()],
    ]);
    r.gauge("elasticore_swim_members", "Known members by state", () => {
      const c = this.#source.memberCounts();
      return Object.entries(c).map(([state, n]) => [{ state }, n]);
    });
  }

  /** A datagram of `bytes` bytes and SWIM type `type` was sent. */
  sent(type: string, bytes: number): void {
    this.#datagrams.inc({ dir: "out" });
    this.#bytes.inc({ dir: "out" }, bytes);
    if (type === "swim.ping") this.#probes.inc();
    else if (type === "swim.ping_req") this.#pingReqs.inc();
  }

  /** A datagram of `bytes` bytes arrived (before validation). */
  received(bytes: number): void {
    this.#datagrams.inc({ dir: "in" });
    this.#bytes.inc({ dir: "in" }, bytes);
  }

  /** An accepted datagram of SWIM type `type`. */
  accepted(type: string): void {
    if (type === "swim.ack") this.#acks.inc();
    else if (type === "swim.nack") this.#nacks.inc();
  }

  /** A datagram was refused for `reason`. */
  dropped(reason: string): void {
    this.#dropped.inc({ reason });
  }

  /** A membership event about another member. */
  event(kind: string): void {
    if (kind === "suspect") this.#suspicions.inc();
    else if (kind === "dead") this.#deaths.inc();
  }

  /** We raised our incarnation to refute. */
  refuted(): void {
    this.#refutations.inc();
  }

  /** A push/pull finished: `role` active or passive, `result` ok or failed. */
  pushPull(role: "active" | "passive", result: "ok" | "failed"): void {
    this.#pushPulls.inc({ role, result });
  }

  /** A stream fallback ping finished. */
  streamPing(result: "ack" | "failed"): void {
    this.#streamPings.inc({ result });
  }

  /** The counters now. */
  snapshot(): SwimStats {
    return {
      probes: this.#probes.get(),
      pingReqs: this.#pingReqs.get(),
      acks: this.#acks.get(),
      nacks: this.#nacks.get(),
      suspicions: this.#suspicions.get(),
      deaths: this.#deaths.get(),
      refutations: this.#refutations.get(),
      datagramsOut: this.#datagrams.get({ dir: "out" }),
      datagramsIn: this.#datagrams.get({ dir: "in" }),
      bytesOut: this.#bytes.get({ dir: "out" }),
      bytesIn: this.#bytes.get({ dir: "in" }),
      pushPulls: this.#pushPulls.get({ role: "active", result: "ok" }) +
        this.#pushPulls.get({ role: "passive", result: "ok" }),
      streamPingAcks: this.#streamPings.get({ result: "ack" }),
      health: this.#source.health(),
    };
  }
}
