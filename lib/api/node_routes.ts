/**
 * `POST /v1/node/leave`: the node answering leaves the cluster gracefully
 * (SWIM "left", so nobody waits for a failure timeout; its DFS blocks and
 * stream tasks move elsewhere) and then stops, as SIGTERM would stop it.
 *
 * @module
 */
import type { Hono } from "hono";
import { need } from "./auth.ts";
import type { ApiModule } from "./app.ts";

/** The node routes; `leave` starts the graceful shutdown after the answer is sent. */
export function nodeRoutes(nodeId: string, leave: () => void): ApiModule {
  return (app: Hono) => {
    app.post("/v1/node/leave", need("cluster:admin"), (c) => {
      setTimeout(leave, 50);
      return c.json({ node: nodeId, leaving: true }, 202);
    });
  };
}
