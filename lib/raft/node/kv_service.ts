/**
 * The replicated metadata store as a service: writes go to the leader (a
 * follower forwards them over RPC), linearizable reads use ReadIndex on
 * whichever node received them, stale reads answer from the local replica.
 * Also the leader-side orchestration of membership changes (add as learner,
 * wait for catch-up, promote; remove; transfer) and the leader's status.
 *
 * @module
 */
import {
  kvMessages,
  type KvProposeReply,
  type RaftConfRequest,
  type RaftStatusReply,
} from "../../../proto/kv.ts";
import type { MessageRegistry } from "../../../proto/codec.ts";
import { ElasticoreError } from "../../errors.ts";
import { isTransportError, type Rpc } from "../../transport/mod.ts";
import {
  decodeKvCommand,
  encodeKvCommand,
  type KvCommand,
  type KvItem,
  type KvResult,
} from "../kv_state.ts";
import { ADDR_KEY_PREFIX, parseAddr, type RaftNode } from "./raft_node.ts";

/** How a read is served. */
export type Consistency = "linearizable" | "stale";

/** The outcome of a write as the API reports it. */
export interface WriteResult {
  /** Version (Raft index) the key has after the write, or its current version after a CAS miss. */
  version: number;
  /** Whether the key existed before. */
  existed: boolean;
}

const RETRYABLE = new Set(["not_leader", "no_leader", "transferring"]);

/** Registers the KV/raft-admin wire messages in `registry` (once). */
export function registerKvMessages(registry: MessageRegistry): void {
  if (!registry.get("kv.propose")) registry.register(kvMessages);
}

/** The metadata store API of one master. */
export class KvService {
  readonly #node: RaftNode;
  readonly #rpc: Rpc;

