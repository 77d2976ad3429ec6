/**
 * The physical task graph of a job: the plan's stages plus where the source
 * is read, one task id per (stage, index), and how each stage's input is
 * partitioned.
 *
 * File sources are split into byte ranges, one per source task. When the
 * first planned stage is not hash-partitioned the source is chained into it
 * (each of its tasks reads one split, no network hop); otherwise a separate
 * source stage with an empty operator chain feeds it. A `stream` source is
 * one task (a log has one reader).
 *
 * @module
 */
import { planJob, type PlannedStage, type ResolvedOp } from "../plan.ts";
import type { JobSpec } from "../spec.ts";

/** How a stage receives its records. */
export type StageInput =
  | { kind: "source" }
  | { kind: "rebalance" }
  | { kind: "hash"; column: string };

/** One physical stage. */
export interface GraphStage {
  /** Position in the pipeline. */
  index: number;
  /** Display name, e.g. `filter` or `source+filter+select`. */
  name: string;
  /** Operators run by each task. */
  ops: ResolvedOp[];
  /** Number of tasks. */
  parallelism: number;
  /** How input arrives. */
  input: StageInput;
}

/** The graph of a job. */
export interface TaskGraph {
  /** Stages in pipeline order; stage 0 reads the source. */
  stages: GraphStage[];
  /** Every task id, stage by stage. */
  tasks: string[];
  /** Source task ids (stage 0). */
  sources: string[];
  /** Sink task ids (last stage). */
  sinks: string[];
}

/** The id of task `i` of stage `s`. */
export function taskId(stage: number, i: number): string {
  return `s${stage}.${i}`;
}

/** Parses a task id into (stage, index). */
export function parseTaskId(id: string): { stage: number; index: number } {
  const m = /^s(\d+)\.(\d+)$/.exec(id);
  if (!m) throw new RangeError(`bad task id ${id}`);
  return { stage: Number(m[1]), index: Number(m[2]) };
}

function opName(o: ResolvedOp): string {
  return o.spec.name ?? o.spec.op;
}

/** Builds the task graph of a validated spec. */
export function buildGraph(spec: JobSpec): TaskGraph {
  const plan = planJob(spec);
  const first: PlannedStage = plan.stages[0];
  const nSources = spec.source.kind === "stream" ? 1 : first.parallelism;
  const stages: GraphStage[] = [];
  const chained = first.input.kind !== "hash" && nSources === first.parallelism;
  if (!chained) {
    stages.push({
      index: 0,
      name: "source",
      ops: [],
      parallelism: nSources,
      input: { kind: "source" },
    });
  }
  plan.stages.forEach((s, i) => {
    const input: StageInput = i === 0 && chained
      ? { kind: "source" }
      : s.input.kind === "hash"
      ? { kind: "hash", column: s.input.column }
      : { kind: "rebalance" };
    const name = (i === 0 && chained ? ["source"] : []).concat(s.ops.map(opName)).join("+");
    stages.push({ index: stages.length, name, ops: s.ops, parallelism: s.parallelism, input });
  });
  const tasks: string[] = [];
  for (const st of stages) for (let i = 0; i < st.parallelism; i++) tasks.push(taskId(st.index, i));
  const last = stages[stages.length - 1];
  return {
    stages,
    tasks,
    sources: tasks.filter((t) => t.startsWith("s0.")),
    sinks: Array.from({ length: last.parallelism }, (_, i) => taskId(last.index, i)),
  };
}

/** The split id of source task `index` (the key of its offset in a manifest). */
export function splitId(index: number): string {
  return `split-${index}`;
}

/** Where a job's files live in the {@link StreamFs}. */
export const jobPaths = {
  /** A task's state at a checkpoint. */
  state: (job: string, ckpt: number, task: string) => `/_checkpoints/${job}/${ckpt}/${task}`,
  /** Every checkpoint of a job. */
  checkpoints: (job: string) => `/_checkpoints/${job}`,
  /** One checkpoint of a job. */
  checkpoint: (job: string, ckpt: number) => `/_checkpoints/${job}/${ckpt}`,
  /** A sink task's staged output of a checkpoint (`final-<attempt>` at the end of input). */
  staged: (job: string, task: string, tag: string) => `/_staging/${job}/${task}/${tag}`,
  /** Every staged file of a job. */
  staging: (job: string) => `/_staging/${job}`,
  /** Dead-letter records of a job. */
  deadLetter: (job: string) => `/_deadletter/${job}.ndjson`,
  /** Results of an `api` sink. */
  results: (job: string) => `/_results/${job}.ndjson`,
  /** The log a `stream` source tails and `POST /v1/streams/{name}` appends to. */
  streamLog: (name: string) => `/_streams/${name}.log`,
};

/** The output file of a job's sink. */
export function outputPath(job: string, spec: JobSpec): string {
  return spec.sink.kind === "dfs" ? spec.sink.path : jobPaths.results(job);
}

/** The columns of the last stage's records when they follow from the spec (CSV output header). */
export function outputColumns(spec: JobSpec): string[] | undefined {
  const ops = planJob(spec).stages.flatMap((s) => s.ops);
  for (let i = ops.length - 1; i >= 0; i--) {
    const o = ops[i];
    const s = o.spec;
    switch (s.op) {
      case "select":
        return s.columns.map((c) => s.rename?.[c] ?? c);
      case "count":
      case "sum":
      case "min":
      case "max":
      case "avg":
        return [...(o.key ? [o.key] : []), s.as ?? s.op];
      case "window":
        return [...(o.key ? [o.key] : []), "windowStart", "windowEnd", s.as ?? s.aggregate];
      case "filter":
      case "keyBy":
        continue;
      default:
        return undefined;
    }
  }
  return undefined;
}

/**
 * The columns stage `index` and everything after it read from its input
 * records, or undefined when whole records matter (a stage passes records
 * on to the sink, or an operator looks at every field). Senders project
 * records onto these columns before they cross the network. A missing
 * column becomes `""`, which every built-in operator already treats like
 * a missing one.
 */
export function inputColumns(graph: TaskGraph, index: number): string[] | undefined {
  const need = new Set<string>();
  const input = graph.stages[index]?.input;
  if (input?.kind === "hash") need.add(input.column);
  for (const st of graph.stages.slice(index)) {
    if (st.index > index && st.input.kind === "hash") need.add(st.input.column);
    for (const o of st.ops) {
      const s = o.spec;
      switch (s.op) {
        case "filter":
          if (s.column === undefined) return undefined;
          need.add(s.column);
          continue;
        case "keyBy":
          need.add(s.column);
          continue;
        case "select":
          for (const c of s.columns) need.add(c);
          return [...need];
        case "count":
          if (o.key) need.add(o.key);
          return [...need];
        case "sum":
        case "min":
        case "max":
        case "avg":
          if (o.key) need.add(o.key);
          need.add(s.field);
          return [...need];
        case "window":
          if (o.key) need.add(o.key);
          if (s.field) need.add(s.field);
          if (s.timeField) need.add(s.timeField);
          return [...need];
        default:
          return undefined;
      }
    }
  }
  return undefined;
}
