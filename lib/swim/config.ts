/**
 * SWIM configuration: the `[swim]` section of the node configuration plus a
 * few tuning knobs that have no TOML key (memberlist LAN-like defaults), and
 * the derived quantities (retransmit limit, suspicion timeouts, push/pull
 * scaling).
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";

/** Every timing and fan-out parameter of the SWIM core. */
export interface SwimConfig {
  /** `probe_interval_ms`: one probe per interval (scaled by local health). */
  probeIntervalMs: number;
  /** `probe_timeout_ms`: wait this long for a direct ack before probing indirectly. */
  probeTimeoutMs: number;
  /** `indirect_checks`: members asked to ping a target indirectly (k). */
  indirectChecks: number;
  /** `suspicion_mult`: minimum suspicion timeout = mult · max(1, log10 N) · probe interval. */
  suspicionMult: number;
  /** `retransmit_mult`: an update is sent ⌈mult · log10(N+1)⌉ times. */
  retransmitMult: number;
  /** `gossip_interval_ms`: period of the extra gossip round. */
  gossipIntervalMs: number;
  /** `gossip_nodes`: random members per gossip round. */
  gossipNodes: number;
  /** `push_pull_interval_ms`: period of the full-state exchange (scaled up above 32 members). */
  pushPullIntervalMs: number;
  /** `lifeguard`: local health awareness, dynamic suspicion, buddy system and nacks. */
  lifeguard: boolean;
  /** Lifeguard: maximum suspicion timeout = this × the minimum one (memberlist: 6). */
  suspicionMaxTimeoutMult: number;
  /** Lifeguard: highest local health score; timeouts are multiplied by (1 + score). */
  awarenessMaxScore: number;
  /**
   * Also probe over the (reliable) stream transport when the direct ping
   * times out, as memberlist's TCP fallback ping does.
   */
  streamFallbackPing: boolean;
  /** Dead and left members stay as tombstones this long before they are forgotten. */
  tombstoneMs: number;
  /** Dead and left members still receive gossip this long (so they can refute). */
  gossipToTheDeadMs: number;
  /** Largest datagram produced, in bytes (updates are packed up to this size). */
  maxDatagramBytes: number;
  /** Most updates waiting for retransmission; older ones are dropped beyond it. */
  maxBroadcastQueue: number;
  /** Delay before retrying a join through the seeds (doubles up to 8×). */
  joinRetryMs: number;
  /** Join attempts before giving up; 0 retries forever. */
  joinMaxAttempts: number;
}

/** Defaults: the `[swim]` defaults of the configuration file and memberlist's LAN profile. */
export const DEFAULT_SWIM_CONFIG: Readonly<SwimConfig> = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  retransmitMult: 4,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  pushPullIntervalMs: 30000,
  lifeguard: true,
  suspicionMaxTimeoutMult: 6,
  awarenessMaxScore: 8,
  streamFallbackPing: true,
  tombstoneMs: 60000,
  gossipToTheDeadMs: 30000,
  maxDatagramBytes: 1400,
  maxBroadcastQueue: 1024,
  joinRetryMs: 1000,
  joinMaxAttempts: 0,
});

/** The `[swim]` section of the TOML configuration (snake_case keys, all optional). */
export interface SwimSection {
  /** See {@link SwimConfig.probeIntervalMs}. */
  probe_interval_ms?: number;
  /** See {@link SwimConfig.probeTimeoutMs}. */
  probe_timeout_ms?: number;
  /** See {@link SwimConfig.indirectChecks}. */
  indirect_checks?: number;
  /** See {@link SwimConfig.suspicionMult}. */
  suspicion_mult?: number;
  /** See {@link SwimConfig.retransmitMult}. */
  retransmit_mult?: number;
  /** See {@link SwimConfig.gossipIntervalMs}. */
  gossip_interval_ms?: number;
  /** See {@link SwimConfig.gossipNodes}. */
  gossip_nodes?: number;
  /** See {@link SwimConfig.pushPullIntervalMs}. */
  push_pull_interval_ms?: number;
  /** See {@link SwimConfig.lifeguard}. */
  lifeguard?: boolean;
  /** Seed gossip addresses; used by the shell's join, not by the timing core. */
  seeds?: string[];
}

