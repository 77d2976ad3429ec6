/**
 * Deterministic generator of realistic JSON-line node logs, for tests and the
 * `bench logs` benchmark.
 *
 * Lines follow the node log format
 * `{"ts","level","node","subsystem","msg",...props}`: a mix of subsystems and
 * levels, messages carrying ids, terms and peers, a few rare strings (so a grep
 * has infrequent hits) and some non-ASCII text (accents, Greek, Cyrillic, CJK,
 * Turkish dotless i, emoji) so case-insensitive search is exercised beyond
 * ASCII. The same seed always yields the same bytes.
 *
 * @module
 */
import { join } from "node:path";
import { Prng } from "../sim/prng.ts";
import { ElasticoreError } from "../errors.ts";

/** Rare strings the generator emits with a known small probability (for infrequent-hit greps). */
export const RARE_STRINGS: readonly string[] = [
  "checksum mismatch",
  "fsync stalled",
  "split-brain suspected",
];

const SUBSYSTEMS = ["raft", "swim", "dfs", "stream", "transport", "api", "lb", "security"] as const;
type Subsystem = typeof SUBSYSTEMS[number];

const USERS = ["alice", "Jürgen", "Zoë", "Ζωή", "Иван", "東京-ops", "kullanıcı", "ÉLODIE", "bob"];
const FILES = [
  "signs/TrafficSigns_1000.csv",
  "données/été.csv",
  "reports/Größe.json",
  "Σύνοψη/δεδομένα.txt",
  "отчёт/итог.csv",
  "logs/日本語.log",
  "rocket-🚀.bin",
];
const SIGN_TYPES = ["No Outlet", "Stop", "Yield", "Speed Limit 30", "Dead End", "No Parking"];
const POSTS = ["Punched Telespar", "U-Channel", "Wood", "Round Pipe"];

/** A node id list `m1..mK, w1..wJ` for `n` nodes (about a third masters). */
export function nodeIds(n: number): string[] {
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new ElasticoreError("logs_generate_bad_nodes", `node count must be 1..1000, got ${n}`);
  }
  const masters = Math.max(1, Math.round(n / 3));
  const ids: string[] = [];
  for (let i = 1; i <= n; i++) ids.push(i <= masters ? `m${i}` : `w${i - masters}`);
  return ids;
}

function hex(prng: Prng, digits: number): string {
  let s = "";
  while (s.length < digits) s += prng.nextU32().toString(16).padStart(8, "0");
  return s.slice(0, digits);
}

/** Produces one log line (no newline) at a time for one node, with monotonically rising timestamps. */
export class LogLineGenerator {
  #prng: Prng;
  #node: string;
  #peers: string[];
  #ms: number;
  #term = 1;
  #index = 0;

