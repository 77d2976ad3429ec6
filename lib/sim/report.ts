/**
 * The summary every protocol simulation returns, printed by `deno task sim`.
 *
 * @module
 */

/** Result of one seeded simulation run of a protocol. */
export interface SimReport {
  /** Which protocol ran, e.g. `raft`. */
  protocol: string;
  /** The seed that replays this run. */
  seed: number;
  /** Events executed. */
  steps: number;
  /** Virtual time reached, in ms. */
  virtualMs: number;
  /** Trace hash: equal for equal seeds and options. */
  traceHash: string;
  /** Protocol-specific numbers (commits, elections, detection times, ...). */
  summary: Record<string, number | string | boolean>;
}
