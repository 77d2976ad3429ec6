/**
 * Deterministic simulation: seeded PRNG, virtual clock, event queue,
 * simulated network and disk, crashes and invariants.
 *
 * @module
 */
export { Prng } from "./prng.ts";
export { EventQueue, type TimedEvent } from "./event_queue.ts";
export { TraceHasher } from "./trace.ts";
export { SimDisk } from "./disk.ts";
export { type LinkConfig, type NetworkStats, SimNetwork } from "./network.ts";
export { type SimReport } from "./report.ts";
export {
  type EventHandle,
  type Invariant,
  SimulationFailure,
  Simulator,
  type SimulatorOptions,
} from "./simulator.ts";
