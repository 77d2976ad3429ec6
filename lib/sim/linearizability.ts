/**
 * A linearizability checker in the style of Wing & Gong with Lowe's
 * just-in-time linearization and memoization (as in Porcupine): a
 * depth-first search over linearization points that caches every
 * (set of linearized operations, model state) pair it has seen. Histories
 * are split into independent partitions first (per key for a KV store),
 * since linearizability is compositional.
 *
 * Operations whose outcome is unknown (a client timed out: it may or may not
 * have taken effect) have `output: undefined` and `ret: Infinity`; the model
 * must accept any outcome for them, and the search may place them anywhere
 * after their invocation, including after everything else (no effect seen).
 *
 * @module
 */

/** One operation of a history. */
export interface Operation<I, O> {
  /** Which client issued it (for reports). */
  client: number | string;
  /** What was asked. */
  input: I;
  /** What was answered, or undefined when unknown (timed out). */
  output?: O;
  /** Invocation time. */
  call: number;
  /** Response time; `Infinity` when unknown. */
  ret: number;
}

/** A sequential specification. */
export interface Model<S, I, O> {
  /** The initial state. */
  init(): S;
  /**
   * Applies `input` to `state`. Returns whether `output` is what the
   * specification answers (`output` undefined: any answer is accepted) and
   * the next state.
   */
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S };
  /** A canonical string of a state: equal states, equal strings (memoization). */
  key(state: S): string;
  /** Splits a history into independent parts (default: one part). */
  partition?(ops: Operation<I, O>[]): Operation<I, O>[][];
  /** Describes an operation for counterexamples. */
  describe?(op: Operation<I, O>): string;
}

/** Why a history is not linearizable. */
export interface Counterexample<I, O> {
  /** Index of the failing partition. */
  partition: number;
  /** The operations of that partition. */
  ops: Operation<I, O>[];
  /** The longest sequence of operations the search could linearize. */
  longestPrefix: Operation<I, O>[];
  /** Human-readable explanation. */
  message: string;
}

/** The checker's verdict. */
export interface CheckResult<I, O> {
  /** True if linearizable (false also when the search budget ran out). */
  ok: boolean;
  /** True if the search gave up before deciding. */
  inconclusive: boolean;
  /** Partitions checked. */
  partitions: number;
  /** Search steps taken in total. */
  explored: number;
  /** Present when not linearizable. */
  counterexample?: Counterexample<I, O>;
}

interface Ev {
  op: number;
  call: boolean;
  time: number;
  match: Ev | undefined;
  prev: Ev | undefined;
  next: Ev | undefined;
}

/** Options of {@link checkLinearizable}. */
export interface CheckOptions {
  /** Most search steps per partition before giving up (inconclusive). Default 2,000,000. */
  maxSteps?: number;
}

