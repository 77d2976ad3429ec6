/**
 * The KV part of a chaos run: clients doing reads, writes, compare-and-set
 * and deletes on a few keys through random masters, recording a history
 * (invocation and response times; unknown outcome for timeouts, connection
 * errors and ambiguous failures), and the per-key model the linearizability
 * checker runs it against.
 *
 * The model tracks a set of possible states per key, because a write whose
 * outcome is unknown has an unknown version (the Raft index it got, if it
 * took effect). Reads and CAS answers (`409` names the current version)
 * narrow the set; every written value is unique, so a value names its write.
 *
 * @module
 */
import type { Prng } from "../../lib/sim/prng.ts";
import { checkLinearizable, type Model, type Operation } from "../../lib/sim/linearizability.ts";
import { type ChaosCluster, sleep } from "./cluster.ts";

/** One KV operation as the history records it. */
export type KvOp =
  | { op: "get"; key: string }
  | { op: "put"; key: string; value: string; cas?: number }
  | { op: "del"; key: string };

/** A KV answer: reads give value/version; writes give `ok` and the version. */
export interface KvAnswer {
  /** Read: the value (null when absent). */
  value?: string | null;
  /** Read or write: the version (409: the current one, when known). */
  version?: number;
  /** Write applied (false: CAS mismatch). */
  ok?: boolean;
  /** Delete: whether the key existed. */
  existed?: boolean;
}

/** One possible state of a key; `version` null = present with an unknown version. */
interface Cand {
  value: string | null;
  version: number | null;
}

type State = readonly Cand[];

const ABSENT: Cand = { value: null, version: 0 };

function candKey(c: Cand): string {
  return `${c.version ?? "?"}:${c.value === null ? "-" : JSON.stringify(c.value)}`;
}

function dedupe(cands: Cand[]): Cand[] {
  const by = new Map<string, Cand>();
  for (const c of cands) by.set(candKey(c), c);
  return [...by.keys()].sort().map((k) => by.get(k)!);
}

/** The successors of one candidate state under `input` with answer `out`. */
export function stepCand(c: Cand, input: KvOp, out: KvAnswer | undefined): Cand[] {
  if (input.op === "get") {
    if (!out) return [c];
    if (c.value !== (out.value ?? null)) return [];
    if (c.version === null) return [{ value: c.value, version: out.version ?? null }];
    return c.version === out.version ? [c] : [];
  }
  if (input.op === "del") {
    if (out && out.existed !== undefined && out.existed !== (c.value !== null)) return [];
    return [ABSENT];
  }
  // put, maybe conditional: which "allowed" outcomes are possible for c?
  const cas = input.cas;
  const branches: { allowed: boolean; c: Cand }[] = [];
  if (cas === undefined) branches.push({ allowed: true, c });
  else if (c.version !== null) branches.push({ allowed: cas === c.version, c });
  else if (cas === 0) branches.push({ allowed: false, c }); // present: "must not exist" fails
  else {
    branches.push({ allowed: true, c: { value: c.value, version: cas } });
    branches.push({ allowed: false, c });
  }
  const next: Cand[] = [];
  for (const b of branches) {
    if (!out) {
      next.push(b.allowed ? { value: input.value, version: null } : b.c);
      continue;
    }
    if (out.ok !== b.allowed) continue;
    if (b.allowed) {
      next.push({ value: input.value, version: out.version ?? null });
    } else if (out.version === undefined) {
      next.push(b.c);
    } else if (b.c.version === null) {
      if (out.version !== cas) next.push({ value: b.c.value, version: out.version });
    } else if (b.c.version === out.version) {
      next.push(b.c);
    }
  }
  return next;
}

/** The per-key model of the versioned KV store, with sets of possible states. */
export const chaosKvModel: Model<State, KvOp, KvAnswer> = {
  init: () => [ABSENT],
  step(state, input, output) {
    const next = dedupe(state.flatMap((c) => stepCand(c, input, output)));
    return { ok: next.length > 0, state: next.length ? next : state };
  },
  key: (s) => s.map(candKey).join("|"),
  partition(ops) {
    const by = new Map<string, Operation<KvOp, KvAnswer>[]>();
    for (const op of ops) {
      const list = by.get(op.input.key);
      if (list) list.push(op);
      else by.set(op.input.key, [op]);
    }
    return [...by.keys()].sort().map((k) => by.get(k)!);
  },
  describe(op) {
    const i = op.input;
    const what = i.op === "put"
      ? `put(${i.key}=${i.value}${i.cas === undefined ? "" : ` cas ${i.cas}`})`
      : `${i.op}(${i.key})`;
    const out = op.output === undefined ? "?" : JSON.stringify(op.output);
    const ret = op.ret === Infinity ? "∞" : op.ret.toFixed(0);
    return `c${op.client} ${what}->${out} [${op.call.toFixed(0)},${ret}]`;
  },
};

/** Counters of the KV workload. */
export interface KvStats {
  /** Operations with a known outcome. */
  ok: number;
  /** Writes with an unknown outcome. */
  unknown: number;
  /** Reads that failed (no effect, not recorded). */
  failedReads: number;
  /** CAS writes that were refused with 409. */
  casMismatch: number;
}

/** The KV workload: `clients` loops over `keys` keys until `stop.done`. */
export class KvWorkload {
  /** The recorded history. */
  readonly history: Operation<KvOp, KvAnswer>[] = [];
  /** Counters. */
  readonly stats: KvStats = { ok: 0, unknown: 0, failedReads: 0, casMismatch: 0 };
  /** Why operations had no known outcome: `op status code` → count. */
  readonly errors = new Map<string, number>();
  readonly #c: ChaosCluster;
  readonly #keys: string[];
  readonly #t0 = performance.now();

