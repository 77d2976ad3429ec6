/**
 * `elasticore raft add|remove|transfer` and `elasticore status`.
 *
 * @module
 */
import type { Command } from "commander";
import type { MemberView, RaftView } from "../api/cluster_routes.ts";
import { ApiClient, type ClientOptions, withClientOptions } from "./client.ts";

interface ClusterJson {
  node: string;
  version: string;
  members: MemberView[];
  raft: RaftView | null;
  ring: { replication: number; nodes: { id: string; blocks: number; bytes: number }[] } | null;
  jobs: { id: string; name: string; state: string; restarts: number }[];
}

/** Renders the cluster view as the text `elasticore status` prints. */
export function formatStatus(c: ClusterJson): string {
  const lines: string[] = [];
  lines.push(`cluster view from ${c.node} (elasticore ${c.version})`);
  lines.push("", "MEMBERS");
  for (const m of c.members) {
    lines.push(
      `  ${m.id.padEnd(12)} ${m.state.padEnd(8)} inc ${String(m.incarnation).padEnd(4)} ${
        m.roles.join("+")
      }`,
    );
  }
  if (c.raft) {
    const r = c.raft;
    lines.push("", "RAFT");
    lines.push(
      `  leader ${r.leader || "(none)"}  term ${r.term}  commit ${r.commit}  applied ${r.applied}`,
    );
    lines.push(`  voters ${r.voters.join(", ") || "-"}  learners ${r.learners.join(", ") || "-"}`);
    for (const [id, p] of Object.entries(r.progress)) {
      lines.push(
        `  ${id.padEnd(12)} match ${String(p.match).padEnd(8)} next ${
          String(p.next).padEnd(8)
        } ${p.state}${p.learner ? " (learner)" : ""}`,
      );
    }
  }
  if (c.ring) {
    lines.push("", `RING (replication ${c.ring.replication})`);
    for (const n of c.ring.nodes) {
      lines.push(`  ${n.id.padEnd(12)} ${n.blocks} blocks  ${n.bytes} bytes`);
    }
  }
  if (c.jobs.length) {
    lines.push("", "JOBS");
    for (const j of c.jobs) {
      lines.push(`  ${j.id.padEnd(12)} ${j.name.padEnd(16)} ${j.state} restarts ${j.restarts}`);
    }
  }
  return lines.join("\n");
}

/** Registers `elasticore status` and `elasticore raft ...`. */
export function registerRaft(program: Command): void {
  withClientOptions(
    program.command("status").description("members, Raft leader/term/commit, ring, jobs"),
  )
    .action(async (opts: ClientOptions) => {
      const client = await ApiClient.fromOptions(opts);
      const c = await client.json<ClusterJson>({
        method: "GET",
        path: "/v1/cluster",
        idempotent: true,
      });
      console.log(opts.json ? JSON.stringify(c) : formatStatus(c));
    });
  const raft = program.command("raft").description("Raft membership of the masters");
  withClientOptions(
    raft.command("add <id> <addr>").description(
      "add a master (RPC address host:port): learner, catch up, promote",
    ),
  ).action(async (id: string, addr: string, opts: ClientOptions) => {
    const client = await ApiClient.fromOptions(opts);
    const r = await client.json({
      method: "POST",
      path: "/v1/raft/members",
      body: JSON.stringify({ id, addr }),
      headers: { "content-type": "application/json" },
      timeoutMs: 120_000,
    });
    console.log(opts.json ? JSON.stringify(r) : `${id} is now a voter`);
  });
  withClientOptions(
    raft.command("remove <id>").description("remove a master from the voters or learners"),
  )
    .action(async (id: string, opts: ClientOptions) => {
      const client = await ApiClient.fromOptions(opts);
      const r = await client.json({
        method: "DELETE",
        path: `/v1/raft/members/${encodeURIComponent(id)}`,
      });
      console.log(opts.json ? JSON.stringify(r) : `${id} removed`);
    });
  withClientOptions(raft.command("transfer <id>").description("hand leadership to another voter"))
    .action(async (id: string, opts: ClientOptions) => {
      const client = await ApiClient.fromOptions(opts);
      const r = await client.json({
        method: "POST",
        path: "/v1/raft/transfer",
        body: JSON.stringify({ to: id }),
        headers: { "content-type": "application/json" },
      });
      console.log(opts.json ? JSON.stringify(r) : `leadership moving to ${id}`);
    });
}
