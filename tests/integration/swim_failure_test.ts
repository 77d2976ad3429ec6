/**
 * Failure detection across 8 real processes on 127.0.0.1 (each its own
 * gossip and RPC port, encrypted datagrams, mutual-TLS RPC):
 *
 * - `kill -9` of one node: every other node declares it dead within the
 *   bound derived in `lib/swim/bound.ts`;
 * - `SIGSTOP` of one node for less than the suspicion timeout, then
 *   `SIGCONT`: it is suspected, refutes with a higher incarnation, and
 *   nobody declares anyone dead.
 *
 * Each test runs its own cluster; every child is killed in `finally`.
 */
import assert from "node:assert/strict";
import { detectionBoundMs } from "../../lib/swim/bound.ts";
import { suspicionMinMs, swimConfigFromSection } from "../../lib/swim/config.ts";
import { startSwimCluster, type SwimProc, writeIdentityDir } from "./fixtures/swim_node.ts";

const IDS = ["n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"];

function flagsOf(section: Record<string, number>): Record<string, number> {
  const f: Record<string, number> = {};
  for (const [k, v] of Object.entries(section)) f[k.replaceAll("_", "-")] = v;
  return f;
}

async function withCluster(
  section: Record<string, number>,
  body: (procs: SwimProc[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "swim-it-" });
  let procs: SwimProc[] = [];
  try {
    await writeIdentityDir(dir, IDS);
    procs = await startSwimCluster({ ids: IDS, dir, flags: flagsOf(section) });
    await body(procs);
  } finally {
    await Promise.all(procs.map((p) => p.close()));
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("swim 8 processes: kill -9 of one is seen dead by all 7 others within the derived bound", async () => {
  const section = { probe_interval_ms: 250, probe_timeout_ms: 125, gossip_interval_ms: 200 };
  const config = swimConfigFromSection(section);
  const bound = detectionBoundMs({ config, n: IDS.length, loss: 0 });
  await withCluster(section, async (procs) => {
    const victim = procs[3];
    const others = procs.filter((p) => p !== victim);
    const killedAt = Date.now();
    victim.signal("SIGKILL");
    await victim.child.status;
    const lines = await Promise.all(others.map((p) =>
      p.waitFor(
        (l) => l.event === "dead" && l.member === victim.id,
        bound.totalMs + 5000,
        `dead ${victim.id}`,
      )
    ));
    const times = lines.map((l) => l.t - killedAt);
    const worst = Math.max(...times);
    console.log(
      `detection of ${victim.id}: first ${Math.min(...times)} ms, all ${worst} ms; ` +
        `bound ${bound.totalMs} ms (suspect ${bound.suspectMs} + suspicion ${bound.suspicionMs} + ` +
        `2x dissemination ${bound.disseminationMs})`,
    );
    assert.ok(worst <= bound.totalMs, `all 7 saw the death after ${worst} ms > ${bound.totalMs}`);
    for (const p of others) {
      const wrong = p.lines.filter((l) => l.event === "dead" && l.member !== victim.id);
      assert.deepEqual(wrong, [], `${p.id} declared a live node dead`);
    }
  });
});

Deno.test("swim 8 processes: SIGSTOP shorter than the suspicion timeout → suspected, refuted, never dead", async () => {
  // suspicion_mult 20 with 8 members: Lifeguard expects mult − 2 = 18 confirmations but only
  // N − 2 = 6 are possible, so every suspicion times out after exactly the minimum,
  // 20 · max(1, log10 8) · 250 ms = 5 s. The stop lasts 1.5 s (slack for a loaded machine).
  const section = {
    probe_interval_ms: 250,
    probe_timeout_ms: 125,
    gossip_interval_ms: 200,
    suspicion_mult: 20,
  };
  const config = swimConfigFromSection(section);
  const timeout = suspicionMinMs(config, IDS.length);
  const stopMs = 1500;
  assert.ok(stopMs < timeout);
  await withCluster(section, async (procs) => {
    const victim = procs[5];
    const others = procs.filter((p) => p !== victim);
    const from = new Map(procs.map((p) => [p.id, p.lines.length]));
    victim.signal("SIGSTOP");
    await new Promise((r) => setTimeout(r, stopMs));
    victim.signal("SIGCONT");
    // Everyone learns the refutation: the victim is alive at a higher incarnation.
    const end = performance.now() + 10_000;
    for (const p of others) {
      for (;;) {
        const m = (await p.members()).find((x) => x.id === victim.id);
        if (m && m.state === "alive" && m.incarnation > 0) break;
        assert.ok(
          performance.now() < end,
          `${p.id} never saw ${victim.id} refute: ${JSON.stringify(m)}`,
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Outlive every suspicion deadline that could still be pending.
    await new Promise((r) => setTimeout(r, timeout + 500));
    const since = (p: SwimProc) => p.lines.slice(from.get(p.id));
    const suspected = others.filter((p) =>
      since(p).some((l) => l.event === "suspect" && l.member === victim.id)
    );
    const deaths = procs.flatMap((p) => since(p).filter((l) => l.event === "dead"));
    const self = (await victim.members()).find((m) => m.id === victim.id);
    console.log(
      `${victim.id} stopped ${stopMs} ms (suspicion timeout ${timeout} ms): suspected by ` +
        `${suspected.length}/7, refuted to incarnation ${self?.incarnation}, deaths ${deaths.length}`,
    );
    assert.ok(suspected.length >= 1, "the stopped node was never suspected");
    assert.ok((self?.incarnation ?? 0) >= 1, "the stopped node did not raise its incarnation");
    assert.equal(self?.state, "alive");
    assert.deepEqual(deaths, [], "a node was declared dead");
    const stats = await victim.stats();
    assert.ok(stats.refutations >= 1, `refutations ${stats.refutations}`);
  });
});
