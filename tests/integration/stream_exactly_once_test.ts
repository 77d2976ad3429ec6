/**
 * Exactly-once under failure with real processes: one master (Raft, KV, job
 * manager) and three workers, sharing one directory as the file system. A
 * keyed sequence source (every key's values 1, 2, 3, ...) feeds a keyed
 * count and a DFS sink. For each seed a job runs and `kill -9` hits a
 * worker with tasks at a random moment; the committed output must pass
 * `checkSequences` and equal the failure-free run's. The killed worker is
 * started again before the next seed.
 *
 * Seeds: 3 by default; `ELASTICORE_STREAM_SEEDS=N` runs N.
 */
import assert from "node:assert/strict";
import { checkSequences } from "../../lib/stream/sequences.ts";
import { StreamProc, writeStreamIdentities } from "./fixtures/stream_node.ts";

const KEYS = 16;
// Long enough that a kill lands mid-job: the engine got faster, and with 25,000 per key a job
// could finish within the kill's random delay (seed 2 "finished 2 ms later, restarts 0").
const PER_KEY = 60_000;
const SEEDS = Number(Deno.env.get("ELASTICORE_STREAM_SEEDS") ?? "3");

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function spec(out: string) {
  return {
    name: "seq",
    source: { kind: "ndjson", path: "/in/seq.ndjson" },
    stages: [
      { op: "keyBy", column: "key", parallelism: 3 },
      { op: "count", as: "n", parallelism: 3 },
    ],
    sink: { kind: "dfs", path: out },
    checkpoint: { intervalMs: 150, timeoutMs: 3000 },
  };
}

async function readLines(path: string): Promise<string[]> {
  return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "");
}

Deno.test({
  name: "stream: kill -9 of a worker mid-job, output is exactly once and equals a clean run",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "ec-stream-it-" });
    const ids = ["m1", "w1", "w2", "w3"];
    const base = 22000 + Math.floor(Math.random() * 180) * 50; // below the ephemeral range
    const port = (i: number) => base + i;
    const masters = `m1=127.0.0.1:${port(0)}`;
    const workers = ids.slice(1).map((w, i) => `${w}=127.0.0.1:${port(i + 1)}`).join(",");
    const fsDir = `${root}/fs`;
    await writeStreamIdentities(`${root}/ids`, ids);
    let input = "";
    for (let v = 1; v <= PER_KEY; v++) {
      for (let k = 0; k < KEYS; k++) input += `{"key":"k${k}","value":${v}}\n`;
    }
    await Deno.mkdir(`${fsDir}/in`, { recursive: true });
    await Deno.writeTextFile(`${fsDir}/in/seq.ndjson`, input);
    const procs = new Map<string, StreamProc>();
    const spawn = async (id: string, i: number) => {
      procs.set(
        id,
        await StreamProc.spawn({
          id,
          role: id.startsWith("m") ? "master" : "worker",
          dir: `${root}/ids`,
          fs: fsDir,
          port: port(i),
          masters,
          workers,
        }),
      );
    };
    try {
      await Promise.all(ids.map((id, i) => spawn(id, i)));
      const m1 = procs.get("m1")!;
      const run = async (out: string) => {
        const r = await m1.command(`submit ${JSON.stringify(spec(out))}`);
        return String(r.id);
      };
      const wait = async (id: string) =>
        (await m1.command(`wait ${id} 90000`, 100_000)).job as Record<string, unknown>;

      const t0 = Date.now();
      const cleanId = await run("/out/clean.ndjson");
      const clean = await wait(cleanId);
      console.log(`clean run: ${Date.now() - t0} ms`);
      assert.equal(clean.state, "finished", String(clean.error));
      const reference = (await readLines(`${fsDir}/out/clean.ndjson`)).sort();
      assert.equal(reference.length, KEYS * PER_KEY);

      for (let seed = 1; seed <= SEEDS; seed++) {
        const rnd = mulberry32(seed);
        const out = `/out/run-${seed}.ndjson`;
        const id = await run(out);
        let job = (await m1.command(`get ${id}`)).job as Record<string, unknown>;
        const until = Date.now() + 30_000;
        while (
          job.lastCheckpoint === null && ["pending", "running"].includes(String(job.state)) &&
          Date.now() < until
        ) {
          await new Promise((r) => setTimeout(r, 20));
          job = (await m1.command(`get ${id}`)).job as Record<string, unknown>;
        }
        await new Promise((r) => setTimeout(r, Math.floor(rnd() * 300)));
        job = (await m1.command(`get ${id}`)).job as Record<string, unknown>;
        assert.equal(job.state, "running", `seed ${seed}: the job ended before the kill`);
        const tasks = job.tasks as Record<string, string>;
        const busy = [...new Set(Object.values(tasks))].sort();
        const victim = busy[Math.floor(rnd() * busy.length)];
        await procs.get(victim)!.kill();
        const t1 = Date.now();
        const done = await wait(id);
        console.log(
          `seed ${seed}: killed ${victim}, finished ${Date.now() - t1} ms later, ` +
            `restarts ${done.restarts}`,
        );
        assert.equal(done.state, "finished", `seed ${seed}: ${done.error}`);
        assert.ok(Number(done.restarts) >= 1, `seed ${seed}: no restart after killing ${victim}`);
        const lines = await readLines(`${fsDir}${out}`);
        const rep = checkSequences(lines.map((l) => JSON.parse(l)), {
          valueField: "n",
          expectLast: new Map(Array.from({ length: KEYS }, (_, k) => [`k${k}`, PER_KEY])),
        });
        assert.ok(rep.ok, `seed ${seed} (killed ${victim}): ${rep.problems.join("; ")}`);
        assert.deepEqual(
          lines.sort(),
          reference,
          `seed ${seed}: output differs from the clean run`,
        );
        await spawn(victim, ids.indexOf(victim));
      }
    } finally {
      for (const p of procs.values()) await p.close().catch(() => {});
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