  /** Prepares a workload on `keys` keys under `chaos/kv/`. */
  constructor(c: ChaosCluster, keys: number) {
    this.#c = c;
    this.#keys = Array.from({ length: keys }, (_, i) => `chaos/kv/k${i}`);
  }

  /** Runs `clients` client loops until `stop.done`; randomness from `prng`. */
  run(clients: number, prng: Prng, stop: { done: boolean }): Promise<void>[] {
    return Array.from({ length: clients }, (_, i) => this.#client(i, prng.fork(), stop));
  }

  async #client(id: number, rnd: Prng, stop: { done: boolean }): Promise<void> {
    const seen = new Map<string, number>();
    let n = 0;
    while (!stop.done) {
      n++;
      const masters = this.#c.up((x) => x.master);
      if (!masters.length) {
        await sleep(50);
        continue;
      }
      const via = rnd.pick(masters);
      const key = rnd.pick(this.#keys);
      const r = rnd.next();
      let input: KvOp;
      if (r < 0.45) input = { op: "get", key };
      else if (r < 0.7) input = { op: "put", key, value: `c${id}-${n}` };
      else if (r < 0.95) input = { op: "put", key, value: `c${id}-${n}`, cas: seen.get(key) ?? 0 };
      else input = { op: "del", key };
      const out = await this.#invoke(id, via, input);
      if (out?.version !== undefined) seen.set(key, out.version);
      if (out?.existed !== undefined || (input.op === "get" && out?.value === null)) {
        seen.set(key, 0);
      }
      await sleep(out === undefined ? 100 : rnd.between(5, 30));
    }
  }

  /** Performs one operation through `via`, records it and returns its answer (if known). */
  async #invoke(client: number | string, via: string, input: KvOp): Promise<KvAnswer | undefined> {
    const path = `/v1/kv/${input.key}`;
    const call = performance.now() - this.#t0;
    let status = 0;
    let text = "";
    try {
      const res = input.op === "get"
        ? await this.#c.request(via, "GET", path, undefined, 2_500)
        : input.op === "del"
        ? await this.#c.request(via, "DELETE", path, undefined, 2_500)
        : await this.#c.request(
          via,
          "PUT",
          input.cas === undefined ? path : `${path}?cas=${input.cas}`,
          input.value,
          2_500,
        );
      status = res.status;
      text = res.text;
    } catch {
      status = 0;
    }
    const ret = performance.now() - this.#t0;
    const out = answerOf(input, status, text);
    if (out === undefined) {
      const why = `${input.op} ${status || "timeout"} ${/"code":"([^"]+)"/.exec(text)?.[1] ?? ""}`;
      this.errors.set(why, (this.errors.get(why) ?? 0) + 1);
      if (input.op === "get") {
        this.stats.failedReads++;
        return undefined;
      }
      this.stats.unknown++;
      this.history.push({ client, input, call, ret: Infinity });
      return undefined;
    }
    if (out.ok === false) this.stats.casMismatch++;
    this.stats.ok++;
    this.history.push({ client, input, output: out, call, ret });
    return out;
  }

  /** Reads every key through every running master (recorded) once the cluster settled. */
  async finalReads(): Promise<number> {
    let n = 0;
    for (const via of this.#c.up((x) => x.master)) {
      for (const key of this.#keys) {
        for (let attempt = 0; attempt < 5; attempt++) {
          if (await this.#invoke(`final-${via}`, via, { op: "get", key })) {
            n++;
            break;
          }
          await sleep(200);
        }
      }
    }
    return n;
  }

  /** Checks the history; returns the problem, if any. */
  check(): { ok: boolean; message: string; explored: number } {
    const res = checkLinearizable(this.history, chaosKvModel, { maxSteps: 5_000_000 });
    if (res.ok) {
      return {
        ok: true,
        message: `${this.history.length} ops in ${res.partitions} keys linearizable`,
        explored: res.explored,
      };
    }
    const msg = res.counterexample?.message ?? "not linearizable";
    return { ok: false, message: msg.slice(0, 4000), explored: res.explored };
  }
}

/** Interprets an HTTP answer; undefined when the outcome is unknown. */
export function answerOf(input: KvOp, status: number, text: string): KvAnswer | undefined {
  let body: Record<string, unknown> = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    return undefined;
  }
  if (input.op === "get") {
    if (status === 200) return { value: String(body.value), version: Number(body.version) };
    if (status === 404 && errCode(body) === "kv_key_not_found") return { value: null, version: 0 };
    return undefined;
  }
  if (status === 200 && input.op === "del") return { ok: true, existed: body.deleted === true };
  if (status === 200) return { ok: true, version: Number(body.version) };
  if (status === 409 && errCode(body) === "cas_mismatch") {
    const m = /at version (\d+)/.exec(errMessage(body));
    return { ok: false, version: m ? Number(m[1]) : undefined };
  }
  return undefined;
}

function errCode(body: Record<string, unknown>): string {
  const e = body.error as { code?: unknown } | undefined;
  return typeof e?.code === "string" ? e.code : "";
}

function errMessage(body: Record<string, unknown>): string {
  const e = body.error as { message?: unknown } | undefined;
  return typeof e?.message === "string" ? e.message : "";
}
