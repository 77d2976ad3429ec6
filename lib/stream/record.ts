/**
 * The stream record model.
 *
 * A record is a flat object whose values are strings or finite numbers:
 * - CSV sources produce one string field per header column (values are never
 *   converted: `"0012"` stays `"0012"`);
 * - line sources produce `{ line }`;
 * - NDJSON sources keep strings and finite numbers, turn booleans into
 *   `"true"`/`"false"`, `null` into `""` and nested values into their JSON text;
 * - aggregating operators (`sum`, `min`, `max`, `avg`, windows) parse the
 *   aggregated column with {@link toNumber} and emit numbers; `count` emits
 *   an integer.
 *
 * Records are treated as immutable: operators build new objects instead of
 * changing their input.
 *
 * @module
 */

/** One field value. */
export type FieldValue = string | number;

/** One stream record: a flat object of string or number fields. */
export type StreamRecord = Record<string, FieldValue>;

/** A field as text (numbers in their shortest round-trip form; a missing field is `""`). */
export function fieldText(rec: StreamRecord, column: string): string {
  const v = rec[column];
  if (v === undefined) return "";
  return typeof v === "string" ? v : String(v);
}

/** A field as a number, or `undefined` when it is missing, empty or not numeric. */
export function toNumber(v: FieldValue | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
  const t = v.trim();
  if (t === "") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** Converts a parsed JSON value into a record field (see the module doc for the rules). */
export function jsonToField(v: unknown): FieldValue {
  if (typeof v === "string") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v === null || v === undefined) return "";
  return JSON.stringify(v);
}

/** True if `v` is a plain object whose values are all valid {@link FieldValue}s. */
export function isStreamRecord(v: unknown): v is StreamRecord {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  for (const x of Object.values(v)) {
    if (typeof x === "string") continue;
    if (typeof x === "number" && Number.isFinite(x)) continue;
    return false;
  }
  return true;
}