function buildList<I, O>(ops: Operation<I, O>[]): Ev {
  const evs: Ev[] = [];
  ops.forEach((o, i) => {
    const c: Ev = {
      op: i,
      call: true,
      time: o.call,
      match: undefined,
      prev: undefined,
      next: undefined,
    };
    const r: Ev = {
      op: i,
      call: false,
      time: o.ret,
      match: undefined,
      prev: undefined,
      next: undefined,
    };
    c.match = r;
    evs.push(c, r);
  });
  // Calls before returns at equal times: touching operations count as concurrent.
  evs.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const head: Ev = {
    op: -1,
    call: false,
    time: -Infinity,
    match: undefined,
    prev: undefined,
    next: undefined,
  };
  let last = head;
  for (const e of evs) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

function lift(e: Ev): void {
  e.prev!.next = e.next;
  if (e.next) e.next.prev = e.prev;
  const m = e.match!;
  m.prev!.next = m.next;
  if (m.next) m.next.prev = m.prev;
}

function unlift(e: Ev): void {
  const m = e.match!;
  m.prev!.next = m;
  if (m.next) m.next.prev = m;
  e.prev!.next = e;
  if (e.next) e.next.prev = e;
}

function checkPartition<S, I, O>(
  ops: Operation<I, O>[],
  model: Model<S, I, O>,
  maxSteps: number,
): { ok: boolean; inconclusive: boolean; steps: number; longest: number[] } {
  const head = buildList(ops);
  const bits = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const cache = new Set<string>();
  const stack: { e: Ev; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  let longest: number[] = [];
  while (head.next) {
    if (++steps > maxSteps) return { ok: false, inconclusive: true, steps, longest };
    if (entry && entry.call) {
      const op = ops[entry.op];
      const r = model.step(state, op.input, op.output);
      if (r.ok) {
        bits[entry.op >> 5] |= 1 << (entry.op & 31);
        const key = `${bits.join(",")}|${model.key(r.state)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ e: entry, state });
          if (stack.length > longest.length) longest = stack.map((s) => s.e.op);
          state = r.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        bits[entry.op >> 5] &= ~(1 << (entry.op & 31));
      }
      entry = entry.next;
    } else {
      // A response (or the end) reached before its operation was linearized: backtrack.
      const top = stack.pop();
      if (!top) return { ok: false, inconclusive: false, steps, longest };
      state = top.state;
      bits[top.e.op >> 5] &= ~(1 << (top.e.op & 31));
      unlift(top.e);
      entry = top.e.next;
    }
  }
  return { ok: true, inconclusive: false, steps, longest };
}

/** Checks whether `history` is linearizable with respect to `model`. */
export function checkLinearizable<S, I, O>(
  history: Operation<I, O>[],
  model: Model<S, I, O>,
  opts: CheckOptions = {},
): CheckResult<I, O> {
  const maxSteps = opts.maxSteps ?? 2_000_000;
  for (const op of history) {
    if (!(op.call <= op.ret)) {
      throw new RangeError(`operation returns (${op.ret}) before it is called (${op.call})`);
    }
  }
  const parts = model.partition ? model.partition(history) : [history];
  let explored = 0;
  for (let p = 0; p < parts.length; p++) {
    const ops = parts[p];
    const r = checkPartition(ops, model, maxSteps);
    explored += r.steps;
    if (!r.ok) {
      const longestPrefix = r.longest.map((i) => ops[i]);
      const describe = model.describe ?? ((o: Operation<I, O>) => JSON.stringify(o.input));
      const message = r.inconclusive
        ? `search budget of ${maxSteps} steps exhausted on partition ${p}`
        : `partition ${p} (${ops.length} ops) is not linearizable; longest linearizable prefix: ` +
          (longestPrefix.map(describe).join(" ; ") || "(none)");
      return {
        ok: false,
        inconclusive: r.inconclusive,
        partitions: parts.length,
        explored,
        counterexample: { partition: p, ops, longestPrefix, message },
      };
    }
  }
  return { ok: true, inconclusive: false, partitions: parts.length, explored };
}

// ---- a KV model: get / put / cas / delete with versions ----

/**
 * An operation on a versioned KV store. Writes carry `version`, the version
 * the key gets if the write takes effect (the Raft index of its entry).
 */
export type KvInput =
  | { op: "get"; key: string }
  | { op: "put"; key: string; value: string; cas?: number; version: number }
  | { op: "delete"; key: string; cas?: number; version: number };

/** A KV answer: `ok` for writes (false = cas mismatch); `value`/`version` for reads. */
export interface KvOutput {
  /** Write applied (always true for reads). */
  ok: boolean;
  /** Read value, null if absent. */
  value?: string | null;
  /** Read version, 0 if absent. */
  version?: number;
}

/** The state of one key. */
export interface KvKeyState {
  /** Current value, null if absent. */
  value: string | null;
  /** Current version, 0 if absent. */
  version: number;
}

/** Sequential specification of the versioned KV store, partitioned per key. */
export const kvModel: Model<KvKeyState, KvInput, KvOutput> = {
  init: () => ({ value: null, version: 0 }),
  step(state, input, output) {
    if (input.op === "get") {
      if (!output) return { ok: true, state };
      return { ok: output.value === state.value && output.version === state.version, state };
    }
    const allowed = input.cas === undefined || input.cas === state.version;
    let next = state;
    if (allowed) {
      next = input.op === "put"
        ? { value: input.value, version: input.version }
        : { value: null, version: 0 };
    }
    return { ok: output === undefined || output.ok === allowed, state: next };
  },
  key: (s) => `${s.version}:${s.value === null ? "-" : JSON.stringify(s.value)}`,
  partition(ops) {
    const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
    for (const op of ops) {
      const list = byKey.get(op.input.key);
      if (list) list.push(op);
      else byKey.set(op.input.key, [op]);
    }
    return [...byKey.keys()].sort().map((k) => byKey.get(k)!);
  },
  describe(op) {
    const i = op.input;
    const out = op.output === undefined ? "?" : JSON.stringify(op.output);
    const args = i.op === "get"
      ? i.key
      : i.op === "put"
      ? `${i.key}=${i.value}${i.cas === undefined ? "" : ` cas ${i.cas}`} v${i.version}`
      : `${i.key}${i.cas === undefined ? "" : ` cas ${i.cas}`}`;
    return `c${op.client} ${i.op}(${args})->${out} [${op.call},${op.ret}]`;
  },
};
