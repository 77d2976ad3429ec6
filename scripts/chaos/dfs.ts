/**
 * The DFS part of a chaos run: clients append records with unique ids to a
 * few files through random nodes (acknowledged = answered 200; anything else
 * = unknown outcome), then the checks: every node reads the same content
 * (within a minute of the heal), every read holds every acknowledged record
 * exactly once, a record of unknown outcome at most once and nothing else,
 * each client's acknowledged records keep their order, and every metadata
 * replica agrees.
 *
 * @module
 */
import type { Prng } from "../../lib/sim/prng.ts";
import { metadataKey } from "../../lib/dfs/ring/id.ts";
import { sortByRingId, trueSuccessors } from "../../lib/dfs/ring/invariants.ts";
import { type ChaosCluster, sleep } from "./cluster.ts";

/**
 * How long reads through different nodes may disagree after the heal: two anti-entropy
 * rounds (30 s each), for records of unknown outcome still moving between replicas.
 */
const CONVERGE_MS = 60_000;

/** The result of one check. */
export interface CheckOutcome {
  /** Passed. */
  ok: boolean;
  /** What was checked, or what failed. */
  message: string;
}

interface Sent {
  file: number;
  client: number;
  n: number;
  acked: boolean;
  /** The node the append was sent through. */
  via: string;
  /** When it was sent and answered, seconds since the workload started. */
  sentS: number;
  doneS: number;
}

/** The append workload. */
export class AppendWorkload {
  /** Appends acknowledged. */
  acked = 0;
  /** Appends with an unknown outcome. */
  unknown = 0;
  /** Why appends were not acknowledged: `status code` → count. */
  readonly errors = new Map<string, number>();
  readonly #c: ChaosCluster;
  readonly #files: string[];
  readonly #sent = new Map<string, Sent>();
  readonly #rf: number;
  readonly #convergeMs: number;
  #t0 = Date.now();

  /**
   * Prepares `files` files under `/chaos/append/`; metadata must be on `rf` replicas; reads
   * through different nodes may disagree for `convergeMs` after the heal.
   */
  constructor(c: ChaosCluster, files: number, rf: number, convergeMs = CONVERGE_MS) {
    this.#c = c;
    this.#convergeMs = convergeMs;
    this.#files = Array.from({ length: files }, (_, i) => `/chaos/append/f${i}.log`);
    this.#rf = rf;
  }

