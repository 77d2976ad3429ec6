/**
 * Test and benchmark support: a job manager and several workers in one
 * process, each with its own RPC endpoint over real mutual TLS (test CA),
 * sharing one {@link LocalDirFs} temp directory and an in-memory metadata
 * store.
 *
 * @module
 */
import { startTestNode, type TestNode, testPki } from "../../transport/testing.ts";
import { StaticWorkerDirectory, type WorkerInfo } from "./directory.ts";
import { LocalDirFs, type StreamFs } from "./fs.ts";
import { JobManager, type JobManagerOptions } from "./job_manager.ts";
import { streamRuntimeMessages } from "./messages.ts";
import { MemoryMetaStore } from "./meta.ts";
import type { JobView } from "./views.ts";
import { StreamWorker } from "./worker.ts";
import { type JobSpec, parseJobSpec } from "../spec.ts";

/** Options of {@link startLocalStreamCluster}. */
export interface LocalClusterOptions {
  /** Number of workers (default 3). */
  workers?: number;
  /** Slots per worker (default 8). */
  slots?: number;
  /** Job manager tuning. */
  manager?: Partial<JobManagerOptions>;
  /** An existing directory to use as the file system (default: a new temp dir). */
  dir?: string;
  /** Wraps the file system the workers see (to inject storage faults in tests). */
  workerFs?: (fs: StreamFs, worker: string) => StreamFs;
  /** Wraps the file system the job manager sees (to inject storage faults in tests). */
  managerFs?: (fs: StreamFs) => StreamFs;
  /** The metadata store (default: a new {@link MemoryMetaStore}; a subclass injects faults). */
  meta?: MemoryMetaStore;
}

/** A running in-process cluster. */
export interface LocalStreamCluster {
  /** The file system root. */
  dir: string;
  /** The file system. */
  fs: LocalDirFs;
  /** The metadata store. */
  meta: MemoryMetaStore;
  /** The job manager. */
  manager: JobManager;
  /** The workers. */
  workers: StreamWorker[];
  /** RPC nodes: `m1` then the workers. */
  nodes: TestNode[];
  /** The worker directory. */
  directory: StaticWorkerDirectory;
  /** Submits a spec (object or text) and waits until the job ended. */
  run(spec: JobSpec | unknown, timeoutMs?: number): Promise<JobView>;
  /** Reads a job's committed output as records (NDJSON). */
  output(job: JobView): Promise<Record<string, string | number>[]>;
  /** Stops everything and removes the temp directory (unless `dir` was given). */
  stop(): Promise<void>;
}

/** Starts a job manager `m1` and workers `w1..wN` in this process. */
export async function startLocalStreamCluster(
  opts: LocalClusterOptions = {},
): Promise<LocalStreamCluster> {
  const n = opts.workers ?? 3;
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "ec-stream-" });
  const fs = new LocalDirFs(dir);
  const meta = opts.meta ?? new MemoryMetaStore();
  const pki = await testPki("stream-test-ca");
  const ids = ["m1", ...Array.from({ length: n }, (_, i) => `w${i + 1}`)];
  const nodes: TestNode[] = [];
  for (const id of ids) {
    nodes.push(
      await startTestNode({
        kind: "tcp",
        identity: await pki.identity(id),
        messages: streamRuntimeMessages,
        rpc: { defaultDeadlineMs: 10_000 },
      }),
    );
  }
  const infos: WorkerInfo[] = nodes.slice(1).map((t, i) => ({
    id: ids[i + 1],
    slots: opts.slots ?? 8,
    rpc: `127.0.0.1:${t.addr.port}`,
  }));
  const m1 = `127.0.0.1:${nodes[0].addr.port}`;
  const directory = new StaticWorkerDirectory(infos);
  const workers = nodes.slice(1).map((t, i) => {
    t.rpc.addPeer("m1", { hostname: "127.0.0.1", port: Number(m1.split(":")[1]) });
    const wfs = opts.workerFs ? opts.workerFs(fs, ids[i + 1]) : fs;
    return new StreamWorker({ nodeId: ids[i + 1], rpc: t.rpc, fs: wfs });
  });
  const manager = new JobManager({
    nodeId: "m1",
    rpc: nodes[0].rpc,
    meta,
    fs: opts.managerFs ? opts.managerFs(fs) : fs,
    directory,
    isLeader: () => true,
    ...opts.manager,
  });
  manager.start();
  while (!manager.leading) await new Promise((r) => setTimeout(r, 10));
  return {
    dir,
    fs,
    meta,
    manager,
    workers,
    nodes,
    directory,
    async run(spec, timeoutMs = 60_000) {
      const s = typeof spec === "string" ? parseJobSpec(spec) : parseJobSpec(JSON.stringify(spec));
      const job = await manager.submit(s);
      return await manager.wait(job.id, timeoutMs);
    },
    async output(job) {
      if (!await fs.exists(job.output)) return [];
      const text = new TextDecoder().decode(await fs.read(job.output));
      return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
    },
    async stop() {
      manager.stop();
      for (const w of workers) w.close();
      for (const t of nodes) await t.rpc.close().catch(() => {});
      if (!opts.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
