/**
 * The stream runtime's worker directory backed by SWIM: live members with
 * the `worker` role, their task slots and RPC addresses from gossiped
 * metadata, and join/dead events as SWIM reports them.
 *
 * @module
 */
import type { SwimNode } from "../../swim/node.ts";
import type { WorkerDirectory, WorkerEvent, WorkerInfo } from "./directory.ts";

/** Metadata key holding a worker's task slots. */
export const SLOTS_META_KEY = "slots";

function workerOf(id: string, meta: Record<string, string | number>): WorkerInfo | undefined {
  const roles = String(meta.roles ?? "").split(",");
  if (!roles.includes("worker") || typeof meta.rpc !== "string") return undefined;
  const slots = Number(meta[SLOTS_META_KEY] ?? 4);
  return { id, rpc: meta.rpc, slots: Number.isSafeInteger(slots) && slots > 0 ? slots : 4 };
}

/** A {@link WorkerDirectory} over a SWIM node's membership. */
export class SwimWorkerDirectory implements WorkerDirectory {
  readonly #swim: SwimNode;

  /** Follows `swim`'s members. */
  constructor(swim: SwimNode) {
    this.#swim = swim;
  }

  /** See {@link WorkerDirectory.workers}: alive (or merely suspected) workers. */
  workers(): WorkerInfo[] {
    const out: WorkerInfo[] = [];
    for (const m of this.#swim.members()) {
      if (m.state !== "alive" && m.state !== "suspect") continue;
      const w = workerOf(m.id, m.meta);
      if (w) out.push(w);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** See {@link WorkerDirectory.onChange}. */
  onChange(cb: (e: WorkerEvent) => void): () => void {
    return this.#swim.events.on("*", (e) => {
      const w = workerOf(e.id, e.meta);
      if (!w) return;
      if (e.kind === "join" || e.kind === "alive") cb({ type: "join", worker: w });
      else if (e.kind === "dead" || e.kind === "left") cb({ type: "dead", worker: w });
    });
  }
}
