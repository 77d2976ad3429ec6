/**
 * app1, step 2 (user operator): project `OBJECTID, Sign_Type`.
 * Self-contained so it can be uploaded to the DFS and loaded by a worker.
 *
 * @module
 */

/** A record: string or number fields. */
export type Rec = Record<string, string | number>;

/** Returns `{ OBJECTID, Sign_Type }` of the record. */
export function process(record: Rec): Rec {
  return { OBJECTID: record.OBJECTID ?? "", Sign_Type: record.Sign_Type ?? "" };
}
