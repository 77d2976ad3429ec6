/**
 * Scaling a running cluster (3 masters, 2 workers, plus a third worker that
 * `init` wrote but nobody started): a live keyed-sequence job runs while the
 * test adds w3 (it must receive tasks and DFS blocks), then w1 leaves
 * gracefully (`node leave`) and w2 is `kill -9`ed. The committed output must
 * be exactly once (every key's count 1, 2, 3, ... up to what was fed) and
 * every DFS file must read back intact. A unit test covers the placement
 * that decides which tasks move.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DevCluster, selfCommand } from "../../lib/cli/dev_cluster.ts";
import { balancedKeep } from "../../lib/stream/runtime/job_manager.ts";
import { placeTasks } from "../../lib/stream/runtime/views.ts";
import { checkSequences } from "../../lib/stream/sequences.ts";

const KEYS = 8;
const PER_POST = 25;
const SET = ["stream.slots=8", "dfs.block_bytes=16384", "swim.suspicion_mult=2"];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

Deno.test("rebalance placement: a new worker gets a fair share, the fewest tasks move", () => {
  const workers = ["w1", "w2", "w3"].map((id) => ({ id, slots: 8, rpc: "127.0.0.1:1" }));
  const tasks = ["s0.0", "s1.0", "s1.1", "s1.2", "s2.0", "s2.1", "s2.2"];
  const before: Record<string, string> = {};
  tasks.forEach((t, i) => (before[t] = i % 2 ? "w2" : "w1"));
  const keep = balancedKeep(before, workers);
  for (const [t, w] of Object.entries(keep)) assert.equal(before[t], w, `${t} moved needlessly`);
  const after = placeTasks(tasks, keep, workers, new Map())!;
  const count = (w: string) => Object.values(after).filter((x) => x === w).length;
  assert.deepEqual(["w1", "w2", "w3"].map(count).sort(), [2, 2, 3]);
  assert.equal(tasks.filter((t) => after[t] !== before[t]).length, 2);
  // Already balanced: nothing moves; tasks on a worker that is gone are left to place.
  assert.equal(Object.keys(balancedKeep(after, workers)).length, tasks.length);
  assert.equal(
    Object.keys(balancedKeep(after, workers.slice(0, 2))).length,
    tasks.length - count("w3"),
  );
});

Deno.test({
  name:
    "scaling: a worker added under a running job gets tasks and blocks; leave and kill -9 lose nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const t0 = Date.now();
    const dir = await Deno.makeTempDir({ prefix: "ec-scaling-" });
    const c = new DevCluster({
      masters: 3,
      workers: 3,
      dir,
      // Below the ephemeral range (32768+), where outgoing connections could hold a port.
      portBase: 10000 + Math.floor(Math.random() * 50) * 100,
      transport: "tcp",
      set: SET,
    });
    await c.init(); // w3's certificate and TOML come from this same init run
    const w3 = c.nodes.pop()!;
    const http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(c.caFile)] });
    const token = await c.token();
    const node = (id: string) => [...c.nodes, w3].find((n) => n.id === id)!;
    const call = async (id: string, method: string, path: string, body?: string, ms = 30_000) => {
      const res = await fetch(node(id).api + path, {
        method,
        body,
        client: http,
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(ms),
      });
      const text = await res.text();
      const json = /^application\/json/.test(res.headers.get("content-type") ?? "")
        ? JSON.parse(text)
        : {};
      if (res.status >= 300) throw new Error(`${method} ${path} on ${id}: ${res.status} ${text}`);
      return { text, json };
    };
    const until = async <T>(what: string, ms: number, f: () => Promise<T | undefined>) => {
      const deadline = Date.now() + ms;
      let last = "";
      for (;;) {
        const v = await f().catch((e) => void (last = ` (last error: ${e})`));
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}${last}`);
        await sleep(250);
      }
    };
    let feeding = true;
    let feeder: Promise<void> = Promise.resolve();
    let failed = false;
    const keep = Deno.env.get("KEEP_TEST_CLUSTER") === "1";
    try {
      await c.start();
      const leader = await c.waitForLeader(60_000);
      const members = async () =>
        (await call(leader, "GET", "/v1/cluster", undefined, 5_000)).json.members as {
          id: string;
          state: string;
        }[];
      await until("w1 and w2 alive", 30_000, async () => {
        const alive = (await members()).filter((m) => m.state === "alive").map((m) => m.id);
        return alive.includes("w1") && alive.includes("w2");
      });

      // DFS files spread over the ring (several 16 KiB blocks each).
      const files = new Map<string, string>();
      for (let i = 0; i < 6; i++) {
        const text = `file ${i} `.repeat(6_000 + i * 500);
        files.set(`/data/f${i}.txt`, text);
        await call(leader, "PUT", `/v1/fs/data/f${i}.txt`, text);
      }

      // A live keyed-sequence job; the feeder appends values 1, 2, 3, ... per key.
      const spec = {
        name: "scale",
        source: { kind: "stream", name: "scale" },
        stages: [
          { op: "keyBy", column: "key", parallelism: 3 },
          { op: "count", as: "n", parallelism: 3 },
        ],
        sink: { kind: "dfs", path: "/out/scale.ndjson" },
        checkpoint: { intervalMs: 300, timeoutMs: 5_000 },
      };
      const job = String((await call(leader, "POST", "/v1/jobs", JSON.stringify(spec))).json.id);
      let fed = 0;
      feeder = (async () => {
        while (feeding) {
          let body = "";
          for (let v = fed + 1; v <= fed + PER_POST; v++) {
            for (let k = 0; k < KEYS; k++) body += `{"key":"k${k}","value":${v}}\n`;
          }
          // The API answers after the append is durable; a failed post is retried as is.
          const ok = await call(leader, "POST", "/v1/streams/scale", body).then(
            () => true,
            () => false,
          );
          if (ok) fed += PER_POST;
          await sleep(100);
        }
      })();
      type JobView = {
        state: string;
        tasks: Record<string, string>;
        restarts: number;
        lastCheckpoint: { id: number } | null;
      };
      const view = async () =>
        (await call(leader, "GET", `/v1/jobs/${job}`, undefined, 5_000)).json as JobView;
      const placed = (v: JobView) => new Set(Object.values(v.tasks));
      const first = await until("a first checkpoint", 45_000, async () => {
        const v = await view();
        return v.state === "running" && v.lastCheckpoint ? v : undefined;
      });
      assert.deepEqual([...placed(first)].sort(), ["w1", "w2"]);
      console.log(`job running on w1, w2 after ${Date.now() - t0} ms`);

      // Add w3: it must receive tasks (rebalance at a checkpoint) and its share of blocks.
      const self = selfCommand();
      const out = await Deno.open(join(dir, "w3.out"), { create: true, append: true });
      const args = [...self.args, "serve", "--config", join(dir, "w3.toml"), "--transport", "tcp"];
      for (const s of SET) args.push("--set", s);
      w3.proc = new Deno.Command(self.cmd, { args, stdin: "null", stdout: "null", stderr: "piped" })
        .spawn();
      w3.proc.stderr.pipeTo(out.writable).catch(() => {});
      c.nodes.push(w3);
      const added = Date.now();
      const moved = await until("tasks on w3", 45_000, async () => {
        const v = await view();
        return placed(v).has("w3") ? v : undefined;
      });
      console.log(
        `w3 got tasks ${Date.now() - added} ms after start: ${JSON.stringify(moved.tasks)}`,
      );
      assert.equal(moved.state, "running");
      const blocks = await until("DFS blocks on w3", 30_000, async () => {
        const m = (await call("w3", "GET", "/metrics")).text;
        const n = Number(/^elasticore_dfs_stored_blocks (\d+)/m.exec(m)?.[1] ?? 0);
        return n > 0 ? n : undefined;
      });
      const ring = await until("w3 in the ring view", 30_000, async () => {
        const r = (await call(leader, "GET", "/v1/cluster")).json.ring as {
          nodes: { id: string; blocks: number }[];
        };
        const n = r.nodes.find((x) => x.id === "w3");
        return n && n.blocks > 0 ? n : undefined;
      });
      console.log(`w3 stores ${blocks} blocks (ring view: ${ring.blocks})`);

      // w1 leaves gracefully: its DFS metadata is handed off (so the kill of w2 below leaves
      // a majority of every path's owners), its tasks move, its process exits.
      const handoff = (await call("w1", "POST", "/v1/node/leave")).json.handoff;
      console.log(`w1 hand-off: ${JSON.stringify({ ...handoff, failed: handoff.failed.length })}`);
      assert.deepEqual(handoff.failed, [], "every record of w1 reached its new owners");
      assert.ok(handoff.records > 0 && handoff.announced >= 4, JSON.stringify(handoff));
      await until("w1 to exit", 30_000, async () => {
        const s = await Promise.race([node("w1").proc!.status, sleep(200).then(() => undefined)]);
        return s !== undefined;
      });
      node("w1").proc = undefined;
      await until("tasks off w1", 30_000, async () => {
        const v = await view();
        return v.state === "running" && !placed(v).has("w1") ? v : undefined;
      });
      console.log(`w1 left; job moved by ${Date.now() - t0} ms`);

      // kill -9 of w2: everything ends up on w3.
      const w2 = node("w2");
      w2.proc!.kill("SIGKILL");
      await w2.proc!.status;
      w2.proc = undefined;
      const last = await until("every task on w3", 40_000, async () => {
        const v = await view();
        const p = placed(v);
        return v.state === "running" && p.size === 1 && p.has("w3") ? v : undefined;
      });
      assert.ok(last.restarts >= 1, "killing w2 restarted the job");

      // Stop feeding; the committed output must reach every key's last value exactly once.
      feeding = false;
      await feeder;
      // The expectation comes from the input log itself: a post that failed after its append
      // landed (an unknown outcome, e.g. during the leave) was retried as is, so its records
      // are in the log twice, and the job must count each of them exactly once.
      const input = (await call(leader, "GET", "/v1/fs/_streams/scale.log")).text
        .split("\n").filter((l) => l !== "").map((l) =>
          JSON.parse(l) as {
            key: string;
            value: number;
          }
        );
      const want = new Map<string, number>();
      for (const r of input) want.set(r.key, (want.get(r.key) ?? 0) + 1);
      for (let k = 0; k < KEYS; k++) {
        const values = new Set(input.filter((r) => r.key === `k${k}`).map((r) => r.value));
        for (let v = 1; v <= fed; v++) {
          assert.ok(values.has(v), `acknowledged value ${v} of k${k} is not in the input log`);
        }
      }
      const lines = await until(`output up to the input log's count per key`, 40_000, async () => {
        const text = (await call(leader, "GET", `/v1/jobs/${job}/output`)).text;
        const recs = text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
        const top = new Map<string, number>();
        for (const r of recs) top.set(r.key, Math.max(top.get(r.key) ?? 0, r.n));
        return [...want.keys()].every((k) => top.get(k) === want.get(k)) ? recs : undefined;
      });
      const rep = checkSequences(lines, { valueField: "n", expectLast: want });
      assert.ok(rep.ok, rep.problems.join("; "));
      assert.equal(lines.length, input.length);
      console.log(
        `input log: ${input.length} records, ${input.length - KEYS * fed} from retried posts`,
      );
      await call(leader, "DELETE", `/v1/jobs/${job}`);

      // No DFS file is lost.
      for (const [path, text] of files) {
        assert.equal((await call(leader, "GET", `/v1/fs${path}`)).text, text, `${path} differs`);
      }
      console.log(
        `fed ${fed} values per key (${KEYS * fed} records), restarts ${last.restarts}, ` +
          `total ${Date.now() - t0} ms`,
      );
    } catch (e) {
      failed = true;
      for (const n of [...c.nodes, w3]) {
        let log = await Deno.readTextFile(join(dir, `${n.id}.out`)).catch(() => "");
        const logs = join(dir, "data", n.id, "logs");
        try {
          for await (const f of Deno.readDir(logs)) {
            log += await Deno.readTextFile(join(logs, f.name));
          }
        } catch {
          // no logs yet
        }
        const lines = log.split("\n");
        const warnings = lines.filter((l) => /"level":"(warning|error)"/.test(l)).slice(-20);
        console.log(`--- ${n.id} (warnings)\n${warnings.join("\n")}`);
        console.log(`--- ${n.id} (tail)\n${lines.slice(-12).join("\n")}`);
      }
      if (keep) console.log(`cluster directory kept: ${dir}`);
      throw e;
    } finally {
      feeding = false;
      await feeder.catch(() => {});
      http.close();
      await c.stop(2_000);
      // KEEP_TEST_CLUSTER=1 keeps a failed run's directory (every node's whole log).
      if (!keep || !failed) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
