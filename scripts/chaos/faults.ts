/**
 * The fault schedule of a chaos run, planned up front from the seed (so the
 * same seed gives the same schedule), and its execution against a running
 * cluster.
 *
 * Kinds: `kill` (`kill -9`, restarted when it heals), `pause`
 * (SIGSTOP/SIGCONT), `isolate` (the node's transport cuts every peer, both
 * directions), `split` (two nodes cut off from the rest, still talking to
 * each other), `loss` (the node drops a fraction of what it sends and delays
 * the rest), `leave` (a worker leaves gracefully with `node leave`, handing
 * its DFS metadata off; when it heals it starts again as a new node, its data
 * directory moved aside; drawn only when named in `--kinds`, so the schedules
 * of earlier seeds stay as they were). A target is a node id or `leader` (the
 * master leading when the fault starts; `fallback` if none answers).
 *
 * Limits, so that every promise of the system still applies: at any moment
 * (counting a margin after each heal, for a restarted process to come back)
 * at most one master is affected (a minority of 3) and at most two nodes in
 * total (RF - 1 = 2 DFS holders). Every fault heals before the run's fault
 * period ends.
 *
 * @module
 */
import { Prng } from "../../lib/sim/prng.ts";
import type { ChaosCluster } from "./cluster.ts";
import { sleep } from "./cluster.ts";

/** A kind of fault. */
export type FaultKind = "kill" | "pause" | "isolate" | "split" | "loss" | "leave";

/** One planned fault. */
export interface PlannedFault {
  /** Start, ms after the fault period began. */
  at: number;
  /** How long until it heals, ms. */
  durationMs: number;
  /** What. */
  kind: FaultKind;
  /** Node ids, or `leader`. */
  targets: string[];
  /** The master used for `leader` when no leader answers. */
  fallback?: string;
  /** `loss`: drop probability. */
  drop?: number;
  /** `loss`: added delay, ms. */
  delayMs?: number;
}

interface Busy {
  node: string;
  master: boolean;
  /** Counts toward the limit (false: only keeps the node from other faults). */
  counts: boolean;
  from: number;
  to: number;
}

/** Options of {@link planFaults}. */
export interface PlanOptions {
  /** Master ids. */
  masters: string[];
  /** Worker ids. */
  workers: string[];
  /** Length of the fault period, ms. */
  periodMs: number;
  /** Most nodes affected at once (RF - 1). */
  maxNodes: number;
  /** Most masters affected at once (a minority). */
  maxMasters: number;
  /** Fault kinds to draw from (default all). */
  kinds?: FaultKind[];
}

const WEIGHTS: [FaultKind, number][] = [
  ["kill", 3],
  ["pause", 2],
  ["isolate", 2],
  ["split", 1],
  ["loss", 2],
  ["leave", 2],
];

/** Every fault kind, for parsing `--kinds`. */
export const FAULT_KINDS: FaultKind[] = WEIGHTS.map(([k]) => k);

/** Kinds drawn from when none are named (`leave` came later; see the module doc). */
export const DEFAULT_KINDS: FaultKind[] = ["kill", "pause", "isolate", "split", "loss"];

