/**
 * Which workers exist, how many task slots each has and where its RPC
 * endpoint listens. The lead backs {@link WorkerDirectory} with SWIM
 * membership; {@link StaticWorkerDirectory} is a fixed list whose entries
 * the job manager marks dead when heartbeats fail (and alive again when they
 * answer).
 *
 * @module
 */

/** One worker as the job manager sees it. */
export interface WorkerInfo {
  /** Node id (the certificate CN). */
  id: string;
  /** Tasks it may run at once. */
  slots: number;
  /** RPC address `host:port`. */
  rpc: string;
}

/** A membership change. */
export interface WorkerEvent {
  /** `join`: a worker appeared or came back; `dead`: it is gone. */
  type: "join" | "dead";
  /** The worker. */
  worker: WorkerInfo;
}

/** What the job manager needs to know about workers. */
export interface WorkerDirectory {
  /** The live workers. */
  workers(): WorkerInfo[];
  /** Calls `cb` on every join and death; returns a function that unsubscribes. */
  onChange(cb: (e: WorkerEvent) => void): () => void;
}

/** A fixed list of workers; deaths and returns are reported with {@link markDead}/{@link markAlive}. */
export class StaticWorkerDirectory implements WorkerDirectory {
  readonly #all: WorkerInfo[];
  readonly #dead = new Set<string>();
  readonly #subs = new Set<(e: WorkerEvent) => void>();

  /** Creates the directory from its workers. */
  constructor(workers: readonly WorkerInfo[]) {
    this.#all = workers.map((w) => ({ ...w }));
  }

  /** See {@link WorkerDirectory.workers}. */
  workers(): WorkerInfo[] {
    return this.#all.filter((w) => !this.#dead.has(w.id));
  }

  /** See {@link WorkerDirectory.onChange}. */
  onChange(cb: (e: WorkerEvent) => void): () => void {
    this.#subs.add(cb);
    return () => this.#subs.delete(cb);
  }

  /** Reports `id` dead (no-op when already dead or unknown). */
  markDead(id: string): void {
    const w = this.#all.find((x) => x.id === id);
    if (!w || this.#dead.has(id)) return;
    this.#dead.add(id);
    for (const cb of this.#subs) cb({ type: "dead", worker: w });
  }

  /** Reports `id` alive again. */
  markAlive(id: string): void {
    const w = this.#all.find((x) => x.id === id);
    if (!w || !this.#dead.has(id)) return;
    this.#dead.delete(id);
    for (const cb of this.#subs) cb({ type: "join", worker: w });
  }
}

/** Parses `host:port` into a peer address. */
export function parseHostPort(s: string): { hostname: string; port: number } | undefined {
  const i = s.lastIndexOf(":");
  if (i <= 0) return undefined;
  const port = Number(s.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  return { hostname: s.slice(0, i).replace(/^\[|\]$/g, ""), port };
}
