/**
 * User operators: a module exporting `process(record, ctx)`.
 *
 * `ctx.state` is keyed state (`get`/`set`/`delete`) whose values must be
 * JSON values; it is snapshotted and restored with the task like any built-in
 * state. `ctx.params` are the stage's `args`; `ctx.key` is the value of the
 * record's key column when the stage is keyed. `process` returns a record, an
 * array of records, or `null`/`undefined` for none.
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";
import { isStreamRecord, type StreamRecord } from "../record.ts";
import { isSnapshotValue, KeyedState, type Operator, type SnapshotValue } from "./types.ts";

/** Keyed state as a user operator sees it. */
export interface UserState {
  /** The value stored for `key`. */
  get(key: string): unknown;
  /** Stores a JSON value for `key`. */
  set(key: string, value: unknown): void;
  /** Removes `key`. */
  delete(key: string): void;
}

/** What `process` receives besides the record. */
export interface UserContext {
  /** Keyed, checkpointed state. */
  readonly state: UserState;
  /** The stage's `args`. */
  readonly params: Readonly<Record<string, string>>;
  /** The record's key when the stage is keyed. */
  readonly key: string | undefined;
}

/** The shape of a user operator module. */
export interface UserModule {
  /** Handles one record. */
  process(record: StreamRecord, ctx: UserContext): unknown;
}

/** True if `m` looks like a user module (has a `process` function). */
export function isUserModule(m: unknown): m is UserModule {
  return typeof m === "object" && m !== null &&
    typeof (m as { process?: unknown }).process === "function";
}

function userError(module: string, message: string): ElasticoreError {
  return new ElasticoreError("stream_user_operator", `user operator ${module}: ${message}`, {
    hint: "fix the operator module; process(record, ctx) must return records",
  });
}

/** Runs a user module as an operator. */
export class UserOperator implements Operator {
  /** `user`. */
  readonly kind = "user";
  readonly #mod: UserModule;
  readonly #name: string;
  readonly #key: string | undefined;
  readonly #state = new KeyedState();
  readonly #params: Readonly<Record<string, string>>;
  readonly #userState: UserState;

  /** `name` identifies the module in errors; `key` is the resolved key column. */
  constructor(
    mod: UserModule,
    name: string,
    params: Record<string, string> | undefined,
    key: string | undefined,
  ) {
    this.#mod = mod;
    this.#name = name;
    this.#key = key;
    this.#params = Object.freeze({ ...params });
    const st = this.#state;
    this.#userState = {
      get: (k) => st.get(String(k)),
      set: (k, v) => {
        if (!isSnapshotValue(v)) throw userError(name, `state value for "${k}" is not JSON`);
        st.set(String(k), v);
      },
      delete: (k) => st.delete(String(k)),
    };
  }

  /** Calls `process` and validates what it returns. */
  process(rec: StreamRecord, out: StreamRecord[]): void {
    const key = this.#key === undefined ? undefined : String(rec[this.#key] ?? "");
    let r: unknown;
    try {
      r = this.#mod.process(rec, { state: this.#userState, params: this.#params, key });
    } catch (e) {
      if (e instanceof ElasticoreError) throw e;
      throw userError(this.#name, `process threw: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (r === null || r === undefined) return;
    if (Array.isArray(r)) {
      for (const x of r) {
        if (!isStreamRecord(x)) throw userError(this.#name, "returned a non-record in an array");
        out.push(x);
      }
      return;
    }
    if (!isStreamRecord(r)) {
      throw userError(this.#name, "returned something that is not a record of strings/numbers");
    }
    out.push(r);
  }

  /** User operators hold nothing back. */
  finish(_out: StreamRecord[]): void {}

  /** The keyed state as `[key, value]` pairs. */
  snapshot(): SnapshotValue {
    return this.#state.snapshot();
  }

  /** Restores the keyed state. */
  restore(state: SnapshotValue): void {
    this.#state.restore(state, this.kind, (v): v is SnapshotValue => isSnapshotValue(v));
  }
}