/** Plans the faults of a run from `seed`. */
export function planFaults(seed: number, o: PlanOptions): PlannedFault[] {
  const rnd = new Prng(seed ^ 0x5eed_f00d);
  const kinds = WEIGHTS.filter(([k]) => (o.kinds ?? DEFAULT_KINDS).includes(k));
  const total = kinds.reduce((s, [, w]) => s + w, 0);
  if (total === 0) return [];
  const busy: Busy[] = [];
  const out: PlannedFault[] = [];
  let t = rnd.between(1_000, 3_000);
  while (t < o.periodMs - 1_500) {
    let r = rnd.int(total);
    let kind: FaultKind = kinds[0][0];
    for (const [k, w] of kinds) {
      if (r < w) {
        kind = k;
        break;
      }
      r -= w;
    }
    const durationMs = kind === "kill" || kind === "leave"
      ? rnd.between(300, 5_000)
      : kind === "pause"
      ? rnd.between(300, 3_000)
      : kind === "loss"
      ? rnd.between(2_000, 8_000)
      : rnd.between(1_000, 6_000);
    const end = Math.min(t + durationMs, o.periodMs - 500);
    // A restarted process needs a few seconds before it serves again; a leave may also
    // overrun its planned end by its hand-off and graceful stop.
    const margin = kind === "leave" ? 12_000 : kind === "kill" ? 6_000 : 1_500;
    const overlapping = busy.filter((b) => b.from < end + margin && t < b.to);
    const nodesBusy = new Set(overlapping.map((b) => b.node));
    const mastersBusy = overlapping.filter((b) => b.master).length;
    const freeNodes = o.maxNodes -
      new Set(overlapping.filter((b) => b.counts).map((b) => b.node)).size;
    const mastersOk = mastersBusy < o.maxMasters;
    const free = (ids: string[]) => ids.filter((id) => !nodesBusy.has(id));
    const want = kind === "split" ? 2 : 1;
    if (freeNodes >= want) {
      // Only workers leave: a master leaves through `raft remove` first (docs/SCALING.md).
      const pool = [
        ...(mastersOk && kind !== "leave"
          ? [...free(o.masters), ...(nodesBusy.has("leader") ? [] : ["leader"])]
          : []),
        ...free(o.workers),
      ];
      const targets: string[] = [];
      while (targets.length < want && pool.length) {
        const id = pool.splice(rnd.int(pool.length), 1)[0];
        targets.push(id);
        // Only one master (or the leader) per split.
        if (id === "leader" || o.masters.includes(id)) {
          for (let i = pool.length - 1; i >= 0; i--) {
            if (pool[i] === "leader" || o.masters.includes(pool[i])) pool.splice(i, 1);
          }
        }
      }
      if (targets.length === want) {
        const f: PlannedFault = { at: t, durationMs: end - t, kind, targets };
        if (targets.includes("leader")) {
          // Stands for whichever master leads: block every master for the period.
          f.fallback = rnd.pick(free(o.masters));
          for (const m of o.masters) {
            busy.push({ node: m, master: false, counts: false, from: t, to: end + margin });
          }
        }
        if (kind === "loss") {
          f.drop = Math.round(rnd.between(5, 30)) / 100;
          f.delayMs = rnd.between(0, 40);
        }
        for (const id of targets) {
          busy.push({
            node: id,
            master: id === "leader" || o.masters.includes(id),
            counts: true,
            from: t,
            to: end + margin,
          });
        }
        out.push(f);
      }
    }
    t += rnd.between(500, 3_000);
  }
  return out;
}

/** Describes a planned fault in one line. */
export function describeFault(f: PlannedFault): string {
  const extra = f.kind === "loss" ? ` drop ${f.drop} delay ${f.delayMs}ms` : "";
  return `+${(f.at / 1000).toFixed(1)}s ${f.kind} ${
    f.targets.join(",")
  } for ${f.durationMs}ms${extra}`;
}

/** Counters of executed faults. */
export interface FaultStats {
  /** Applied, by kind. */
  applied: Record<FaultKind, number>;
  /** Faults that targeted the leader when they started. */
  leaderHits: number;
  /** Faults that could not be applied (e.g. the debug API did not answer). */
  skipped: number;
}

/** Executes a schedule on a cluster. */
export class FaultRunner {
  /** Counters. */
  readonly stats: FaultStats = {
    applied: { kill: 0, pause: 0, isolate: 0, split: 0, loss: 0, leave: 0 },
    leaderHits: 0,
    skipped: 0,
  };
  /** What happened, one line per event (for the report). */
  readonly log: string[] = [];
  readonly #c: ChaosCluster;
  readonly #t0 = Date.now();
  readonly #heals = new Set<Promise<void>>();

  /** A runner for `c`. */
  constructor(c: ChaosCluster) {
    this.#c = c;
  }