  /** A generator for `node` (peers are the other ids), starting at `startMs` (epoch ms). */
  constructor(prng: Prng, node: string, peers: readonly string[], startMs: number) {
    this.#prng = prng;
    this.#node = node;
    this.#peers = peers.filter((p) => p !== node);
    if (this.#peers.length === 0) this.#peers = [node];
    this.#ms = startMs;
  }

  /** Epoch ms of the last line produced. */
  get lastMs(): number {
    return this.#ms;
  }

  /** The next line, without a trailing newline. */
  next(): string {
    const p = this.#prng;
    this.#ms += p.int(40);
    const r = p.next();
    const level = r < 0.3
      ? "debug"
      : r < 0.8
      ? "info"
      : r < 0.92
      ? "warn"
      : r < 0.995
      ? "error"
      : "fatal";
    const subsystem = p.pick(SUBSYSTEMS);
    const rec: Record<string, unknown> = {
      ts: new Date(this.#ms).toISOString(),
      level,
      node: this.#node,
      subsystem,
      msg: "",
    };
    this.#fill(subsystem, rec);
    if (p.chance(0.0004)) rec.msg = `${p.pick(RARE_STRINGS)}: ${rec.msg}`;
    if (p.chance(0.05)) rec.user = p.pick(USERS);
    if (p.chance(0.1)) rec.reqId = hex(p, 16);
    return JSON.stringify(rec);
  }

  #fill(subsystem: Subsystem, rec: Record<string, unknown>): void {
    const p = this.#prng;
    const peer = p.pick(this.#peers);
    switch (subsystem) {
      case "raft": {
        const k = p.int(5);
        if (k === 0 && p.chance(0.05)) {
          this.#term++;
          rec.msg = `became candidate at term ${this.#term}`;
        } else if (k <= 2) {
          this.#index += 1 + p.int(8);
          rec.msg = "appended entries";
          rec.index = this.#index;
          rec.peer = peer;
        } else {
          rec.msg = `commit index advanced to ${this.#index}`;
        }
        rec.term = this.#term;
        return;
      }
      case "swim":
        rec.msg = p.pick([
          `probe ${peer} ok`,
          `indirect probe of ${peer} via ${p.pick(this.#peers)}`,
          `suspect ${peer} (incarnation ${p.int(50)})`,
          `member ${peer} alive`,
        ]);
        rec.rttUs = 50 + p.int(2000);
        return;
      case "dfs":
        rec.msg = p.pick([
          "replicated block",
          "read cache hit",
          "read cache miss",
          "evicted block",
        ]);
        rec.file = p.pick(FILES);
        rec.block = `blk_${hex(p, 12)}`;
        rec.bytes = p.int(1 << 20);
        return;
      case "stream":
        rec.msg = p.pick([
          `task ${hex(p, 8)} emitted ${p.int(5000)} rows`,
          `checkpoint ${p.int(10000)} acknowledged by ${peer}`,
          `matched Sign_Type "${p.pick(SIGN_TYPES)}"`,
          `Sign_Post ${p.pick(POSTS)} count ${p.int(900)}`,
        ]);
        rec.job = `job-${hex(p, 6)}`;
        return;
      case "transport":
        rec.msg = p.pick(["connection opened", "connection closed", "frame rejected: oversized"]);
        rec.remote = `10.0.${p.int(4)}.${1 + p.int(250)}:${7000 + p.int(100)}`;
        return;
      case "api":
        rec.msg = `${p.pick(["GET", "PUT", "POST", "DELETE"])} ${
          p.pick(["/v1/kv/", "/v1/fs/", "/v1/jobs/"])
        }${p.pick(["config", "a/b", "Größe", "été", "日本", "x"])} ${
          p.pick([200, 200, 200, 201, 404, 409, 503])
        }`;
        rec.ms = p.int(300);
        return;
      case "lb":
        rec.msg = `backend ${peer} ${p.pick(["healthy", "unhealthy", "is leader"])}`;
        return;
      case "security":
        rec.msg = p.pick([
          "token verified",
          "token expired",
          "certificate rotated",
          "ÉCHEC d'authentification",
        ]);
        rec.role = p.pick(["admin", "operator", "reader"]);
        return;
    }
  }
}

/** Options for {@link generateLogFiles}. */
export interface GenerateOptions {
  /** PRNG seed: the same seed gives the same files. */
  seed: number;
  /** Number of nodes (ids from {@link nodeIds}). */
  nodes: number;
  /** Approximate bytes of logs per node (lines are never split). */
  bytesPerNode: number;
  /** Rotate into `node-<timestamp>.jsonl` after this many bytes (default: no rotation). */
  rotateBytes?: number;
  /** Timestamp of the first line, epoch ms (default 2026-11-21T08:00:00Z). */
  startMs?: number;
}

/** One node's generated files. */
export interface GeneratedNode {
  /** Node id. */
  node: string;
  /** `<dir>/<node>`: the node's data dir. */
  dataDir: string;
  /** Log files oldest first (rotated files, then `node.jsonl`). */
  files: string[];
  /** Total bytes written. */
  bytes: number;
  /** Total lines written. */
  lines: number;
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, "");
}

/**
 * Writes `<dir>/<node>/logs/node.jsonl` (plus rotated `node-<timestamp>.jsonl`
 * files when `rotateBytes` is set) for each node and returns what it wrote.
 */
export async function generateLogFiles(
  dir: string,
  opts: GenerateOptions,
): Promise<GeneratedNode[]> {
  if (!(opts.bytesPerNode >= 0)) {
    throw new ElasticoreError("logs_generate_bad_size", `bytesPerNode must be >= 0`);
  }
  const ids = nodeIds(opts.nodes);
  const root = new Prng(opts.seed);
  const enc = new TextEncoder();
  const out: GeneratedNode[] = [];
  for (const node of ids) {
    const gen = new LogLineGenerator(
      root.fork(),
      node,
      ids,
      opts.startMs ?? Date.UTC(2026, 10, 21, 8),
    );
    const logDir = join(dir, node, "logs");
    await Deno.mkdir(logDir, { recursive: true });
    const rotated: string[] = [];
    const rotate = opts.rotateBytes ?? Infinity;
    let written = 0;
    let lines = 0;
    let inFile = 0;
    let file = await Deno.open(join(logDir, "node.jsonl"), {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      while (written < opts.bytesPerNode) {
        let batch = "";
        const room = Math.min(1 << 20, rotate - inFile, opts.bytesPerNode - written);
        while (batch.length < room) {
          batch += gen.next() + "\n";
          lines++;
        }
        const bytes = enc.encode(batch);
        await writeAll(file, bytes);
        written += bytes.length;
        inFile += bytes.length;
        if (inFile >= rotate && written < opts.bytesPerNode) {
          file.close();
          const name = join(logDir, `node-${stamp(gen.lastMs)}.jsonl`);
          await Deno.rename(join(logDir, "node.jsonl"), name);
          rotated.push(name);
          inFile = 0;
          file = await Deno.open(join(logDir, "node.jsonl"), {
            write: true,
            create: true,
            truncate: true,
          });
        }
      }
    } finally {
      file.close();
    }
    out.push({
      node,
      dataDir: join(dir, node),
      files: [...rotated, join(logDir, "node.jsonl")],
      bytes: written,
      lines,
    });
  }
  return out;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}
