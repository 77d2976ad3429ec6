/**
 * How a DFS node reads a file's metadata record for a client: the newest record among the
 * path's live metadata replicas and its quorum owners not declared dead, with a look at every
 * other live member before answering "does not exist".
 *
 * @module
 */
import type { FileMeta } from "./file_meta.ts";
import type { NodeContext } from "./node_context.ts";
import { isUnreachable, unavailable } from "./node_errors.ts";
import { newest } from "./node_meta.ts";
import { findElsewhere } from "./node_meta_sync.ts";
import type { RingLocator } from "./node_ring.ts";
import { metadataKey } from "./ring/id.ts";

/** Deadline of a read's ask to a quorum owner outside the live successors (DFS-11). */
const OWNER_READ_DEADLINE_MS = 1000;

/**
 * The newest record of `path` among its live metadata replicas and its quorum owners not
 * declared dead (null if none). An acknowledged change is on a majority of the quorum
 * owners (DFS-9), so they are asked even when this node suspects them or takes other nodes
 * for the first live successors: a fall-back node may hold a stale copy (DFS-11). With
 * `allReplicas` every one of its RF owners, suspected ones included, must answer (else
 * `dfs_unavailable`, naming those that did not), so a write whose outcome was unknown is
 * seen as soon as any replica stored it: what an idempotent retry of that write must check.
 * `foundElsewhere` is called when only a member outside those had the record.
 */
export async function readMetaRecord(
  ctx: NodeContext,
  ring: Pick<RingLocator, "owners" | "liveMembers">,
  path: string,
  opts: { allReplicas?: boolean },
  foundElsewhere: () => void,
): Promise<FileMeta | null> {
  const key = metadataKey(path);
  const live = opts.allReplicas
    ? await ring.owners(key)
    : (await ctx.locate(key, 0)).slice(0, ctx.rf);
  const owners = opts.allReplicas
    ? []
    : ctx.quorumOwners(key).filter((o) => !ctx.isDead(o) && !live.includes(o));
  const cands = [...live, ...owners];
  let answered = 0;
  const silent: string[] = [];
  const recs = await Promise.all(cands.map(async (peer) => {
    try {
      // An owner this node does not take for a live successor (suspected, or not answering
      // at all) gets a short deadline: a read must not wait 5 s on it.
      const deadlineMs = owners.includes(peer) ? OWNER_READ_DEADLINE_MS : 5000;
      const r = peer === ctx.self
        ? await ctx.localMeta(path)
        : (await ctx.call<{ record: FileMeta | null }>(peer, "dfs.meta_get", { path }, {
          deadlineMs,
        })).record;
      answered++;
      return r;
    } catch (e) {
      if (isUnreachable(e)) ctx.suspect(peer);
      silent.push(`${peer}: ${String(e).slice(0, 160)}`);
      return null;
    }
  }));
  if (answered === 0) {
    throw unavailable(`no metadata replica of ${path} answered (${silent.join("; ")})`);
  }
  if (opts.allReplicas && answered < cands.length) {
    throw unavailable(
      `${answered} of the ${cands.length} metadata replicas of ${path} answered ` +
        `(${silent.join("; ")})`,
    );
  }
  const best = newest(recs);
  if (best) return best;
  // None of the owners has it: before answering "does not exist", ask every other live
  // member (previous owners after a heal) and let repair move what is found.
  const others = ring.liveMembers().filter((m) => !cands.includes(m));
  const found = await findElsewhere(ctx, path, others, cands);
  if (found) foundElsewhere();
  return found;
}
