/**
 * ElastiCore as a library: the wire codec, the deterministic simulator and
 * the subsystems a node is composed of.
 *
 * @module
 */
export * from "./proto/codec.ts";
export * as schema from "./proto/schema.ts";
export * as sim from "./lib/sim/mod.ts";
export { ElasticoreError } from "./lib/errors.ts";
export { type BuildInfo, buildInfo, VERSION } from "./lib/version.ts";