/** Maps a validated `[swim]` section onto a full {@link SwimConfig}. */
export function swimConfigFromSection(
  section: SwimSection,
  extra: Partial<SwimConfig> = {},
): SwimConfig {
  const s = section;
  return validateSwimConfig({
    ...DEFAULT_SWIM_CONFIG,
    ...definedOnly({
      probeIntervalMs: s.probe_interval_ms,
      probeTimeoutMs: s.probe_timeout_ms,
      indirectChecks: s.indirect_checks,
      suspicionMult: s.suspicion_mult,
      retransmitMult: s.retransmit_mult,
      gossipIntervalMs: s.gossip_interval_ms,
      gossipNodes: s.gossip_nodes,
      pushPullIntervalMs: s.push_pull_interval_ms,
      lifeguard: s.lifeguard,
    }),
    ...extra,
  });
}

function definedOnly(o: Record<string, number | boolean | undefined>): Partial<SwimConfig> {
  const out: Record<string, number | boolean> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as Partial<SwimConfig>;
}

const POSITIVE: (keyof SwimConfig)[] = [
  "probeIntervalMs",
  "probeTimeoutMs",
  "suspicionMult",
  "retransmitMult",
  "gossipIntervalMs",
  "pushPullIntervalMs",
  "suspicionMaxTimeoutMult",
  "maxDatagramBytes",
  "maxBroadcastQueue",
  "joinRetryMs",
];
const NON_NEGATIVE: (keyof SwimConfig)[] = [
  "indirectChecks",
  "gossipNodes",
  "awarenessMaxScore",
  "tombstoneMs",
  "gossipToTheDeadMs",
  "joinMaxAttempts",
];

/** Checks ranges; throws `ElasticoreError("swim_config_invalid")` naming the first bad key. */
export function validateSwimConfig(cfg: SwimConfig): SwimConfig {
  const bad = (key: string, why: string): never => {
    throw new ElasticoreError("swim_config_invalid", `swim.${key}: ${why}`, {
      hint: "fix the [swim] section of the configuration file",
    });
  };
  for (const k of POSITIVE) {
    const v = cfg[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) bad(k, "must be a number > 0");
  }
  for (const k of NON_NEGATIVE) {
    const v = cfg[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) bad(k, "must be an integer >= 0");
  }
  if (cfg.probeTimeoutMs > cfg.probeIntervalMs) {
    bad("probeTimeoutMs", "must not exceed probe_interval_ms");
  }
  if (cfg.suspicionMaxTimeoutMult < 1) bad("suspicionMaxTimeoutMult", "must be >= 1");
  if (typeof cfg.lifeguard !== "boolean") bad("lifeguard", "must be true or false");
  if (typeof cfg.streamFallbackPing !== "boolean") {
    bad("streamFallbackPing", "must be true or false");
  }
  return cfg;
}

/** Times an update is (re)transmitted in a cluster of `n` members: ⌈mult · log10(n+1)⌉. */
export function retransmitLimit(mult: number, n: number): number {
  return Math.max(1, Math.ceil(mult * Math.log10(Math.max(1, n) + 1)));
}

/** Minimum suspicion timeout in ms: mult · max(1, log10 n) · probe interval. */
export function suspicionMinMs(cfg: SwimConfig, n: number): number {
  return cfg.suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * cfg.probeIntervalMs;
}

/** Maximum suspicion timeout in ms (equals the minimum without Lifeguard). */
export function suspicionMaxMs(cfg: SwimConfig, n: number): number {
  const min = suspicionMinMs(cfg, n);
  return cfg.lifeguard ? min * cfg.suspicionMaxTimeoutMult : min;
}

/** Push/pull period for `n` members: memberlist's scaling, ×(⌈log2 n − log2 32⌉ + 1) above 32. */
export function pushPullIntervalMs(cfg: SwimConfig, n: number): number {
  if (n <= 32) return cfg.pushPullIntervalMs;
  return cfg.pushPullIntervalMs * (Math.ceil(Math.log2(n) - Math.log2(32)) + 1);
}
