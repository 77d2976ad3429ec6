/**
 * SWIM membership with Lifeguard: the sans-I/O core, its configuration and
 * its deterministic simulation.
 *
 * @module
 */
export { SwimCore, type SwimCoreOptions } from "./core.ts";
export { type LocalNode, metaEqual } from "./state.ts";
export {
  DEFAULT_SWIM_CONFIG,
  pushPullIntervalMs,
  retransmitLimit,
  suspicionMaxMs,
  suspicionMinMs,
  type SwimConfig,
  swimConfigFromSection,
  type SwimSection,
  validateSwimConfig,
} from "./config.ts";
export type {
  EventEffect,
  JoinFailedEffect,
  Member,
  MemberStatus,
  PushPullEffect,
  RandomSource,
  SendEffect,
  StreamPingEffect,
  SwimEffect,
  SwimEvent,
  SwimEventKind,
  WakeEffect,
} from "./types.ts";
export { Awareness, Suspicion, suspicionTimeoutMs } from "./suspicion.ts";
export { type DetectionBound, detectionBoundMs, joinBoundMs } from "./bound.ts";
export { runSwimSimulation, type SwimSimOptions } from "./simulation.ts";
export {
  type MemberView as SwimMemberView,
  SwimNode,
  type SwimNodeOptions,
  swimNodeOptionsFromConfig,
} from "./node.ts";
export { nodeMeta, swimRpcMessages } from "./node_wire.ts";
