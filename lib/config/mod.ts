/**
 * The node configuration: schema, loading (file, environment, flags) and
 * rendering. See `loadConfig` for precedence and error codes.
 *
 * @module
 */
export {
  ALL_KEYS,
  type Config,
  configSchema,
  type HostPort,
  LOG_LEVELS,
  type LogLevelName,
  type Member,
  NODE_ID_RE,
  parseHostPort,
  parseMember,
  ROLES,
  SECTION_NAMES,
  type SectionName,
  type Subsystem,
  SUBSYSTEMS,
} from "./schema.ts";
export { buildConfig, loadConfig, type LoadConfigOptions } from "./load.ts";
export { type ConfigFlags, FLAG_SHORTCUTS, NON_CONFIG_ENV } from "./sources.ts";
export { formatConfig } from "./format.ts";
