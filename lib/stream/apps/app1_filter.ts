/**
 * app1, step 1 (user operator): keep the rows whose column contains a pattern.
 * Self-contained so it can be uploaded to the DFS and loaded by a worker.
 * Params: `pattern` (required), `column` (default `Sign_Type`).
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

/** Returns the record if its column contains the pattern, otherwise nothing. */
export function process(record: Rec, ctx: Ctx): Rec | null {
  const column = ctx.params.column ?? "Sign_Type";
  const pattern = ctx.params.pattern ?? "";
  const v = record[column];
  return String(v ?? "").includes(pattern) ? record : null;
}
