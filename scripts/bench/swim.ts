/**
 * SWIM benchmark: failure-detection time, per-node bandwidth and false
 * positives of N ElastiCore SWIM processes against N HashiCorp Serf agents
 * (`/usr/bin/serf`, LAN profile), measured the same way in the same run.
 *
 * `deno task bench swim [--n 8] [--kills 5] [--window-s 30] [--systems ours,serf]`
 *
 * Method
 * - Each system runs alone in a fresh network namespace (`unshare -n`, the
 *   children entered with `nsenter -n`), so the loopback counters of that
 *   namespace (`/proc/<pid>/net/dev`, `lo` tx bytes and packets) count
 *   exactly that system's traffic, IP/UDP/TCP headers included; no other
 *   process on the machine adds to them. Per-node bandwidth = Δtx / N / s,
 *   over a steady window with no failures. CPU is utime+stime from
 *   `/proc/<pid>/stat` over the same window.
 * - Same timing for both: probe interval 1 s, probe timeout 500 ms, 3
 *   indirect checks, suspicion_mult 4 (Lifeguard max ×6), gossip every 200 ms
 *   to 3 nodes, push/pull every 30 s (memberlist's LAN profile is our
 *   default). Both encrypt gossip with a 32-byte AES-GCM key.
 * - Kills: a victim (never the seed) gets SIGKILL; detection time is from
 *   the kill until every other member reported it failed/dead, as the line
 *   reached this driver (ours: the fixture's event line; Serf: the agent's
 *   `serf: EventMemberFailed` log line; both through a pipe). The victim is
 *   then restarted and rejoins before the next kill.
 * - False positive: any failed/dead report about a member outside its own
 *   kill-to-rejoin episode.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { toBase64 } from "../../lib/security/encoding.ts";
import { SwimProc, writeIdentityDir } from "../../tests/integration/fixtures/swim_node.ts";

interface Ev {
  recv: number;
  kind: "failed" | "alive";
  member: string;
}

interface NodeHandle {
  id: string;
  pid: number;
  events(): Ev[];
  close(): Promise<void>;
}

interface Driver {
  name: string;
  /** Starts node `id` in the namespace of `holder`, joining `seed` (a handle) if given. */
  start(id: string, holder: number, seed?: NodeHandle): Promise<NodeHandle>;
  /** Application-level bytes sent by a node so far, if the system reports it. */
  appBytes?(h: NodeHandle): Promise<number>;
}

interface Episode {
  victim: string;
  killedAt: number;
  restoredAt: number;
}

interface SystemResult {
  name: string;
  detections: { victim: string; firstMs: number; allMs: number }[];
  missed: number;
  falsePositives: string[];
  bytesPerNodeSec: number;
  packetsPerNodeSec: number;
  appBytesPerNodeSec?: number;
  cpuPctPerNode: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

function nsWrap(holder: number): string[] {
  return ["nsenter", "-t", String(holder), "-n", "--"];
}

/** Our fixture processes (tests/integration/fixtures/swim_node.ts) with default timing. */
function oursDriver(dir: string): Driver {
  const procs = new Map<NodeHandle, SwimProc>();
  return {
    name: "ElastiCore SWIM",
    async start(id, holder, seed) {
      const seedProc = seed ? procs.get(seed) : undefined;
      const p = await SwimProc.spawn({
        id,
        dir,
        seeds: seedProc ? [seedProc.gossip] : [],
        wrap: nsWrap(holder),
      });
      const h: NodeHandle = {
        id,
        pid: p.pid,
        events: () => {
          const out: Ev[] = [];
          for (const l of p.lines) {
            if (l.event === "dead") out.push({ recv: l.recv, kind: "failed", member: l.member! });
            if (l.event === "join") out.push({ recv: l.recv, kind: "alive", member: l.member! });
          }
          return out;
        },
        close: () => p.close(),
      };
      procs.set(h, p);
      return h;
    },
    async appBytes(h) {
      const p = procs.get(h);
      return p ? (await p.stats()).bytesOut : 0;
    },
  };
}

/** `serf agent` processes on fixed ports inside the namespace, events read from their logs. */
function serfDriver(key: string, ports: Map<string, number>): Driver {
  return {
    name: "HashiCorp Serf",
    async start(id, holder, seed) {
      const port = ports.get(id)!;
      const args = [
        ...nsWrap(holder).slice(1),
        "serf",
        "agent",
        "-node",
        id,
        "-bind",
        `127.0.0.1:${port}`,
        "-rpc-addr",
        `127.0.0.1:${port + 1000}`,
        "-encrypt",
        key,
        "-profile",
        "lan",
        "-log-level",
        "info",
      ];
      if (seed) args.push("-join", `127.0.0.1:${ports.get(seed.id)}`);
      const child = new Deno.Command("nsenter", {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const evs: Ev[] = [];
      const log: string[] = [];
      let running = false;
      const read = async (s: ReadableStream<Uint8Array>) => {
        let buf = "";
        for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
          buf += chunk;
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const recv = performance.now();
            if (line.includes("Serf agent running")) running = true;
            const m = /serf: EventMember(Failed|Join): (\S+)/.exec(line);
            if (m) evs.push({ recv, kind: m[1] === "Failed" ? "failed" : "alive", member: m[2] });
            log.push(line);
            if (log.length > 50) log.shift();
          }
        }
      };
      void read(child.stdout).catch(() => {});
      void read(child.stderr).catch(() => {});
      let exited = false;
      const status = child.status.then((s) => {
        exited = true;
        return s;
      });
      const close = async () => {
        if (!exited) {
          try {
            child.kill("SIGKILL");
          } catch {
            // gone already
          }
        }
        await status;
      };
      try {
        await until(() => running || exited, 30_000, `serf ${id} to start`);
        if (exited) throw new Error(`serf ${id} exited: ${log.join("\n")}`);
      } catch (e) {
        await close();
        throw e;
      }
      return { id, pid: child.pid, events: () => evs, close };
    },
  };
}

/** Reads a /proc file through `cat` (Deno asks for --allow-all to read /proc/<pid> itself). */
async function procFile(path: string): Promise<string> {
  const out = await new Deno.Command("cat", { args: [path], stderr: "null" }).output();
  if (!out.success) throw new Error(`cannot read ${path}`);
  return new TextDecoder().decode(out.stdout);
}

/** `lo` tx bytes and packets of the namespace that process `pid` is in. */
async function loTx(pid: number): Promise<{ bytes: number; packets: number }> {
  const text = await procFile(`/proc/${pid}/net/dev`);
  const line = text.split("\n").find((l) => l.trim().startsWith("lo:"));
  if (!line) throw new Error("no lo interface in the namespace");
  const f = line.split(":")[1].trim().split(/\s+/).map(Number);
  return { bytes: f[8], packets: f[9] };
}

/** utime + stime of `pid` in seconds (clock ticks of 10 ms). */
async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await procFile(`/proc/${pid}/stat`);
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return 0;
  }
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)];
}

