/**
 * app2, step 2 (stateful user operator): a running count per category, kept
 * in the checkpointed keyed state `ctx.state`.
 * Self-contained so it can be uploaded to the DFS and loaded by a worker.
 * Params: `column` (default `Category`).
 *
 * @module
 */

/** A record: string or number fields. */
export type Rec = Record<string, string | number>;

/** The context a user operator receives. */
export interface Ctx {
  /** Keyed state, checkpointed with the task. */
  state: { get(key: string): unknown; set(key: string, value: unknown): void };
  /** The stage's args. */
  params: Readonly<Record<string, string>>;
}

/** Counts the record under its category and emits `{ <column>: category, count }`. */
export function process(record: Rec, ctx: Ctx): Rec {
  const column = ctx.params.column ?? "Category";
  const key = String(record[column] ?? "");
  const prev = ctx.state.get(key);
  const count = (typeof prev === "number" ? prev : 0) + 1;
  ctx.state.set(key, count);
  return { [column]: key, count };
}