  /** Runs `plan` (relative to now) until done or `stop.done`; heals everything it did. */
  async run(plan: PlannedFault[], stop: { done: boolean }): Promise<void> {
    for (const f of plan) {
      const wait = f.at - (Date.now() - this.#t0);
      if (wait > 0) await sleep(wait);
      if (stop.done) break;
      const p = this.#one(f).catch((e) => {
        this.stats.skipped++;
        this.#note(`${describeFault(f)}: not applied (${String(e).slice(0, 200)})`);
      });
      this.#heals.add(p);
      p.finally(() => this.#heals.delete(p));
    }
    await Promise.all([...this.#heals]);
  }

  #note(line: string): void {
    this.log.push(`[${((Date.now() - this.#t0) / 1000).toFixed(1)}s] ${line}`);
  }

  async #one(f: PlannedFault): Promise<void> {
    const c = this.#c;
    let targets = f.targets;
    if (targets.includes("leader")) {
      const l = await c.leader();
      if (l) this.stats.leaderHits++;
      targets = targets.map((t) => (t === "leader" ? l ?? f.fallback! : t));
    }
    const all = [...c.nodes.keys()];
    this.#note(`${f.kind} ${targets.join(",")} (${describeFault(f)})`);
    switch (f.kind) {
      case "kill":
        await c.kill(targets[0]);
        this.stats.applied.kill++;
        await sleep(f.durationMs);
        await c.spawn(targets[0]);
        break;
      case "leave": {
        // The hand-off and the graceful stop take time: the node comes back at the planned
        // end, or right after it exited if that is later.
        const started = Date.now();
        const answer = await c.leave(targets[0]);
        this.#note(`${targets[0]} left: ${answer.slice(0, 300)}`);
        this.stats.applied.leave++;
        await sleep(Math.max(0, f.durationMs - (Date.now() - started)));
        // As an operator would: a node that left comes back with an empty data directory.
        await c.retireData(targets[0]);
        await c.spawn(targets[0]);
        break;
      }
      case "pause":
        c.pause(targets[0]);
        this.stats.applied.pause++;
        await sleep(f.durationMs);
        c.resume(targets[0]);
        break;
      case "isolate":
      case "split":
      case "loss": {
        const spec = f.kind === "loss"
          ? { drop: f.drop, delayMs: f.delayMs, jitterMs: 10 }
          : { cut: true };
        for (const id of targets) {
          const set: Record<string, unknown> = {};
          for (const peer of all) if (!targets.includes(peer)) set[peer] = spec;
          await this.#setFaults(id, { clear: true, set });
        }
        this.stats.applied[f.kind]++;
        await sleep(f.durationMs);
        for (const id of targets) await this.#clear(id);
        break;
      }
    }
    this.#note(`healed ${f.kind} ${targets.join(",")}`);
  }

  async #setFaults(id: string, body: unknown): Promise<void> {
    const r = await this.#c.request(id, "POST", "/v1/debug/faults", JSON.stringify(body), 3_000, {
      "content-type": "application/json",
    });
    if (r.status !== 200) throw new Error(`debug/faults on ${id}: ${r.status} ${r.text}`);
  }

  /** Clears the transport faults of `id`, retrying while its process runs. */
  async #clear(id: string): Promise<void> {
    for (let attempt = 0; attempt < 60; attempt++) {
      const n = this.#c.nodes.get(id)!;
      if (!n.proc) return; // a fresh process starts without faults
      try {
        await this.#setFaults(id, { clear: true });
        return;
      } catch {
        await sleep(500);
      }
    }
    throw new Error(`could not clear the faults of ${id}`);
  }

  /** Heals everything: resumes paused, restarts killed, clears every node's transport faults. */
  async healAll(): Promise<void> {
    await Promise.all([...this.#heals]);
    for (const n of this.#c.nodes.values()) {
      if (n.paused) this.#c.resume(n.id);
      if (!n.proc) await this.#c.spawn(n.id);
    }
    await Promise.all([...this.#c.nodes.keys()].map((id) => this.#clear(id).catch(() => {})));
  }
}
