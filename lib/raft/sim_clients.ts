/**
 * Simulated KV clients for the Raft simulation: each issues one operation at
 * a time (put, compare-and-set, delete, linearizable get) to a node it
 * believes leads (or a random one), with a timeout, and records a history
 * for the linearizability checker. A write whose outcome is unknown (timed
 * out after it was proposed) enters the history with an infinite response
 * time; refused and superseded requests had no effect and are left out.
 *
 * @module
 */
import type { KvInput, KvOutput, Operation } from "../sim/linearizability.ts";
import type { Simulator } from "../sim/simulator.ts";
import type { KvCommand } from "./kv_state.ts";
import type { RaftSafetyChecks } from "./sim_checks.ts";
import type { ServerReply, SimRaftNode } from "./sim_node.ts";

const KEYS = ["k0", "k1", "k2"];
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Rec {
  client: number;
  input: KvInput;
  output?: KvOutput;
  call: number;
  ret: number;
  done: boolean;
  include: boolean;
  proposed: boolean;
  term: number;
}

/** Counters of client outcomes. */
export interface ClientStats {
  /** Answered operations. */
  ok: number;
  /** Operations that timed out. */
  timedOut: number;
  /** Refused (not the leader, no leader, overloaded). */
  refused: number;
  /** Proposed but replaced by another entry (no effect). */
  superseded: number;
}

/** The simulated clients. */
export class SimClients {
  /** Outcome counters. */
  readonly stats: ClientStats = { ok: 0, timedOut: 0, refused: 0, superseded: 0 };
  readonly #sim: Simulator;
  readonly #nodes: Map<string, SimRaftNode>;
  readonly #checks: RaftSafetyChecks;
  readonly #n: number;
  readonly #members: () => string[];
  readonly #timeoutMs: number;
  #ops: Rec[] = [];
  #hint: string[] = [];
  #known: Map<string, number>[] = [];
  #seq = 0;
  #stopped = false;

  /** Creates `clients` clients talking to `nodes`. */
  constructor(
    sim: Simulator,
    nodes: Map<string, SimRaftNode>,
    checks: RaftSafetyChecks,
    opts: { clients: number; members: () => string[]; timeoutMs?: number },
  ) {
    this.#sim = sim;
    this.#nodes = nodes;
    this.#checks = checks;
    this.#n = opts.clients;
    this.#members = opts.members;
    this.#timeoutMs = opts.timeoutMs ?? 400;
  }

  /** Starts every client's loop. */
  start(): void {
    for (let c = 0; c < this.#n; c++) {
      this.#hint.push("");
      this.#known.push(new Map());
      this.#next(c);
    }
  }

  /** Stops issuing new operations (outstanding ones still finish or time out). */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * The recorded history, for the checker. A write with unknown outcome is
   * kept only if its entry (index, term) was committed: an entry that never
   * committed was never applied anywhere, so it had no effect. `committedTerm`
   * gives the term of the committed entry at an index.
   */
  history(committedTerm: (index: number) => number | undefined): Operation<KvInput, KvOutput>[] {
    const tookEffect = (r: Rec) =>
      r.output !== undefined || r.input.op === "get" ||
      committedTerm(r.input.version) === r.term;
    return this.#ops.filter((r) => r.include && tookEffect(r)).map((r) => {
      const op: Operation<KvInput, KvOutput> = {
        client: r.client,
        input: r.input,
        call: r.call,
        ret: r.ret,
      };
      if (r.output) op.output = r.output;
      return op;
    });
  }

  #next(c: number): void {
    if (this.#stopped) return;
    this.#sim.schedule(1 + this.#sim.prng.next() * 30, `client${c} think`, () => this.#issue(c));
  }

  #latency(): number {
    return 0.5 + this.#sim.prng.next() * 2;
  }

  #issue(c: number): void {
    if (this.#stopped) return;
    const p = this.#sim.prng;
    const members = this.#members();
    const hint = this.#hint[c];
    const target = hint && members.includes(hint) && p.chance(0.8) ? hint : p.pick(members);
    const key = p.pick(KEYS);
    const reqId = ++this.#seq;
    const known = this.#known[c].get(key) ?? 0;
    const roll = p.next();
    let input: KvInput;
    let cmd: KvCommand | undefined;
    if (roll < 0.35) {
      input = { op: "get", key };
    } else if (roll < 0.85) {
      const value = `v${reqId}`;
      const cas = roll < 0.6 ? undefined : p.chance(0.8) ? known : p.int(known + 2);
      input = cas === undefined
        ? { op: "put", key, value, version: 0 }
        : { op: "put", key, value, cas, version: 0 };
      cmd = cas === undefined
        ? { op: "put", key, value: enc.encode(value), id: String(reqId) }
        : { op: "put", key, value: enc.encode(value), cas, id: String(reqId) };
    } else {
      const cas = p.chance(0.5) ? known : undefined;
      input = cas === undefined
        ? { op: "delete", key, version: 0 }
        : { op: "delete", key, cas, version: 0 };
      cmd = cas === undefined
        ? { op: "delete", key, id: String(reqId) }
        : { op: "delete", key, cas, id: String(reqId) };
    }
    const rec: Rec = {
      client: c,
      input,
      call: this.#sim.now,
      ret: Infinity,
      done: false,
      include: false,
      proposed: false,
      term: 0,
    };
    this.#ops.push(rec);
    let term = 0;
    this.#sim.schedule(this.#timeoutMs, `client${c} timeout`, () => {
      if (rec.done) return;
      rec.done = true;
      this.stats.timedOut++;
      rec.include = rec.proposed;
      this.#next(c);
    });
    this.#sim.schedule(this.#latency(), `client${c} ${input.op} -> ${target}`, () => {
      const node = this.#nodes.get(target);
      if (!node?.core) return;
      const reply = (r: ServerReply) => {
        this.#sim.schedule(
          this.#latency(),
          `reply -> client${c}`,
          () => this.#onReply(rec, r, term),
        );
      };
      if (!cmd) {
        node.read(key, reqId, reply);
        return;
      }
      term = node.core.term;
      const index = node.write(cmd, reply);
      if (index !== undefined && input.op !== "get") {
        input.version = index;
        rec.proposed = true;
        rec.term = term;
      }
    });
  }

  #onReply(rec: Rec, r: ServerReply, term: number): void {
    if (rec.done) return;
    rec.done = true;
    const c = rec.client;
    const key = rec.input.key;
    switch (r.kind) {
      case "written": {
        rec.ret = this.#sim.now;
        rec.output = { ok: r.result.ok };
        rec.include = true;
        this.stats.ok++;
        const index = rec.input.op === "get" ? 0 : rec.input.version;
        this.#checks.onAck(index, term, `client${c} ${rec.input.op} ${key}`);
        const v = r.result.ok ? (rec.input.op === "delete" ? 0 : index) : r.result.version;
        this.#known[c].set(key, v);
        break;
      }
      case "read": {
        rec.ret = this.#sim.now;
        const version = r.item?.version ?? 0;
        rec.output = { ok: true, value: r.item ? dec.decode(r.item.value) : null, version };
        rec.include = true;
        this.stats.ok++;
        this.#known[c].set(key, version);
        break;
      }
      case "refused":
        this.#hint[c] = r.leader;
        this.stats.refused++;
        break;
      case "superseded":
        this.stats.superseded++;
        break;
      case "unknown":
        this.stats.timedOut++;
        rec.include = rec.proposed;
        break;
    }
    this.#next(c);
  }
}
