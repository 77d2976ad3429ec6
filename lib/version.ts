/**
 * Version and build information of this binary.
 *
 * @module
 */

/** The product version; keep in step with `deno.json`. */
export const VERSION = "0.1.0";

/** What `elasticore version` prints, as data. */
export interface BuildInfo {
  /** Product version. */
  version: string;
  /** Deno runtime version. */
  deno: string;
  /** V8 version. */
  v8: string;
  /** TypeScript version. */
  typescript: string;
  /** Target triple this binary runs on. */
  target: string;
}

/** Version and build information of the running binary. */
export function buildInfo(): BuildInfo {
  return {
    version: VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    target: Deno.build.target,
  };
}
