/**
 * The stream part of a chaos run: a keyed sequence source (every key's
 * values 1, 2, 3, ...) written to the DFS beforehand, and jobs submitted one
 * after another through random nodes while faults happen: `keyBy` then a
 * keyed `count`, into a DFS sink. At the end every job of the run must have
 * finished, and its committed output must pass `checkSequences` and equal
 * the expected records exactly (no loss, no duplicate).
 *
 * @module
 */
import type { Prng } from "../../lib/sim/prng.ts";
import { checkSequences } from "../../lib/stream/sequences.ts";
import type { StreamRecord } from "../../lib/stream/record.ts";
import { type ChaosCluster, sleep } from "./cluster.ts";
import type { CheckOutcome } from "./dfs.ts";

const INPUT = "/chaos/stream/seq.ndjson";
const ENDED = new Set(["finished", "failed", "cancelled"]);

interface JobView {
  id: string;
  name: string;
  state: string;
  restarts: number;
  output: string;
  error?: string;
}

/** The stream workload. */
export class StreamWorkload {
  /** Jobs submitted with a known id. */
  submitted = 0;
  /** Submissions with an unknown outcome. */
  unknownSubmits = 0;
  readonly #c: ChaosCluster;
  readonly #keys: number;
  readonly #perKey: number;
  readonly #tag: string;

  /** `keys` keys with values 1..`perKey`; job names carry `tag`. */
  constructor(c: ChaosCluster, keys: number, perKey: number, tag: string) {
    this.#c = c;
    this.#keys = keys;
    this.#perKey = perKey;
    this.#tag = tag;
  }

  /** Writes the source file (before any fault). */
  async prepare(): Promise<void> {
    let text = "";
    for (let v = 1; v <= this.#perKey; v++) {
      for (let k = 0; k < this.#keys; k++) text += `{"key":"k${k}","value":${v}}\n`;
    }
    for (let attempt = 0; attempt < 20; attempt++) {
      const via = this.#c.up()[attempt % this.#c.up().length];
      const r = await this.#c.request(via, "PUT", `/v1/fs${INPUT}`, text, 30_000)
        .catch(() => undefined);
      if (r?.status === 201) return;
      if (r?.status === 409) return; // an earlier attempt stored it
      await sleep(500);
    }
    throw new Error(`could not write ${INPUT}`);
  }

  #spec(i: number): string {
    return JSON.stringify({
      name: `${this.#tag}-${i}`,
      source: { kind: "ndjson", path: INPUT },
      stages: [
        { op: "keyBy", column: "key", parallelism: 2 },
        { op: "count", as: "n", parallelism: 2 },
      ],
      sink: { kind: "dfs", path: `/chaos/stream/out/${this.#tag}-${i}.ndjson` },
      checkpoint: { intervalMs: 300, timeoutMs: 3000 },
    });
  }

  /** Submits jobs one after another until `stop.done`. */
  async run(prng: Prng, stop: { done: boolean }): Promise<void> {
    let i = 0;
    while (!stop.done) {
      const up = this.#c.up();
      if (!up.length) {
        await sleep(100);
        continue;
      }
      const via = prng.pick(up);
      const r = await this.#c.request(via, "POST", "/v1/jobs", this.#spec(i++), 5_000, {
        "content-type": "application/json",
      }).catch(() => undefined);
      if (r?.status !== 201) {
        this.unknownSubmits++;
        await sleep(300);
        continue;
      }
      this.submitted++;
      const id = (JSON.parse(r.text) as JobView).id;
      while (!stop.done) {
        await sleep(500);
        const job = await this.#get(prng, id);
        if (job && ENDED.has(job.state)) break;
      }
    }
  }

  async #get(prng: Prng, id: string): Promise<JobView | undefined> {
    const up = this.#c.up();
    if (!up.length) return undefined;
    const r = await this.#c.request(prng.pick(up), "GET", `/v1/jobs/${id}`, undefined, 3_000)
      .catch(() => undefined);
    return r?.status === 200 ? JSON.parse(r.text) as JobView : undefined;
  }

  /** Waits for every job of this run to end, then checks each one's output. */
  async check(timeoutMs: number): Promise<{ jobs: number; restarts: number; out: CheckOutcome[] }> {
    const deadline = Date.now() + timeoutMs;
    let jobs: JobView[] = [];
    for (;;) {
      const via = this.#c.up((n) => n.master)[0] ?? this.#c.up()[0];
      const r = await this.#c.request(via, "GET", "/v1/jobs", undefined, 5_000)
        .catch(() => undefined);
      if (r?.status === 200) {
        jobs = (JSON.parse(r.text) as { jobs: JobView[] }).jobs
          .filter((j) => j.name.startsWith(`${this.#tag}-`));
        if (jobs.every((j) => ENDED.has(j.state))) break;
      }
      if (Date.now() > deadline) {
        const open = jobs.filter((j) => !ENDED.has(j.state)).map((j) => `${j.name}:${j.state}`);
        return {
          jobs: jobs.length,
          restarts: 0,
          out: [{ ok: false, message: `jobs still running after ${timeoutMs} ms: ${open}` }],
        };
      }
      await sleep(1_000);
    }
    const out: CheckOutcome[] = [];
    let restarts = 0;
    for (const j of jobs) {
      restarts += j.restarts;
      out.push(
        j.state === "finished"
          ? await this.#checkOutput(j)
          : { ok: false, message: `job ${j.name} ${j.state}: ${j.error ?? ""}` },
      );
    }
    return { jobs: jobs.length, restarts, out };
  }

  async #checkOutput(j: JobView): Promise<CheckOutcome> {
    let text: string | undefined;
    for (let attempt = 0; attempt < 10 && text === undefined; attempt++) {
      const via = this.#c.up()[attempt % this.#c.up().length];
      const r = await this.#c.request(via, "GET", `/v1/fs${j.output}`, undefined, 20_000)
        .catch(() => undefined);
      if (r?.status === 200) text = r.text;
      else await sleep(500);
    }
    if (text === undefined) return { ok: false, message: `job ${j.name}: output unreadable` };
    const records = text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as StreamRecord);
    const expectLast = new Map(
      Array.from({ length: this.#keys }, (_, k) => [`k${k}`, this.#perKey] as [string, number]),
    );
    const rep = checkSequences(records, { valueField: "n", expectLast });
    if (!rep.ok) {
      return { ok: false, message: `job ${j.name}: ${rep.problems.slice(0, 5).join("; ")}` };
    }
    const got = records.map((r) => JSON.stringify([r.key, r.n, Object.keys(r).length])).sort();
    const want: string[] = [];
    for (let k = 0; k < this.#keys; k++) {
      for (let v = 1; v <= this.#perKey; v++) want.push(JSON.stringify([`k${k}`, v, 2]));
    }
    want.sort();
    const same = got.length === want.length && got.every((g, i) => g === want[i]);
    return same
      ? {
        ok: true,
        message: `job ${j.name}: ${records.length} records exactly once (restarts ${j.restarts})`,
      }
      : { ok: false, message: `job ${j.name}: output differs from the expected sequences` };
  }
}