async function runSystem(
  driver: Driver,
  ids: string[],
  opts: { kills: number; windowS: number },
): Promise<SystemResult> {
  const holderProc = new Deno.Command("unshare", {
    args: ["-n", "sleep", "86400"],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const holder = holderProc.pid;
  const current = new Map<string, NodeHandle>();
  const every: NodeHandle[] = [];
  const episodes: Episode[] = [];
  try {
    await sleep(200);
    const up = await new Deno.Command("nsenter", {
      args: ["-t", String(holder), "-n", "ip", "link", "set", "lo", "up"],
    }).output();
    if (!up.success) throw new Error(`cannot bring lo up: ${new TextDecoder().decode(up.stderr)}`);
    const add = (h: NodeHandle) => {
      current.set(h.id, h);
      every.push(h);
    };
    const seed = await driver.start(ids[0], holder);
    add(seed);
    for (const h of await Promise.all(ids.slice(1).map((id) => driver.start(id, holder, seed)))) {
      add(h);
    }
    const sees = (h: NodeHandle, member: string, kind: Ev["kind"], after = 0) =>
      h.events().some((e) => e.member === member && e.kind === kind && e.recv >= after);
    await until(
      () =>
        [...current.values()].every((h) => ids.every((id) => id === h.id || sees(h, id, "alive"))),
      60_000,
      `${driver.name}: full membership`,
    );
    await sleep(3000);

    // Steady state: bandwidth and CPU with no failures.
    const pids = [...current.values()].map((h) => h.pid);
    const app0 = driver.appBytes
      ? await Promise.all([...current.values()].map((h) => driver.appBytes!(h)))
      : [];
    const cpu0 = await Promise.all(pids.map(cpuSeconds));
    const net0 = await loTx(holder);
    const t0 = performance.now();
    await sleep(opts.windowS * 1000);
    const net1 = await loTx(holder);
    const secs = (performance.now() - t0) / 1000;
    const cpu1 = await Promise.all(pids.map(cpuSeconds));
    const app1 = driver.appBytes
      ? await Promise.all([...current.values()].map((h) => driver.appBytes!(h)))
      : [];
    const n = ids.length;
    const cpuUsed = cpu1.reduce((a, b) => a + b, 0) - cpu0.reduce((a, b) => a + b, 0);

    // Repeated kills.
    const detections: SystemResult["detections"] = [];
    let missed = 0;
    for (let k = 0; k < opts.kills; k++) {
      const victim = ids[1 + (k % (ids.length - 1))];
      const v = current.get(victim)!;
      const survivors = [...current.values()].filter((h) => h.id !== victim);
      const killedAt = performance.now();
      try {
        Deno.kill(v.pid, "SIGKILL");
      } catch {
        // already gone
      }
      await v.close();
      try {
        await until(
          () => survivors.every((h) => sees(h, victim, "failed", killedAt)),
          90_000,
          `${victim} failed`,
        );
        const times = survivors.map((h) =>
          Math.min(
            ...h.events().filter((e) =>
              e.member === victim && e.kind === "failed" && e.recv >= killedAt
            ).map((e) => e.recv),
          ) - killedAt
        );
        detections.push({ victim, firstMs: Math.min(...times), allMs: Math.max(...times) });
      } catch {
        missed++;
      }
      const detectedAt = performance.now();
      const back = await driver.start(victim, holder, current.get(ids[0]));
      add(back);
      await until(
        () =>
          survivors.every((h) => sees(h, victim, "alive", detectedAt)) &&
          ids.every((id) => id === victim || sees(back, id, "alive")),
        60_000,
        `${victim} to rejoin`,
      );
      await sleep(2000);
      episodes.push({ victim, killedAt, restoredAt: performance.now() });
    }
    const falsePositives: string[] = [];
    for (const h of every) {
      for (const e of h.events()) {
        if (e.kind !== "failed") continue;
        const ok = episodes.some((ep) =>
          ep.victim === e.member && e.recv >= ep.killedAt && e.recv <= ep.restoredAt
        );
        if (!ok) falsePositives.push(`${h.id} reported ${e.member} failed`);
      }
    }
    return {
      name: driver.name,
      detections,
      missed,
      falsePositives,
      bytesPerNodeSec: (net1.bytes - net0.bytes) / n / secs,
      packetsPerNodeSec: (net1.packets - net0.packets) / n / secs,
      appBytesPerNodeSec: app1.length
        ? (app1.reduce((a, b) => a + b, 0) - app0.reduce((a, b) => a + b, 0)) / n / secs
        : undefined,
      cpuPctPerNode: (100 * cpuUsed) / n / secs,
    };
  } finally {
    await Promise.all(every.map((h) => h.close()));
    try {
      holderProc.kill("SIGKILL");
    } catch {
      // gone already
    }
    await holderProc.status;
  }
}

function report(r: SystemResult): { median: number } {
  const all = r.detections.map((d) => d.allMs).sort((a, b) => a - b);
  const first = r.detections.map((d) => d.firstMs).sort((a, b) => a - b);
  const median = pct(all, 0.5);
  console.log(
    `${r.name.padEnd(16)} detection (all members) median ${median.toFixed(0)} ms, ` +
      `p99 ${pct(all, 0.99).toFixed(0)} ms, max ${(all.at(-1) ?? NaN).toFixed(0)} ms; ` +
      `first detector median ${
        pct(first, 0.5).toFixed(0)
      } ms; samples ${all.length}, missed ${r.missed}`,
  );
  console.log(
    `${"".padEnd(16)} per-node traffic ${r.bytesPerNodeSec.toFixed(0)} B/s ` +
      `(${r.packetsPerNodeSec.toFixed(1)} packets/s, IP level)` +
      (r.appBytesPerNodeSec !== undefined
        ? `, gossip datagrams by our metrics ${r.appBytesPerNodeSec.toFixed(0)} B/s`
        : "") +
      `; CPU ${r.cpuPctPerNode.toFixed(2)}% per node; false positives ${r.falsePositives.length}`,
  );
  console.log(
    `${"".padEnd(16)} kills: ${
      r.detections.map((d) => `${d.victim} ${d.allMs.toFixed(0)} ms`).join(", ")
    }`,
  );
  for (const fp of r.falsePositives) console.log(`${"".padEnd(16)} FALSE POSITIVE: ${fp}`);
  return { median };
}

/** Runs the benchmark (see the module documentation). */
export default async function bench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      n: { type: "string", default: "8" },
      kills: { type: "string", default: "5" },
      "window-s": { type: "string", default: "30" },
      systems: { type: "string", default: "ours,serf" },
    },
  });
  const n = Number(values.n);
  const kills = Number(values.kills);
  const windowS = Number(values["window-s"]);
  if (!(n >= 3 && n <= 32) || !(kills >= 1) || !(windowS >= 1)) {
    throw new Error("--n must be 3..32, --kills >= 1, --window-s >= 1");
  }
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const systems = values.systems.split(",");
  console.log(
    `SWIM failure detection: ${n} processes per system, ${kills} kill -9 each, ` +
      `${windowS} s steady window; probe interval 1 s (LAN profile); each system alone in its own ` +
      `network namespace`,
  );
  const dir = await Deno.makeTempDir({ prefix: "swim-bench-" });
  const results = new Map<string, { median: number; bw: number }>();
  try {
    await writeIdentityDir(dir, ids);
    if (systems.includes("ours")) {
      const r = await runSystem(oursDriver(dir), ids, { kills, windowS });
      results.set("ours", { ...report(r), bw: r.bytesPerNodeSec });
    }
    if (systems.includes("serf")) {
      const key = toBase64(crypto.getRandomValues(new Uint8Array(32)));
      const ports = new Map(ids.map((id, i) => [id, 7946 + 2 * i]));
      const r = await runSystem(serfDriver(key, ports), ids, { kills, windowS });
      results.set("serf", { ...report(r), bw: r.bytesPerNodeSec });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const ours = results.get("ours");
  const serf = results.get("serf");
  if (ours && serf) {
    console.log(`ratio ours/serf median detection time: ${(ours.median / serf.median).toFixed(2)}`);
    console.log(`ratio ours/serf per-node bandwidth: ${(ours.bw / serf.bw).toFixed(2)}`);
  }
}

if (import.meta.main) await bench(Deno.args);
