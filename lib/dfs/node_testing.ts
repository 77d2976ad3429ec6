/**
 * Test and benchmark support: several {@link DfsNode}s in one process, each with its own
 * mutual-TLS RPC layer on 127.0.0.1 (throw-away CA) and its own Deno KV store in a
 * temporary directory, bootstrapped as one ring.
 *
 * @module
 */
import { dfsMessages } from "../../proto/dfs.ts";
import { MetricsRegistry } from "../metrics.ts";
import { startTestNode, type TestPki, testPki } from "../transport/testing.ts";
import type { PeerAddress } from "../transport/types.ts";
import { DfsNode } from "./node.ts";
import { metadataKey } from "./ring/id.ts";
import { sortByRingId } from "./ring/invariants.ts";
import { NodeStore } from "./store/node_store.ts";
import { LocalFence, type WriteFence } from "./write_fence.ts";

/** Options of {@link startDfsCluster}. */
export interface DfsClusterOptions {
  /** Node ids (default n1..n4). */
  ids?: string[];
  /** Replication factor (default 3). */
  replication?: number;
  /** Block size (default 64 KiB). */
  blockBytes?: number;
  /** Per-node quota (default none). */
  quotaBytes?: number;
  /** Read cache per node (default 64 MiB). */
  cacheBytes?: number;
  /** Memory tier per node (default 64 MiB). */
  memoryTierBytes?: number;
  /** Anti-entropy period (default 0: only on ring changes and on demand). */
  antiEntropyMs?: number;
  /** Ring tick (default 50 ms). */
  tickMs?: number;
  /** The write fence of each node (default: `LocalFence`, the ring has no Raft masters). */
  fence?: (id: string) => WriteFence;
}

/** One node of a test cluster. */
export interface TestDfsNode {
  /** The node. */
  node: DfsNode;
  /** Its RPC address. */
  addr: PeerAddress;
  /** Its metrics. */
  metrics: MetricsRegistry;
  /** Its store's directory. */
  dir: string;
}

/** A running in-process cluster. */
export class DfsTestCluster {
  /** Running nodes by id. */
  readonly nodes = new Map<string, TestDfsNode>();
  readonly #pki: TestPki;
  readonly #root: string;
  readonly #opts: DfsClusterOptions;

  private constructor(pki: TestPki, root: string, opts: DfsClusterOptions) {
    this.#pki = pki;
    this.#root = root;
    this.#opts = opts;
  }

  /** Starts the nodes of `opts.ids` as one ring. */
  static async start(opts: DfsClusterOptions = {}): Promise<DfsTestCluster> {
    const pki = await testPki("dfs-test-ca");
    const root = await Deno.makeTempDir({ prefix: "dfs_cluster_" });
    const c = new DfsTestCluster(pki, root, opts);
    const ids = opts.ids ?? ["n1", "n2", "n3", "n4"];
    const made = await Promise.all(ids.map((id) => c.#make(id)));
    const members: Record<string, PeerAddress> = {};
    for (const m of made) members[m.node.self] = m.addr;
    for (const m of made) {
      c.nodes.set(m.node.self, m);
      await m.node.start({ members });
    }
    return c;
  }

  async #make(id: string): Promise<TestDfsNode> {
    const o = this.#opts;
    const t = await startTestNode({
      kind: "tcp",
      identity: await this.#pki.identity(id),
      messages: dfsMessages,
    });
    const dir = `${this.#root}/${id}`;
    await Deno.mkdir(dir, { recursive: true });
    const metrics = new MetricsRegistry();
    const store = await NodeStore.open({
      path: `${dir}/store.kv`,
      quotaBytes: o.quotaBytes ?? 0,
      cacheBytes: o.cacheBytes ?? 64 << 20,
      memoryTierBytes: o.memoryTierBytes ?? 64 << 20,
      metrics,
    });
    const node = new DfsNode({
      id,
      rpc: t.rpc,
      store,
      replication: o.replication ?? 3,
      blockBytes: o.blockBytes ?? 64 * 1024,
      metrics,
      tickMs: o.tickMs ?? 50,
      antiEntropyMs: o.antiEntropyMs ?? 0,
      fence: o.fence?.(id) ?? new LocalFence(),
    });
    return { node, addr: t.addr, metrics, dir };
  }

  /** The node `id`. */
  node(id: string): DfsNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no running node ${id}`);
    return n.node;
  }

  /** Starts a new node that joins the ring through the running ones; tells them it joined. */
  async join(id: string): Promise<DfsNode> {
    const m = await this.#make(id);
    const members: Record<string, PeerAddress> = {};
    for (const [k, v] of this.nodes) members[k] = v.addr;
    this.nodes.set(id, m);
    await m.node.start({ members, join: true });
    for (const [k, v] of this.nodes) if (k !== id) v.node.memberJoined(id, m.addr);
    return m.node;
  }

  /** Crashes node `id` (closes its RPC layer and store) and reports it dead to the others. */
  async kill(id: string, report = true): Promise<void> {
    const n = this.nodes.get(id);
    if (!n) return;
    this.nodes.delete(id);
    n.node.stop();
    await n.node.rpc.close();
    n.node.store.close();
    if (report) { for (const v of this.nodes.values()) v.node.memberDead(id); }
  }

  /** Waits until every node's predecessor and successor list are the true ones. */
  async settled(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const ring = sortByRingId([...this.nodes.keys()]);
      const ok = [...this.nodes.values()].every((n) => {
        const r = n.node.ring;
        const at = ring.indexOf(n.node.self);
        const want = Array.from(
          { length: Math.min(r.core.r, ring.length - 1) },
          (_, k) => ring[(at + 1 + k) % ring.length],
        );
        const pred = ring.length > 1 ? ring[(at - 1 + ring.length) % ring.length] : null;
        return r.isMember() && r.predecessor() === pred &&
          r.core.successors().join() === want.join();
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error("the ring did not settle");
  }

  /** Stops every node and removes the stores. */
  async close(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.kill(id, false);
    await Deno.remove(this.#root, { recursive: true }).catch(() => {});
  }
}

/** Reads the whole text of `path` (default: the path given to {@link withSixNodes}) through node `id`. */
export type TextThrough = (id: string, path?: string) => Promise<string>;

/**
 * Runs `fn` on six settled in-process nodes (RF 3), given `path`'s ring order `s` (s0 .. s5:
 * its metadata owners first) and a reader of file text through a node; then closes them.
 */
export async function withSixNodes(
  path: string,
  fn: (c: DfsTestCluster, s: string[], text: TextThrough) => Promise<void>,
): Promise<void> {
  const c = await DfsTestCluster.start({ ids: ["n1", "n2", "n3", "n4", "n5", "n6"] });
  const text: TextThrough = async (id, p = path) =>
    await new Response((await c.node(id).get(p)).body).text();
  try {
    await c.settled();
    const s = await c.node("n1").locate(metadataKey(path), 3);
    if (s.length !== 6) throw new Error(`${path} has ${s.length} candidates, not 6`);
    await fn(c, s, text);
  } finally {
    await c.close();
  }
}
