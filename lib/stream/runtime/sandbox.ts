/**
 * User operators in a sandbox: each user stage of a task runs in its own Web
 * Worker created with `deno: { permissions: "none" }`, so the module cannot
 * read files, use the network, read the environment or run programs. The
 * module's source (read from the {@link StreamFs}) is handed to the worker
 * as a `data:` URL and imported there; nothing else is reachable.
 *
 * The worker runs the same contract as `operators/user.ts`: `process(record,
 * ctx)` with keyed JSON state `ctx.state`, `ctx.params`, `ctx.key`; it
 * returns a record, an array of records or nothing. Records are sent in
 * batches; a record whose `process` throws (or returns something that is not
 * a record) is reported back with its error instead of failing the batch,
 * so the task can dead-letter it. State is snapshotted and restored with
 * the task. A call the worker does not answer within `timeoutMs` (an
 * endless loop) terminates it and fails the task.
 *
 * Per-worker permissions are an unstable Deno API: the process needs
 * `--unstable-worker-options` (deno.json `"unstable": [..., "worker-options"]`,
 * which `deno compile` also reads). Without it Deno 2.9 terminates the
 * process when such a worker is created, so a user operator can never run
 * unsandboxed; any other failure to start the worker is reported as
 * `stream_sandbox_unavailable`.
 *
 * @module
 */
import { ElasticoreError } from "../../errors.ts";
import type { StreamRecord } from "../record.ts";
import type { SnapshotValue } from "../operators/types.ts";

/** The script every sandbox worker runs (plain JavaScript; it imports the user module). */
const HARNESS = `
let mod = null, params = {}, key = undefined, state = new Map();
const isField = (x) => typeof x === "string" || (typeof x === "number" && Number.isFinite(x));
const isRec = (v) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  for (const x of Object.values(v)) if (!isField(x)) return false;
  return true;
};
const isJson = (v) => {
  if (v === null || typeof v === "string" || typeof v === "boolean") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(isJson);
  if (typeof v === "object") {
    const p = Object.getPrototypeOf(v);
    if (p !== Object.prototype && p !== null) return false;
    return Object.values(v).every(isJson);
  }
  return false;
};
const userState = {
  get: (k) => state.get(String(k)),
  set: (k, v) => {
    if (!isJson(v)) throw new Error('state value for "' + k + '" is not JSON');
    state.set(String(k), structuredClone(v));
  },
  delete: (k) => { state.delete(String(k)); },
};
const msg = (e) => (e instanceof Error ? e.message : String(e));
self.onmessage = async (e) => {
  const m = e.data;
  try {
    if (m.t === "load") {
      mod = await import(m.url);
      if (typeof mod.process !== "function") throw new Error("the module does not export process(record, ctx)");
      params = Object.freeze({ ...(m.params ?? {}) });
      key = m.key;
      self.postMessage({ id: m.id, ok: true });
    } else if (m.t === "batch") {
      const out = [], errors = [];
      const recs = m.records;
      for (let i = 0; i < recs.length; i++) {
        const rec = recs[i];
        const ctx = { state: userState, params, key: key === undefined ? undefined : String(rec[key] ?? "") };
        try {
          const r = mod.process(rec, ctx);
          if (r === null || r === undefined) continue;
          if (Array.isArray(r)) {
            if (!r.every(isRec)) throw new Error("returned a non-record in an array");
            for (const x of r) out.push(x);
          } else if (isRec(r)) out.push(r);
          else throw new Error("returned something that is not a record of strings/numbers");
        } catch (err) {
          errors.push({ index: i, message: msg(err) });
        }
      }
      self.postMessage({ id: m.id, ok: true, out, errors });
    } else if (m.t === "snapshot") {
      self.postMessage({ id: m.id, ok: true, state: [...state] });
    } else if (m.t === "restore") {
      state = new Map(m.state);
      self.postMessage({ id: m.id, ok: true });
    }
  } catch (err) {
    self.postMessage({ id: m.id, ok: false, error: msg(err) });
  }
};
`;

/** A record a user operator could not handle. */
export interface UserRecordError {
  /** Index of the record in the batch. */
  index: number;
  /** What went wrong. */
  message: string;
}