  /** Runs `clients` append loops until `stop.done`. */
  run(clients: number, prng: Prng, stop: { done: boolean }): Promise<void>[] {
    this.#t0 = Date.now();
    return Array.from({ length: clients }, (_, i) => this.#client(i, prng.fork(), stop));
  }

  async #client(client: number, rnd: Prng, stop: { done: boolean }): Promise<void> {
    let n = 0;
    while (!stop.done) {
      const up = this.#c.up();
      if (!up.length) {
        await sleep(50);
        continue;
      }
      const via = rnd.pick(up);
      const file = rnd.int(this.#files.length);
      const id = `a${client}-${n}`;
      const sentS = (Date.now() - this.#t0) / 1000;
      const sent: Sent = { file, client, n, acked: false, via, sentS, doneS: sentS };
      this.#sent.set(id, sent);
      n++;
      const r = await this.#c.request(
        via,
        "PUT",
        `/v1/fs${this.#files[file]}?append`,
        `${id}\n`,
        4_000,
      )
        .catch(() => undefined);
      sent.doneS = (Date.now() - this.#t0) / 1000;
      if (r?.status === 200) {
        sent.acked = true;
        this.acked++;
      } else {
        this.unknown++;
        const why = r ? `${r.status} ${/"code":"([^"]+)"/.exec(r.text)?.[1] ?? ""}` : "timeout";
        this.errors.set(why, (this.errors.get(why) ?? 0) + 1);
      }
      await sleep(r?.status === 200 ? rnd.between(5, 40) : 150);
    }
  }

  /** Runs every check after the cluster settled. */
  async check(): Promise<CheckOutcome[]> {
    const out: CheckOutcome[] = [];
    for (let f = 0; f < this.#files.length; f++) {
      out.push(await this.checkContent(f));
      out.push(await this.#checkReplicas(this.#files[f]));
    }
    return out;
  }

  /**
   * Checks file `f`: reads it through every running node until they agree (for at most
   * the `convergeMs` given to the constructor: records of unknown outcome may still move between replicas right
   * after the heal, by repair and anti-entropy). Every single read, agreeing or not, must hold
   * each acknowledged record exactly once and nothing that was not sent.
   */
  async checkContent(f: number): Promise<CheckOutcome> {
    const path = this.#files[f];
    const t0 = Date.now();
    let first = "";
    for (let round = 1;; round++) {
      const texts = new Map<string, string>();
      const failures: string[] = [];
      for (const via of this.#c.up()) {
        for (let attempt = 0; attempt < 5; attempt++) {
          const r = await this.#c.request(via, "GET", `/v1/fs${path}`, undefined, 10_000)
            .catch(() => undefined);
          if (r?.status === 200) {
            texts.set(via, r.text);
            break;
          }
          if (r?.status === 404 && !this.#anyAcked(f)) {
            return { ok: true, message: `${path}: absent, and no append to it was acknowledged` };
          }
          if (attempt === 4) {
            failures.push(`${via}: ${r ? `${r.status} ${r.text.slice(0, 200)}` : "timeout"}`);
          }
          await sleep(500);
        }
      }
      if (failures.length) {
        return { ok: false, message: `${path}: unreadable through ${failures.join("; ")}` };
      }
      for (const [via, text] of texts) {
        const problems = this.#problems(f, text);
        if (problems.length) {
          return {
            ok: false,
            message: `${path} via ${via}: ${problems.length} problems: ${
              problems.slice(0, 10).join("; ")
            }`,
          };
        }
      }
      const sizes = [...texts].map(([id, t]) => `${id}:${t.length}`).join(" ");
      if (new Set(texts.values()).size === 1) {
        const acked = [...this.#sent.values()].filter((s) => s.file === f && s.acked).length;
        const waited = round === 1
          ? ""
          : `, after ${round} rounds (${
            ((Date.now() - t0) / 1000).toFixed(0)
          } s; first read ${first})`;
        return {
          ok: true,
          message: `${path}: ${acked} acknowledged records exactly once, ` +
            `read identically via ${texts.size} nodes${waited}`,
        };
      }
      first ||= sizes;
      if (Date.now() - t0 > this.#convergeMs) {
        return {
          ok: false,
          message: `${path}: nodes read different contents for ${this.#convergeMs / 1000} s ` +
            `(first ${first}; last ${sizes})`,
        };
      }
      await sleep(3_000);
    }
  }

  #anyAcked(f: number): boolean {
    return [...this.#sent.values()].some((s) => s.file === f && s.acked);
  }

  /** What is wrong with `text` as the content of file `f` (empty if nothing). */
  #problems(f: number, text: string): string[] {
    const problems: string[] = [];
    const count = new Map<string, number>();
    const lastN = new Map<number, number>();
    for (const id of text.split("\n").filter(Boolean)) {
      count.set(id, (count.get(id) ?? 0) + 1);
      const s = this.#sent.get(id);
      if (!s) problems.push(`unexpected record ${JSON.stringify(id.slice(0, 80))}`);
      else if (s.file !== f) problems.push(`${id} was appended to f${s.file}`);
      else if (s.acked) {
        // A client appends sequentially, so its acknowledged records keep their order.
        const prev = lastN.get(s.client) ?? -1;
        if (s.n < prev) problems.push(`${id} after a${s.client}-${prev}`);
        lastN.set(s.client, s.n);
      }
    }
    for (const [id, s] of this.#sent) {
      if (s.file !== f) continue;
      const c = count.get(id) ?? 0;
      if (s.acked && c !== 1) {
        const when = `via ${s.via}, +${s.sentS.toFixed(1)}..${s.doneS.toFixed(1)} s`;
        problems.push(`acknowledged ${id} (${when}) read ${c} times`);
      }
      if (!s.acked && c > 1) problems.push(`${id} (unknown outcome) read ${c} times`);
    }
    return problems;
  }

  async #checkReplicas(path: string): Promise<CheckOutcome> {
    const f = this.#files.indexOf(path);
    if (!this.#anyAcked(f)) {
      return { ok: true, message: `${path}: no acknowledged append, replicas not compared` };
    }
    // The replicas are the RF ring successors of the path's metadata key (other nodes may
    // keep copies from before a ring change; nobody reads those). Anti-entropy may still be
    // converging right after the heal: retry for several anti-entropy rounds (every 30 s; a
    // round can fail while the cluster is still loaded, seen in CI: one replica an op behind).
    const owners = trueSuccessors(sortByRingId(this.#c.nodes.keys()), metadataKey(path), this.#rf);
    let last = "";
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline) {
      const recs = new Map<string, string>();
      let unreachable = 0;
      for (const via of owners) {
        const r = await this.#c.request(
          via,
          "GET",
          `/v1/debug/dfs/meta?path=${encodeURIComponent(path)}`,
          undefined,
          5_000,
        ).catch(() => undefined);
        if (r?.status !== 200) {
          unreachable++;
          continue;
        }
        const rec = (JSON.parse(r.text) as { record: Record<string, unknown> | null }).record;
        if (rec) recs.set(via, summary(rec));
      }
      const distinct = new Set(recs.values());
      if (unreachable === 0 && recs.size === owners.length && distinct.size === 1) {
        return {
          ok: true,
          message: `${path}: its ${recs.size} metadata replicas (${owners}) agree (${
            [...distinct][0]
          })`,
        };
      }
      last = `${recs.size} replicas (${unreachable} nodes unreachable): ` +
        [...recs].map(([id, s]) => `${id}=${s}`).join(" ");
      await sleep(1_000);
    }
    return { ok: false, message: `${path}: metadata replicas disagree: ${last}` };
  }
}

function summary(rec: Record<string, unknown>): string {
  const blocks = (rec.blocks as { id: string; size: number }[] | undefined) ?? [];
  let h = 0;
  for (const b of blocks) {
    for (const ch of `${b.id}/${b.size};`) h = (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0;
  }
  return `file ${String(rec.fileId).slice(0, 8)} v${rec.version} seq ${rec.appendSeq} ` +
    `${rec.size} B ${blocks.length} blocks #${h.toString(16)}`;
}
