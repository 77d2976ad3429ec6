/**
 * The checkpoint coordinator as a sans-I/O state machine (Flink-style aligned
 * barrier checkpoints, after Chandy-Lamport).
 *
 * Inputs: {@link CheckpointCoordinator.tick} (one logical clock tick; the
 * shell maps time to ticks) and {@link CheckpointCoordinator.step} (an ack,
 * a decline, a task failure, the end of a restore). Outputs: effects drained
 * with {@link CheckpointCoordinator.ready}, which the shell performs: send
 * barriers to the sources, notify tasks that a checkpoint completed (sinks
 * commit) or was aborted, restore every task, discard old state.
 *
 * Rules:
 * - every `intervalTicks` a checkpoint with the next id is triggered at the
 *   sources, unless `maxConcurrent` are already pending or a restore is under
 *   way (then it is triggered as soon as that is no longer so);
 * - a checkpoint completes when every task acknowledged it (an ack carries the
 *   task's state handle and, for sources, their offsets); completing `n`
 *   subsumes every older pending one, which is aborted;
 * - a pending checkpoint is aborted after `timeoutTicks`, when a task declines
 *   it, or when any task fails;
 * - on a task failure the coordinator emits `restore` with the latest
 *   completed checkpoint (or `null`: start from the beginning) and triggers
 *   nothing until the shell reports `restored`. Ids never repeat, so acks of
 *   the failed attempt are recognised as stale and ignored.
 *
 * @module
 */

/** What a task reports with its acknowledgement. */
export interface TaskAck {
  /** Opaque handle of the task's stored state (e.g. a DFS path). */
  stateHandle: string;
  /** Source offsets by split id (sources only). */
  sourceOffsets?: Readonly<Record<string, number>>;
}

/** A checkpoint every task acknowledged. */
export interface CompletedCheckpoint {
  /** The checkpoint id. */
  id: number;
  /** Tick at which it was triggered. */
  triggeredAt: number;
  /** Tick at which it completed. */
  completedAt: number;
  /** Each task's state handle. */
  states: Record<string, string>;
  /** Every source split's offset. */
  sourceOffsets: Record<string, number>;
}

/** Inputs besides ticks. */
export type CoordinatorInput =
  | { type: "ack"; checkpointId: number; taskId: string; ack: TaskAck }
  | { type: "decline"; checkpointId: number; taskId: string; reason: string }
  | { type: "taskFailed"; taskId: string; reason: string }
  | { type: "restored"; attempt: number }
  | { type: "trigger" };

/** Effects for the shell to perform, in order. */
export type CoordinatorEffect =
  | { type: "trigger"; checkpointId: number; sources: readonly string[] }
  | { type: "complete"; checkpoint: CompletedCheckpoint }
  | { type: "abort"; checkpointId: number; reason: string }
  | { type: "restore"; attempt: number; checkpoint: CompletedCheckpoint | null }
  | { type: "discard"; checkpointId: number; stateHandles: string[] };

/** Configuration of a coordinator. */
export interface CoordinatorConfig {
  /** Every task of the job (sources included). */
  tasks: readonly string[];
  /** The source tasks, where barriers are injected. */
  sources: readonly string[];
  /** Ticks between triggers. */
  intervalTicks: number;
  /** Ticks after which a pending checkpoint is aborted. */
  timeoutTicks: number;
  /** Most checkpoints pending at once (default 1). */
  maxConcurrent?: number;
  /** Completed checkpoints kept (default 2); older ones are discarded. */
  retain?: number;
  /** Restart state after a coordinator failover. */
  recovered?: { completed: readonly CompletedCheckpoint[]; nextCheckpointId: number };
}

interface Pending {
  id: number;
  triggeredAt: number;
  waiting: Set<string>;
  states: Record<string, string>;
  offsets: Record<string, number>;
}

/** Counters for metrics and tests. */
export interface CoordinatorStats {
  /** Checkpoints triggered. */
  triggered: number;
  /** Checkpoints completed. */
  completed: number;
  /** Checkpoints aborted for any reason. */
  aborted: number;
  /** Aborted by timeout. */
  timedOut: number;
  /** Restores started. */
  restores: number;
  /** Triggers postponed by the concurrency limit. */
  postponed: number;
}

/** The sans-I/O checkpoint coordinator. */
export class CheckpointCoordinator {
  readonly #tasks: ReadonlySet<string>;
  readonly #sources: readonly string[];
  readonly #interval: number;
  readonly #timeout: number;
  readonly #maxConcurrent: number;
  readonly #retain: number;
  #now = 0;
  #lastTrigger = 0;
  #nextId: number;
  #pending = new Map<number, Pending>();
  #completed: CompletedCheckpoint[];
  #effects: CoordinatorEffect[] = [];
  #restoring = false;
  #attempt = 0;
  /** Counters. */
  readonly stats: CoordinatorStats = {
    triggered: 0,
    completed: 0,
    aborted: 0,
    timedOut: 0,
    restores: 0,
    postponed: 0,
  };

