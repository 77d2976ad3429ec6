/**
 * A hand-driven harness for SWIM cores (no simulator, no network): each call
 * delivers one message or advances one core's clock, so unit tests and
 * examples control every step.
 *
 * @module
 */
import type { SwimDatagram, Update } from "../../proto/swim.ts";
import { Prng } from "../sim/prng.ts";
import { DEFAULT_SWIM_CONFIG, type SwimConfig } from "./config.ts";
import { SwimCore } from "./core.ts";
import type { SendEffect, SwimEffect, SwimEvent } from "./types.ts";

/** A core plus everything it emitted. */
export interface TestNode {
  /** The core. */
  core: SwimCore;
  /** Every effect drained so far. */
  effects: SwimEffect[];
  /** Events only. */
  events: SwimEvent[];
}

/** Defaults without the stream fallback ping (so datagram loss decides), with overrides. */
export function testConfig(over: Partial<SwimConfig> = {}): SwimConfig {
  return { ...DEFAULT_SWIM_CONFIG, streamFallbackPing: false, ...over };
}

/** Creates a started core named `id` that knows `peers` (warm start). */
export function makeNode(
  id: string,
  peers: string[],
  cfg: SwimConfig = testConfig(),
  seed = 1,
): TestNode {
  const core = new SwimCore({
    self: { id, addr: `${id}:7401` },
    config: cfg,
    rng: new Prng(seed),
    now: 0,
  });
  core.bootstrap(
    peers.filter((p) => p !== id).map((p) => ({
      id: p,
      addr: `${p}:7401`,
      inc: 0,
      state: "alive" as const,
      meta: {},
    })),
    0,
  );
  core.start(0);
  const node: TestNode = { core, effects: [], events: [] };
  collect(node);
  return node;
}

/** Drains the core's effects into the node's log and returns them. */
export function collect(node: TestNode): SwimEffect[] {
  const fx = node.core.drain();
  node.effects.push(...fx);
  for (const e of fx) if (e.type === "event") node.events.push(e.event);
  return fx;
}

/** The datagrams among `fx`. */
export function sends(fx: SwimEffect[]): SendEffect[] {
  return fx.filter((e): e is SendEffect => e.type === "send");
}

/** The latest wake time among `fx`. */
export function wakeAt(fx: SwimEffect[]): number | undefined {
  let at: number | undefined;
  for (const e of fx) if (e.type === "wake") at = e.at;
  return at;
}

/** Advances `node` to `now` (calls tick) and returns the new effects. */
export function tickTo(node: TestNode, now: number): SwimEffect[] {
  node.core.tick(now);
  return collect(node);
}

/** Delivers `msg` to `node` from `fromId` and returns the new effects. */
export function deliver(
  node: TestNode,
  fromId: string,
  msg: SwimDatagram,
  now: number,
): SwimEffect[] {
  node.core.receive(`${fromId}:7401`, msg, now);
  return collect(node);
}

/** A gossip datagram from `from` carrying `updates`. */
export function gossip(from: string, updates: Update[]): SwimDatagram {
  return { type: "swim.gossip", body: { from, gossip: updates } };
}

/** Ticks `node` through time in `stepMs` steps until `until`, collecting effects. */
export function runUntil(node: TestNode, from: number, until: number, stepMs = 50): SwimEffect[] {
  const all: SwimEffect[] = [];
  for (let t = from; t <= until; t += stepMs) all.push(...tickTo(node, t));
  return all;
}
