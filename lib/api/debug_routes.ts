/**
 * Debug routes for system-level fault injection (`deno task chaos`), off
 * unless the node process starts with `ELASTICORE_DEBUG_FAULTS=1`:
 *
 * - `GET /v1/debug/faults` → `{ "node", "faults": { peer: spec }, "counters" }`;
 * - `POST /v1/debug/faults` with `{ "clear"?: true | "peer", "set"?: { peer: spec } }`
 *   clears (all, or one peer) first, then sets per-peer faults on this node's
 *   transport hook (`rpc.faults`: `drop`, `delayMs`, `jitterMs`, `duplicate`,
 *   `cut`), which disturbs both RPC frames and gossip datagrams;
 * - `GET /v1/debug/dfs/meta?path=P` → `{ "node", "record" }`: this node's own
 *   metadata replica of `P` (null when it holds none), to compare replicas.
 *
 * All of them need `cluster:admin`.
 *
 * @module
 */
import type { Hono } from "hono";
import { ElasticoreError } from "../errors.ts";
import type { FaultInjector, FaultSpec } from "../transport/faults.ts";
import type { FileMeta } from "../dfs/file_meta.ts";
import { need } from "./auth.ts";
import type { ApiModule } from "./app.ts";

/** The environment variable that turns the debug routes on (value `1`). */
export const DEBUG_FAULTS_ENV = "ELASTICORE_DEBUG_FAULTS";

/** What the debug routes act on. */
export interface DebugDeps {
  /** This node's id. */
  node: string;
  /** The transport's fault hook. */
  faults: FaultInjector;
  /** This node's own metadata record of a DFS path (null if it holds none). */
  localMeta: (path: string) => Promise<FileMeta | null>;
}

const SPEC_KEYS = new Set(["drop", "delayMs", "jitterMs", "duplicate", "cut"]);
const CUTS = new Set<unknown>([true, false, "both", "in", "out"]);
const PEER = /^[A-Za-z0-9_.:-]{1,128}$/;

function bad(message: string): ElasticoreError {
  return new ElasticoreError("debug_invalid_faults", message, { status: 400 });
}

/** Validates one fault spec from JSON; throws a 400 naming the bad field. */
export function parseFaultSpec(peer: string, raw: unknown): FaultSpec {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw bad(`set.${peer} must be an object`);
  }
  const spec: FaultSpec = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!SPEC_KEYS.has(k)) throw bad(`set.${peer}.${k} is not a fault field`);
    if (k === "cut") {
      if (!CUTS.has(v)) throw bad(`set.${peer}.cut must be true, false, "both", "in" or "out"`);
      spec.cut = v as FaultSpec["cut"];
      continue;
    }
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw bad(`set.${peer}.${k} must be a non-negative number`);
    }
    if ((k === "drop" || k === "duplicate") && v > 1) {
      throw bad(`set.${peer}.${k} must be a probability in [0,1]`);
    }
    (spec as Record<string, number>)[k] = v;
  }
  return spec;
}

/** The debug routes (see the module documentation). */
export function debugRoutes(deps: DebugDeps): ApiModule {
  const view = () => {
    const faults: Record<string, FaultSpec> = {};
    for (const peer of peersOf(deps.faults)) faults[peer] = deps.faults.get(peer)!;
    const f = deps.faults;
    return {
      node: deps.node,
      faults,
      counters: { dropped: { ...f.dropped }, duplicated: f.duplicated, delayed: f.delayed },
    };
  };
  const known = new Set<string>();
  const peersOf = (f: FaultInjector) => [...known].filter((p) => f.get(p) !== undefined);
  return (app: Hono) => {
    app.get("/v1/debug/faults", need("cluster:admin"), (c) => c.json(view()));
    app.post("/v1/debug/faults", need("cluster:admin"), async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw bad("the body is not JSON");
      }
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw bad("the body must be a JSON object");
      }
      const { clear, set, ...rest } = body as Record<string, unknown>;
      const extra = Object.keys(rest);
      if (extra.length) throw bad(`unknown field ${extra[0]}`);
      if (
        clear !== undefined && clear !== true && (typeof clear !== "string" || !PEER.test(clear))
      ) {
        throw bad("clear must be true or a peer id");
      }
      const specs: [string, FaultSpec][] = [];
      if (set !== undefined) {
        if (typeof set !== "object" || set === null || Array.isArray(set)) {
          throw bad("set must be an object of peer id to fault spec");
        }
        for (const [peer, raw] of Object.entries(set)) {
          if (!PEER.test(peer)) throw bad(`"${peer}" is not a peer id`);
          specs.push([peer, parseFaultSpec(peer, raw)]);
        }
      }
      if (clear === true) deps.faults.clear();
      else if (typeof clear === "string") deps.faults.clear(clear);
      for (const [peer, spec] of specs) {
        deps.faults.set(peer, spec);
        known.add(peer);
      }
      return c.json(view());
    });
    app.get("/v1/debug/dfs/meta", need("cluster:admin"), async (c) => {
      const path = c.req.query("path");
      if (!path || !path.startsWith("/")) throw bad("path must be an absolute DFS path");
      return c.json({ node: deps.node, record: await deps.localMeta(path) });
    });
  };
}

/**
 * The debug routes when the process environment turns them on
 * (`ELASTICORE_DEBUG_FAULTS=1`), else none. Read once, at node start.
 */
export function debugModulesFromEnv(deps: DebugDeps): ApiModule[] {
  let on = false;
  try {
    on = Deno.env.get(DEBUG_FAULTS_ENV) === "1";
  } catch {
    on = false; // no env permission: stay off
  }
  return on ? [debugRoutes(deps)] : [];
}
