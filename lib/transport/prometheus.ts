/**
 * The transport's counters in the node's Prometheus registry. The transport
 * keeps plain fields ({@link TransportMetrics}, {@link DatagramTransport});
 * this module reads them when `/metrics` is scraped, so the hot paths stay a
 * field increment and nothing polls.
 *
 * Series (all `elasticore_transport_*`):
 * `frames_total{dir}`, `bytes_total{dir}`, `writes_total`,
 * `rejected_frames_total{code}`, `handshake_failures_total{reason}`,
 * `connections_total{event}`, `connections_open`, `oversized_closes_total`,
 * `reconnects_total`, `dial_failures_total`, `orphan_replies_total`,
 * `fault_drops_total`, and for gossip datagrams `datagrams_total{dir}`,
 * `dropped_datagrams_total{reason}`, `datagram_send_errors_total`.
 *
 * @module
 */
import type { Counter, Labels, MetricsRegistry } from "../metrics.ts";
import type { TransportMetrics } from "./metrics.ts";

/** One series read at scrape time: its labels and its current value. */
export type Sample = [Labels | undefined, number];

/**
 * Registers counter `name` whose series are read from `read` at every scrape.
 * `read` must return monotonically increasing totals (the transport's plain
 * counters); the counter advances by the difference and never decreases.
 */
export function scrapedCounter(
  registry: MetricsRegistry,
  name: string,
  help: string,
  read: () => Sample[],
): Counter {
  const counter = registry.counter(name, help);
  const render = counter.render.bind(counter);
  // The registry renders by calling each metric's render(); catching up just before keeps the
  // exposition current without a timer and without touching the transport's hot paths.
  counter.render = () => {
    for (const [labels, value] of read()) {
      // inc by 0 creates the series, so a counter shows up before it first moves.
      counter.inc(labels, Math.max(0, value - counter.get(labels)));
    }
    return render();
  };
  return counter;
}

/** The counters of a gossip datagram socket ({@link DatagramTransport} has these fields). */
export interface DatagramCounters {
  /** Datagrams sent. */
  readonly sent: number;
  /** Datagrams received and accepted. */
  readonly received: number;
  /** Dropped datagrams by reason. */
  readonly droppedByReason: ReadonlyMap<string, number>;
  /** Sends that failed at the socket. */
  readonly sendErrors: number;
}

/** Where {@link registerTransportMetrics} reads from. */
export interface TransportMetricsSources {
  /** The stream transport's counters (`rpc.metrics`). */
  transport: () => TransportMetrics;
  /** The gossip socket's counters, when the node has one. */
  datagrams?: () => DatagramCounters | undefined;
}

function byKey(map: ReadonlyMap<string, number>, label: string): Sample[] {
  return [...map].map(([k, v]) => [{ [label]: k }, v]);
}

/** Registers every `elasticore_transport_*` series in `registry`. */
export function registerTransportMetrics(
  registry: MetricsRegistry,
  src: TransportMetricsSources,
): void {
  const t = src.transport;
  const one = (name: string, help: string, read: () => number) =>
    scrapedCounter(registry, name, help, () => [[undefined, read()]]);
  scrapedCounter(registry, "elasticore_transport_frames_total", "Frames by direction", () => [
    [{ dir: "in" }, t().framesIn],
    [{ dir: "out" }, t().framesOut],
  ]);
  scrapedCounter(
    registry,
    "elasticore_transport_bytes_total",
    "Connection bytes by direction (frame headers included)",
    () => [[{ dir: "in" }, t().bytesIn], [{ dir: "out" }, t().bytesOut]],
  );
  one(
    "elasticore_transport_writes_total",
    "Socket writes (each carries a batch)",
    () => t().writes,
  );
  scrapedCounter(
    registry,
    "elasticore_transport_rejected_frames_total",
    "Incoming frames rejected, by codec error code",
    () => byKey(t().rejectedFrames, "code"),
  );
  scrapedCounter(
    registry,
    "elasticore_transport_handshake_failures_total",
    "Failed connection handshakes, by reason",
    () => byKey(t().handshakeFailures, "reason"),
  );
  scrapedCounter(
    registry,
    "elasticore_transport_connections_total",
    "Connections opened and closed (both directions)",
    () => [[{ event: "opened" }, t().connectionsOpened], [
      { event: "closed" },
      t().connectionsClosed,
    ]],
  );
  registry.gauge("elasticore_transport_connections_open", "Connections open now", () => [
    [undefined, Math.max(0, t().connectionsOpened - t().connectionsClosed)],
  ]);
  one(
    "elasticore_transport_oversized_closes_total",
    "Connections closed because a peer sent a bad or oversized frame",
    () => t().oversizedCloses,
  );
  one(
    "elasticore_transport_reconnects_total",
    "Re-dials of peers whose connection was lost",
    () => t().reconnects,
  );
  one("elasticore_transport_dial_failures_total", "Failed dials", () => t().dialFailures);
  one(
    "elasticore_transport_orphan_replies_total",
    "Replies nobody waited for any more (late or duplicate)",
    () => t().orphanReplies,
  );
  one(
    "elasticore_transport_fault_drops_total",
    "Frames dropped by the fault injector",
    () => t().faultDrops,
  );
  const d = src.datagrams;
  if (!d) return;
  scrapedCounter(
    registry,
    "elasticore_transport_datagrams_total",
    "Gossip datagrams sent and accepted",
    () => {
      const c = d();
      return c ? [[{ dir: "in" }, c.received], [{ dir: "out" }, c.sent]] : [];
    },
  );
  scrapedCounter(
    registry,
    "elasticore_transport_dropped_datagrams_total",
    "Gossip datagrams dropped before SWIM saw them, by reason",
    () => byKey(d()?.droppedByReason ?? new Map(), "reason"),
  );
  one(
    "elasticore_transport_datagram_send_errors_total",
    "Gossip datagrams the socket refused to send",
    () => d()?.sendErrors ?? 0,
  );
}
