/**
 * Deterministic simulation of an exactly-once stream job on `lib/sim`.
 *
 * The job: sources read keyed sequence records (each key's values 1, 2, 3,
 * ...) from their split of an input log; stage A (parallelism 2–3,
 * hash-partitioned by key) filters and counts per key; stage B (parallelism
 * 2–3, hash-partitioned by key) counts per key and writes to a transactional
 * sink. The checkpoint coordinator triggers aligned barrier checkpoints.
 *
 * Faults: tasks crash at random moments (every task rolls back to the last
 * completed checkpoint and the sources replay from its offsets); control
 * messages (triggers, acks, aborts, commits) are lost and duplicated;
 * barriers are lost on data channels; data messages are duplicated and
 * reordered (channels restore FIFO order by sequence number).
 *
 * Invariant: the committed sink output equals a failure-free run exactly:
 * every key's values arrive 1, 2, 3, ... with no gap or repeat
 * ({@link checkSequences}), and both stages' per-key counts equal the value.
 *
 * @module
 */
import { SimNetwork, type SimReport, Simulator } from "../sim/mod.ts";
import { CheckpointCoordinator, type CompletedCheckpoint } from "./checkpoint/coordinator.ts";
import { OperatorChain } from "./operators/chain.ts";
import type { UserModule } from "./operators/user.ts";
import { planJob } from "./plan.ts";
import type { StreamRecord } from "./record.ts";
import { checkSequences } from "./sequences.ts";
import { OperatorTask, type SimMsg, SourceTask, type TaskEnv } from "./sim_tasks.ts";
import { validateJobSpec } from "./spec.ts";

/** Options of {@link runStreamSimulation}. */
export interface StreamSimOptions {
  /** The seed; everything random derives from it. */
  seed: number;
  /** Most events to run before declaring the job stuck (default 400,000). */
  steps?: number;
  /** Number of keys (default 6). */
  keys?: number;
  /** Values per key (default 40). */
  valuesPerKey?: number;
  /** Task crashes to inject (default 2). */
  failures?: number;
  /** Loss probability of control messages (default 0.05). */
  controlLoss?: number;
  /** Duplication probability of every message (default 0.05). */
  duplicate?: number;
  /** Probability a barrier is lost on one data channel (default 0.03). */
  barrierLoss?: number;
  /**
   * `exactly-once` (default) commits sink output when its checkpoint completes;
   * `at-least-once` commits at the barrier, which duplicates output after a
   * failure: used to show that the invariant catches a broken sink.
   */
  sinkMode?: "exactly-once" | "at-least-once";
}

const TICK_MS = 5;
const PUMP_MS = 2;
const DETECT_MS = 12;

function counter(field: string): UserModule {
  return {
    process(rec, ctx) {
      const k = String(rec.key);
      const prev = ctx.state.get(k);
      const n = (typeof prev === "number" ? prev : 0) + 1;
      ctx.state.set(k, n);
      return { ...rec, [field]: n };
    },
  };
}