/** Options of {@link SandboxedOperator.load}. */
export interface SandboxOptions {
  /** The module's DFS path (named in errors). */
  name: string;
  /** The stage's `args`. */
  params?: Record<string, string>;
  /** The key column of a keyed stage. */
  key?: string;
  /** Longest a call may take before the worker is terminated (default 30 s). */
  timeoutMs?: number;
}

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  out?: StreamRecord[];
  errors?: UserRecordError[];
  state?: [string, SnapshotValue][];
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** The `data:` URL of a module source (TypeScript or JavaScript). */
export function moduleDataUrl(source: Uint8Array, path: string): string {
  const type = /\.(c|m)?js$/.test(path) ? "text/javascript" : "application/typescript";
  return `data:${type};base64,${base64(source)}`;
}

function sandboxError(name: string, message: string): ElasticoreError {
  return new ElasticoreError("stream_user_operator", `user operator ${name}: ${message}`, {
    hint: "fix the operator module; process(record, ctx) must return records",
  });
}

/** A user operator running in a permission-less Web Worker. */
export class SandboxedOperator {
  readonly #worker: Worker;
  readonly #name: string;
  readonly #timeoutMs: number;
  readonly #waiting = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();
  #nextId = 1;
  #dead: Error | null = null;

  private constructor(worker: Worker, name: string, timeoutMs: number) {
    this.#worker = worker;
    this.#name = name;
    this.#timeoutMs = timeoutMs;
    worker.onmessage = (e: MessageEvent<Reply>) => {
      const w = this.#waiting.get(e.data.id);
      this.#waiting.delete(e.data.id);
      w?.resolve(e.data);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#kill(sandboxError(name, `crashed: ${e.message}`));
    };
  }

  /** Starts a worker and loads the module `source` into it. */
  static async load(source: Uint8Array, opts: SandboxOptions): Promise<SandboxedOperator> {
    let worker: Worker;
    const url = `data:text/javascript;base64,${base64(new TextEncoder().encode(HARNESS))}`;
    try {
      worker = new Worker(url, { type: "module", deno: { permissions: "none" } });
    } catch (e) {
      throw new ElasticoreError(
        "stream_sandbox_unavailable",
        `cannot start a sandboxed worker for ${opts.name}: ${(e as Error).message}`,
        { hint: "run with --unstable-worker-options (deno.json unstable: worker-options)" },
      );
    }
    const op = new SandboxedOperator(worker, opts.name, opts.timeoutMs ?? 30_000);
    try {
      await op.#call({
        t: "load",
        url: moduleDataUrl(source, opts.name),
        params: opts.params ?? {},
        key: opts.key,
      });
    } catch (e) {
      op.close();
      throw e;
    }
    return op;
  }

  #kill(err: Error): void {
    if (this.#dead) return;
    this.#dead = err;
    this.#worker.terminate();
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }

  async #call(msg: Record<string, unknown>): Promise<Reply> {
    if (this.#dead) throw this.#dead;
    const id = this.#nextId++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const reply = await new Promise<Reply>((resolve, reject) => {
        this.#waiting.set(id, { resolve, reject });
        timer = setTimeout(() => {
          this.#kill(sandboxError(this.#name, `no answer within ${this.#timeoutMs} ms`));
        }, this.#timeoutMs);
        this.#worker.postMessage({ ...msg, id });
      });
      if (!reply.ok) throw sandboxError(this.#name, reply.error ?? "failed");
      return reply;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a batch; records that failed are reported in `errors` (by index), not thrown. */
  async processBatch(
    records: readonly StreamRecord[],
  ): Promise<{ out: StreamRecord[]; errors: UserRecordError[] }> {
    const r = await this.#call({ t: "batch", records });
    return { out: r.out ?? [], errors: r.errors ?? [] };
  }

  /** The keyed state as `[key, value]` pairs. */
  async snapshot(): Promise<SnapshotValue> {
    const r = await this.#call({ t: "snapshot" });
    return (r.state ?? []) as SnapshotValue;
  }

  /** Restores keyed state made by {@link snapshot}. */
  async restore(state: SnapshotValue): Promise<void> {
    if (!Array.isArray(state) || !state.every((e) => Array.isArray(e) && e.length === 2)) {
      throw sandboxError(this.#name, "bad state snapshot");
    }
    await this.#call({ t: "restore", state });
  }

  /** Terminates the worker. */
  close(): void {
    this.#kill(sandboxError(this.#name, "closed"));
  }
}
