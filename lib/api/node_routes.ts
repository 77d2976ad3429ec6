/**
 * `POST /v1/node/leave`: the node answering leaves the cluster gracefully. It first hands its
 * DFS metadata to the owners that replace it (`lib/dfs/node_handoff.ts`) and answers with what
 * that did; then it announces SWIM "left" (nobody waits for a failure timeout; its DFS blocks
 * and stream tasks move elsewhere) and stops, as SIGTERM would stop it.
 *
 * @module
 */
import type { Hono } from "hono";
import { need } from "./auth.ts";
import type { ApiModule } from "./app.ts";

/** How a node leaves: {@link NodeLeave.handOff} runs before the answer, `stop` after it. */
export interface NodeLeave {
  /** Hands the node's state off; what it returns is part of the answer. */
  handOff(): Promise<unknown>;
  /** Starts the graceful stop. */
  stop(): void;
}

/** The node routes. */
export function nodeRoutes(nodeId: string, leave: NodeLeave): ApiModule {
  return (app: Hono) => {
    app.post("/v1/node/leave", need("cluster:admin"), async (c) => {
      // A failed hand-off does not keep the node: it then leaves like a crashed one would.
      const handoff = await leave.handOff().catch((e) => ({ error: String(e) }));
      setTimeout(leave.stop, 50);
      return c.json({ node: nodeId, leaving: true, handoff }, 202);
    });
  };
}