/** Runs one seeded simulation; throws `SimulationFailure` on an invariant violation. */
export function runStreamSimulation(opts: StreamSimOptions): SimReport {
  const sim = new Simulator({ seed: opts.seed });
  const prng = sim.prng;
  const nKeys = opts.keys ?? 6;
  const perKey = opts.valuesPerKey ?? 40;
  const nSources = prng.between(1, 2);
  const pA = prng.between(2, 3);
  const pB = prng.between(2, 3);
  const counts: Record<string, number> = { barriersLost: 0, alignmentsAborted: 0 };

  const spec = validateJobSpec({
    name: "sim-seq",
    source: { kind: "stream", name: "seq" },
    stages: [
      { op: "keyBy", column: "key" },
      { op: "filter", column: "key", regex: "^k[0-9]+$", parallelism: pA },
      { op: "user", module: "/sim/count_a.ts", stateful: true, parallelism: pA },
      { op: "keyBy", column: "key" },
      { op: "user", module: "/sim/count_b.ts", stateful: true, parallelism: pB },
    ],
    sink: { kind: "api" },
  });
  const plan = planJob(spec);
  if (plan.stages.length !== 2) sim.fail("plan", `expected 2 stages, got ${plan.stages.length}`);
  const modules: Record<string, UserModule> = {
    "/sim/count_a.ts": counter("aCount"),
    "/sim/count_b.ts": counter("bCount"),
  };
  const resolve = (p: string) => modules[p];

  // Input log: keys interleaved at random, each key's values in order.
  const splits: StreamRecord[][] = Array.from({ length: nSources }, () => []);
  const next = new Array(nKeys).fill(1);
  const keyNames = Array.from({ length: nKeys }, (_, i) => `k${i}`);
  for (let left = nKeys * perKey; left > 0; left--) {
    let k = prng.int(nKeys);
    while (next[k] > perKey) k = (k + 1) % nKeys;
    splits[k % nSources].push({ key: keyNames[k], value: next[k]++ });
  }

  const srcIds = splits.map((_, i) => `src${i}`);
  const aIds = Array.from({ length: pA }, (_, i) => `a${i}`);
  const bIds = Array.from({ length: pB }, (_, i) => `b${i}`);
  let attempt = 0;
  const store = new Map<string, unknown>();
  const controlLoss = opts.controlLoss ?? 0.05;
  const dup = opts.duplicate ?? 0.05;

  const sources = new Map<string, SourceTask>();
  const ops = new Map<string, OperatorTask>();
  const net = new SimNetwork<SimMsg>(sim, (to, from, msg) => deliver(to, from, msg), {
    defaults: { minLatencyMs: 1, maxLatencyMs: 4, loss: 0, duplicate: dup },
    describe: (m) => m.t,
  });
  const env: TaskEnv = {
    attempt: () => attempt,
    send: (from, to, msg) => net.send(from, to, msg),
    store,
    barrierLoss: opts.barrierLoss ?? 0.03,
    eagerCommit: opts.sinkMode === "at-least-once",
    random: () => prng.next(),
    count: (name) => void (counts[name] = (counts[name] ?? 0) + 1),
  };
  sim.addNode("coord");
  for (const id of [...srcIds, ...aIds, ...bIds]) {
    sim.addNode(id);
    net.setLink("coord", id, { loss: controlLoss });
    net.setLink(id, "coord", { loss: controlLoss });
  }
  srcIds.forEach((id, i) => sources.set(id, new SourceTask(id, splits[i], aIds, "key", env)));
  for (const id of aIds) {
    ops.set(
      id,
      new OperatorTask(
        id,
        srcIds,
        bIds,
        "key",
        () => OperatorChain.fromOps(plan.stages[0].ops, resolve),
        env,
      ),
    );
  }
  for (const id of bIds) {
    ops.set(
      id,
      new OperatorTask(
        id,
        aIds,
        [],
        "key",
        () => OperatorChain.fromOps(plan.stages[1].ops, resolve),
        env,
      ),
    );
  }

  const coord = new CheckpointCoordinator({
    tasks: [...srcIds, ...aIds, ...bIds],
    sources: srcIds,
    intervalTicks: 2,
    timeoutTicks: 8,
    maxConcurrent: 2,
  });
  let latest: CompletedCheckpoint | null = null;
  let done = false;
  let restoresApplied = 0;

  function deliver(to: string, from: string, msg: SimMsg): void {
    if (msg.t === "commit") {
      ops.get(to)?.onCommit(msg.id);
      return;
    }
    if (msg.attempt !== attempt) return;
    if (msg.t === "ack") {
      coord.step({
        type: "ack",
        checkpointId: msg.id,
        taskId: msg.task,
        ack: { stateHandle: msg.handle, sourceOffsets: msg.offsets },
      });
      drainCoordinator();
    } else if (msg.t === "trigger") sources.get(to)?.onTrigger(msg.id);
    else if (msg.t === "abort") ops.get(to)?.onAbort(msg.id);
    else ops.get(to)?.onData(from, msg.seq, msg.items);
  }

  function drainCoordinator(): void {
    for (const e of coord.ready()) {
      switch (e.type) {
        case "trigger":
          for (const s of e.sources) {
            net.send("coord", s, { t: "trigger", attempt, id: e.checkpointId });
          }
          break;
        case "complete":
          latest = e.checkpoint;
          for (const b of bIds) net.send("coord", b, { t: "commit", id: e.checkpoint.id });
          break;
        case "abort":
          for (const t of [...aIds, ...bIds]) {
            net.send("coord", t, { t: "abort", attempt, id: e.checkpointId });
          }
          break;
        case "discard":
          for (const h of e.stateHandles) store.delete(h);
          break;
        case "restore": {
          const cp = e.checkpoint;
          const a = e.attempt;
          sim.schedule(3, `restore attempt ${a} from ${cp?.id ?? 0}`, () => restoreAll(a, cp));
          break;
        }
      }
    }
  }

  function restoreAll(a: number, cp: CompletedCheckpoint | null): void {
    if (a !== coord.attempt) return;
    attempt = a;
    restoresApplied++;
    for (const id of [...srcIds, ...aIds, ...bIds]) if (!sim.isUp(id)) sim.restart(id);
    for (const [id, s] of sources) s.restore(cp ? cp.sourceOffsets[id] ?? 0 : 0);
    for (const [id, t] of ops) t.restore(cp?.states[id], cp?.id ?? 0);
    coord.step({ type: "restored", attempt: a });
    drainCoordinator();
  }

  // Failure injection.
  const failures = opts.failures ?? 2;
  const victims = [...srcIds, ...aIds, ...bIds];
  for (let i = 0; i < failures; i++) {
    const at = prng.between(5, 40 + perKey * nKeys / (2 * nSources));
    const victim = prng.pick(victims);
    sim.schedule(at, `crash ${victim}`, () => {
      if (done || !sim.isUp(victim)) return;
      sim.crash(victim);
      sim.schedule(DETECT_MS, `detect ${victim}`, () => {
        coord.step({ type: "taskFailed", taskId: victim, reason: "crashed" });
        drainCoordinator();
      });
    });
  }

  // Committed output must always be a gap-free, repeat-free prefix per key.
  const checked = new Map<string, number>();
  const lastValue = new Map<string, number>();
  sim.invariant("committed output is an exact prefix", () => {
    for (const id of bIds) {
      const sink = ops.get(id)!.sink!;
      const c = sink.committed;
      for (let i = checked.get(id) ?? 0; i < c.length; i++) {
        const r = c[i];
        const key = String(r.key);
        const want = (lastValue.get(key) ?? 0) + 1;
        if (r.value !== want || r.aCount !== want || r.bCount !== want) {
          return `sink ${id} committed ${JSON.stringify(r)}, expected value ${want}`;
        }
        lastValue.set(key, want);
      }
      checked.set(id, c.length);
    }
    return undefined;
  });

  const finished = (): boolean => {
    if (!latest || coord.restoring) return false;
    const cp: CompletedCheckpoint = latest;
    for (const [id, s] of sources) {
      if ((cp.sourceOffsets[id] ?? -1) !== s.split.length) return false;
    }
    for (const id of bIds) if (ops.get(id)!.sink!.committedUpTo < cp.id) return false;
    return true;
  };

  let ticks = 0;
  const tick = () => {
    if (finished()) {
      done = true;
      return;
    }
    ticks++;
    coord.tick();
    if (latest && ticks % 4 === 0) {
      for (const b of bIds) net.send("coord", b, { t: "commit", id: latest.id });
    }
    drainCoordinator();
    sim.schedule(TICK_MS, "tick", tick);
  };
  const pump = () => {
    if (done) return;
    for (const [id, s] of sources) if (sim.isUp(id) && !s.exhausted) s.emit(prng.between(1, 3));
    sim.schedule(PUMP_MS, "pump", pump);
  };
  sim.schedule(TICK_MS, "tick", tick);
  sim.schedule(PUMP_MS, "pump", pump);

  const maxSteps = opts.steps ?? 400_000;
  sim.run({ maxSteps });
  if (!done) sim.fail("progress", `job did not finish within ${maxSteps} steps`);

  // Final check: equal to the failure-free run.
  const committed: StreamRecord[] = [];
  for (const id of bIds) for (const r of ops.get(id)!.sink!.committed) committed.push(r);
  const expectLast = new Map(keyNames.map((k) => [k, perKey] as const));
  const seq = checkSequences(committed, { expectLast });
  if (!seq.ok) sim.fail("exactly-once", seq.problems.join("; "));
  if (committed.length !== nKeys * perKey) {
    sim.fail("exactly-once", `committed ${committed.length} records, expected ${nKeys * perKey}`);
  }

  return {
    protocol: "stream",
    seed: sim.seed,
    steps: sim.steps,
    virtualMs: sim.now,
    traceHash: sim.traceHash,
    summary: {
      sources: nSources,
      parallelismA: pA,
      parallelismB: pB,
      records: committed.length,
      checkpointsCompleted: coord.stats.completed,
      checkpointsAborted: coord.stats.aborted,
      checkpointsTimedOut: coord.stats.timedOut,
      restores: restoresApplied,
      barriersLost: counts.barriersLost,
      alignmentsAborted: counts.alignmentsAborted,
      messagesLost: net.stats.lost,
      messagesDuplicated: net.stats.duplicated,
    },
  };
}