  /** Wraps `node` and registers the forwarding handlers on `rpc`. */
  constructor(node: RaftNode, rpc: Rpc) {
    this.#node = node;
    this.#rpc = rpc;
    rpc.handle("kv.propose", async (body) => {
      const cmd = decodeKvCommand((body as { cmd: Uint8Array }).cmd);
      return replyOf(await this.#node.proposeLocal(cmd));
    });
    rpc.handle("raft.conf", async (body) => {
      await this.#changeLocal(body as RaftConfRequest);
      return {};
    });
    rpc.handle("raft.transfer", (body) => {
      this.#node.transferLeadership((body as { to: string }).to);
      return {};
    });
    rpc.handle("raft.status", () => this.localStatus());
  }

  /** The Raft node behind the service. */
  get node(): RaftNode {
    return this.#node;
  }

  /** Writes `value` at `key`; with `cas`, only if the key's version equals it (0: must not exist). */
  async put(key: string, value: Uint8Array, cas?: number): Promise<WriteResult> {
    return resultOf(await this.#propose({ op: "put", key, value, cas }), key);
  }

  /** Deletes `key`; with `cas`, only if its version equals it. */
  async delete(key: string, cas?: number): Promise<WriteResult> {
    return resultOf(await this.#propose({ op: "delete", key, cas }), key);
  }

  /** The item at `key`, read with the given consistency. */
  async get(key: string, consistency: Consistency = "linearizable"): Promise<KvItem | undefined> {
    if (consistency === "linearizable") await this.#node.linearizableRead();
    return this.#node.sm.get(key);
  }

  /** Keys under `prefix` (sorted, at most `limit`) with their items. */
  async list(
    prefix: string,
    limit: number,
    consistency: Consistency = "linearizable",
  ): Promise<[string, KvItem][]> {
    if (consistency === "linearizable") await this.#node.linearizableRead();
    return this.#node.sm.list(prefix, limit);
  }

  /** Adds `id` (reachable at `addr`) as a learner, waits until it caught up, then promotes it. */
  async addMember(id: string, addr: string, timeoutMs = 60_000): Promise<void> {
    if (!parseAddr(addr)) {
      throw new ElasticoreError("bad_address", `"${addr}" is not host:port`, { status: 400 });
    }
    await this.#leaderCall("raft.conf", { op: "add_learner", node: id, addr });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.leaderStatus();
      const pr = st.progress[id];
      if (pr && pr.match >= st.commit - 1) break;
      if (Date.now() > deadline) {
        throw new ElasticoreError(
          "catch_up_timeout",
          `learner ${id} did not catch up in time; it stays a learner`,
          {
            status: 504,
          },
        );
      }
      await delay(100);
    }
    await this.#leaderCall("raft.conf", { op: "promote", node: id });
  }

  /** Removes `id` from the voters or learners. */
  async removeMember(id: string): Promise<void> {
    await this.#leaderCall("raft.conf", { op: "remove", node: id });
  }

  /** Moves leadership to `to`. */
  async transfer(to: string): Promise<void> {
    await this.#leaderCall("raft.transfer", { to });
  }

  /** This node's Raft status in wire form. */
  localStatus(): RaftStatusReply {
    const s = this.#node.status();
    return {
      id: s.id,
      term: s.term,
      role: s.role,
      lead: s.lead,
      commit: s.commit,
      applied: this.#node.sm.applied,
      lastIndex: s.lastIndex,
      snapshotIndex: s.snapshotIndex,
      voters: s.conf.voters,
      learners: s.conf.learners,
      progress: Object.fromEntries(
        // The leader's own entry is not a follower's progress.
        Object.entries(s.progress).filter(([id]) => id !== s.id).map((
          [id, p],
        ) => [id, { match: p.match, next: p.next, state: p.state, learner: p.learner }]),
      ),
    };
  }

  /** The leader's status (with per-follower progress), asked of the leader. */
  async leaderStatus(): Promise<RaftStatusReply> {
    return await this.#leaderCall("raft.status", {}) as RaftStatusReply;
  }

  async #changeLocal(req: RaftConfRequest): Promise<void> {
    if (req.op === "add_learner" && req.addr) {
      const r = await this.#node.proposeLocal({
        op: "put",
        key: ADDR_KEY_PREFIX + req.node,
        value: new TextEncoder().encode(req.addr),
      });
      if (!r?.ok) throw new ElasticoreError("internal", "recording the member address failed");
    }
    await this.#node.changeMembership({ op: req.op, node: req.node });
  }

  async #propose(cmd: KvCommand): Promise<KvResult | undefined> {
    const reply = await this.#leaderCall("kv.propose", {
      cmd: encodeKvCommand(cmd),
    }) as KvProposeReply;
    if (reply.ok) return { ok: true, version: reply.version, existed: reply.existed ?? false };
    return { ok: false, code: "cas_mismatch", version: reply.version };
  }

  /**
   * Runs `type` on the leader: locally when this node leads, else over RPC.
   * Refusals that mean "nothing happened" (not leader, no leader yet) are
   * retried until a leader answers or 5 s pass.
   */
  async #leaderCall(type: string, body: Record<string, unknown>): Promise<unknown> {
    const deadline = Date.now() + 5_000;
    let backoff = 10;
    for (;;) {
      try {
        if (this.#node.isLeader()) return await this.#local(type, body);
        const leader = this.#node.leader();
        if (!leader) {
          throw new ElasticoreError("no_leader", "no leader is known yet", { status: 503 });
        }
        return await this.#rpc.call(leader, type, body, { deadlineMs: 10_000 });
      } catch (e) {
        const code = isTransportError(e, "remote_error")
          ? e.remoteCode ?? ""
          : e instanceof ElasticoreError
          ? e.code
          : "";
        const refusedBeforeSending = isTransportError(e, "peer_unavailable") &&
          type !== "kv.propose";
        if ((!RETRYABLE.has(code) && !refusedBeforeSending) || Date.now() + backoff > deadline) {
          throw remoteAsLocal(e);
        }
        await delay(backoff);
        backoff = Math.min(backoff * 2, 200);
      }
    }
  }

  async #local(type: string, body: Record<string, unknown>): Promise<unknown> {
    switch (type) {
      case "kv.propose":
        return replyOf(await this.#node.proposeLocal(decodeKvCommand(body.cmd as Uint8Array)));
      case "raft.conf":
        await this.#changeLocal(body as unknown as RaftConfRequest);
        return {};
      case "raft.transfer":
        this.#node.transferLeadership(body.to as string);
        return {};
      default:
        return this.localStatus();
    }
  }
}

function replyOf(r: KvResult | undefined): KvProposeReply {
  if (!r) return { ok: true, version: 0 };
  return r.ok
    ? { ok: true, version: r.version, existed: r.existed }
    : { ok: false, version: r.version, code: r.code };
}

function resultOf(r: KvResult | undefined, key: string): WriteResult {
  if (!r) throw new ElasticoreError("internal", "the state machine returned no result");
  if (!r.ok) {
    throw new ElasticoreError("cas_mismatch", `key "${key}" is at version ${r.version}`, {
      status: 409,
    });
  }
  return { version: r.version, existed: r.existed };
}

/** A remote handler's error as the same ElasticoreError locally. */
function remoteAsLocal(e: unknown): unknown {
  if (isTransportError(e, "remote_error") && e.remoteCode) {
    const status = e.remoteCode === "cas_mismatch"
      ? 409
      : e.remoteCode.startsWith("invalid")
      ? 400
      : 503;
    return new ElasticoreError(e.remoteCode, e.message, { status });
  }
  return e;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
