/**
 * app2, step 1 (user operator): keep the rows whose column equals a value.
 * Self-contained so it can be uploaded to the DFS and loaded by a worker.
 * Params: `value` (required), `column` (default `Sign_Post`).
 *
 * @module
 */

/** A record: string or number fields. */
export type Rec = Record<string, string | number>;

/** The context a user operator receives. */
export interface Ctx {
  /** The stage's args. */
  params: Readonly<Record<string, string>>;
}

/** Returns the record if its column equals the value, otherwise nothing. */
export function process(record: Rec, ctx: Ctx): Rec | null {
  const column = ctx.params.column ?? "Sign_Post";
  return String(record[column] ?? "") === (ctx.params.value ?? "") ? record : null;
}
