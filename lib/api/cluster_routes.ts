/**
 * `GET /v1/cluster` (members, Raft, ring, jobs: the status view) and the
 * Raft membership routes `POST /v1/raft/members`, `DELETE /v1/raft/members/{id}`,
 * `POST /v1/raft/transfer`.
 *
 * @module
 */
import type { Hono } from "hono";
import type { RaftStatusReply } from "../../proto/kv.ts";
import { ElasticoreError } from "../errors.ts";
import type { KvService } from "../raft/node/kv_service.ts";
import { need } from "./auth.ts";
import type { ApiModule } from "./app.ts";

/** A member as `/v1/cluster` lists it. */
export interface MemberView {
  /** Node id. */
  id: string;
  /** SWIM state, or `alive` for a configured member when membership is not known yet. */
  state: string;
  /** SWIM incarnation. */
  incarnation: number;
  /** Roles. */
  roles: string[];
  /** RPC address. */
  rpc?: string;
  /** API URL. */
  api?: string;
  /** Gossip address. */
  gossip?: string;
}

/** The Raft part of the cluster view. */
export interface RaftView {
  /** Known leader. */
  leader: string;
  /** Term. */
  term: number;
  /** Commit index. */
  commit: number;
  /** Applied index (on the answering node). */
  applied: number;
  /** Role of the answering node (the leader's when its status was reached). */
  role: string;
  /** Voters. */
  voters: string[];
  /** Learners. */
  learners: string[];
  /** Per-follower replication (leader's view). */
  progress: RaftStatusReply["progress"];
}

/** What the cluster view is assembled from. */
export interface ClusterSources {
  /** This node's id. */
  node: string;
  /** Product version. */
  version: string;
  /** Members (SWIM, or the configured ones). */
  members: () => MemberView[];
  /** The metadata service on masters. */
  kv?: () => KvService | undefined;
  /** Ring and storage use, if this node runs the DFS. */
  ring?: () => unknown;
  /** Jobs, if the stream engine runs. */
  jobs?: () => unknown[] | Promise<unknown[]>;
}

async function raftView(kv: KvService): Promise<RaftView> {
  let s: RaftStatusReply;
  try {
    s = await kv.leaderStatus();
  } catch {
    s = kv.localStatus();
  }
  return {
    leader: s.lead,
    term: s.term,
    commit: s.commit,
    applied: kv.node.sm.applied,
    role: s.role,
    voters: s.voters,
    learners: s.learners,
    progress: s.progress,
  };
}

/** The cluster view and membership routes. */
export function clusterRoutes(src: ClusterSources): ApiModule {
  return (app: Hono) => {
    app.get("/v1/cluster", need("cluster:read"), async (c) => {
      const kv = src.kv?.();
      return c.json({
        node: src.node,
        version: src.version,
        members: src.members(),
        raft: kv ? await raftView(kv) : null,
        ring: src.ring?.() ?? null,
        jobs: await Promise.resolve(src.jobs?.() ?? []).catch(() => []),
      });
    });
    const kvOf = () => {
      const kv = src.kv?.();
      if (!kv) {
        throw new ElasticoreError(
          "not_a_master",
          `node ${src.node} is not a master; ask a master`,
          {
            status: 421,
          },
        );
      }
      return kv;
    };
    app.post("/v1/raft/members", need("cluster:admin"), async (c) => {
      const body = await c.req.json().catch(() => undefined) as
        | { id?: unknown; addr?: unknown }
        | undefined;
      if (!body || typeof body.id !== "string" || typeof body.addr !== "string") {
        throw new ElasticoreError("bad_request", 'expected {"id": "...", "addr": "host:port"}');
      }
      await kvOf().addMember(body.id, body.addr);
      return c.json({ added: body.id });
    });
    app.delete("/v1/raft/members/:id", need("cluster:admin"), async (c) => {
      await kvOf().removeMember(c.req.param("id"));
      return c.json({ removed: c.req.param("id") });
    });
    app.post("/v1/raft/transfer", need("cluster:admin"), async (c) => {
      const body = await c.req.json().catch(() => undefined) as { to?: unknown } | undefined;
      if (!body || typeof body.to !== "string") {
        throw new ElasticoreError("bad_request", 'expected {"to": "NODE_ID"}');
      }
      await kvOf().transfer(body.to);
      return c.json({ transferring: body.to });
    });
  };
}