  /** Creates a coordinator; throws `RangeError` on a configuration that cannot work. */
  constructor(cfg: CoordinatorConfig) {
    if (cfg.tasks.length === 0) throw new RangeError("a job needs at least one task");
    for (const s of cfg.sources) {
      if (!cfg.tasks.includes(s)) throw new RangeError(`source ${s} is not a task`);
    }
    if (cfg.sources.length === 0) throw new RangeError("a job needs at least one source");
    if (!(cfg.intervalTicks >= 1 && cfg.timeoutTicks >= 1)) {
      throw new RangeError("intervalTicks and timeoutTicks must be at least 1");
    }
    this.#tasks = new Set(cfg.tasks);
    this.#sources = [...cfg.sources];
    this.#interval = cfg.intervalTicks;
    this.#timeout = cfg.timeoutTicks;
    this.#maxConcurrent = Math.max(1, cfg.maxConcurrent ?? 1);
    this.#retain = Math.max(1, cfg.retain ?? 2);
    this.#completed = [...(cfg.recovered?.completed ?? [])].sort((a, b) => a.id - b.id);
    const maxDone = this.#completed.at(-1)?.id ?? 0;
    this.#nextId = Math.max(cfg.recovered?.nextCheckpointId ?? 1, maxDone + 1);
  }

  /** The latest completed checkpoint, if any. */
  get latestCompleted(): CompletedCheckpoint | undefined {
    return this.#completed.at(-1);
  }

  /** Ids of pending checkpoints, ascending. */
  get pendingIds(): number[] {
    return [...this.#pending.keys()].sort((a, b) => a - b);
  }

  /** The id the next trigger will use. */
  get nextCheckpointId(): number {
    return this.#nextId;
  }

  /** True between a failure and the shell's `restored`. */
  get restoring(): boolean {
    return this.#restoring;
  }

  /** The current restore attempt (0 before any failure). */
  get attempt(): number {
    return this.#attempt;
  }

  /** Takes the effects produced so far. */
  ready(): CoordinatorEffect[] {
    const e = this.#effects;
    this.#effects = [];
    return e;
  }

  /** Advances the logical clock by one tick: timeouts, then a trigger if one is due. */
  tick(): void {
    this.#now++;
    for (const p of [...this.#pending.values()]) {
      if (this.#now - p.triggeredAt >= this.#timeout) {
        this.stats.timedOut++;
        this.#abort(p.id, "timeout");
      }
    }
    if (this.#now - this.#lastTrigger >= this.#interval) this.#tryTrigger(false);
  }

  /** Handles one input. */
  step(input: CoordinatorInput): void {
    switch (input.type) {
      case "ack":
        this.#onAck(input.checkpointId, input.taskId, input.ack);
        break;
      case "decline":
        if (this.#pending.has(input.checkpointId)) {
          this.#abort(input.checkpointId, `declined by ${input.taskId}: ${input.reason}`);
        }
        break;
      case "taskFailed":
        this.#onFailure(input.taskId, input.reason);
        break;
      case "restored":
        if (this.#restoring && input.attempt === this.#attempt) {
          this.#restoring = false;
          this.#lastTrigger = this.#now;
        }
        break;
      case "trigger":
        this.#tryTrigger(true);
        break;
    }
  }

  #tryTrigger(forced: boolean): void {
    if (this.#restoring) return;
    if (this.#pending.size >= this.#maxConcurrent) {
      if (!forced) this.stats.postponed++;
      return;
    }
    const id = this.#nextId++;
    this.#lastTrigger = this.#now;
    this.#pending.set(id, {
      id,
      triggeredAt: this.#now,
      waiting: new Set(this.#tasks),
      states: {},
      offsets: {},
    });
    this.stats.triggered++;
    this.#effects.push({ type: "trigger", checkpointId: id, sources: this.#sources });
  }

  #onAck(id: number, taskId: string, ack: TaskAck): void {
    const p = this.#pending.get(id);
    if (!p || !p.waiting.has(taskId)) return;
    p.waiting.delete(taskId);
    p.states[taskId] = ack.stateHandle;
    if (ack.sourceOffsets) Object.assign(p.offsets, ack.sourceOffsets);
    if (p.waiting.size > 0) return;
    this.#pending.delete(id);
    for (const older of this.pendingIds) {
      if (older < id) this.#abort(older, `subsumed by checkpoint ${id}`);
    }
    const done: CompletedCheckpoint = {
      id,
      triggeredAt: p.triggeredAt,
      completedAt: this.#now,
      states: p.states,
      sourceOffsets: p.offsets,
    };
    this.#completed.push(done);
    this.stats.completed++;
    this.#effects.push({ type: "complete", checkpoint: done });
    while (this.#completed.length > this.#retain) {
      const old = this.#completed.shift()!;
      this.#effects.push({
        type: "discard",
        checkpointId: old.id,
        stateHandles: Object.values(old.states),
      });
    }
  }

  #abort(id: number, reason: string): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    this.stats.aborted++;
    this.#effects.push({ type: "abort", checkpointId: id, reason });
    const handles = Object.values(p.states);
    if (handles.length > 0) {
      this.#effects.push({ type: "discard", checkpointId: id, stateHandles: handles });
    }
  }

  #onFailure(taskId: string, reason: string): void {
    if (!this.#tasks.has(taskId)) return;
    for (const id of this.pendingIds) this.#abort(id, `task ${taskId} failed: ${reason}`);
    this.#attempt++;
    this.#restoring = true;
    this.stats.restores++;
    this.#effects.push({
      type: "restore",
      attempt: this.#attempt,
      checkpoint: this.#completed.at(-1) ?? null,
    });
  }
}
