/**
 * No false positives under loss: 8 real processes on 127.0.0.1, each
 * dropping 10% of what it sends to every peer (gossip datagrams and RPC
 * frames, through the transport's fault hook), must not declare anybody
 * dead. Suspicions are allowed (and counted); they must all be refuted.
 *
 * The issue asks for two minutes. CI runs a 25 s window with a 250 ms probe
 * interval: 100 protocol periods per node, 800 probes in all. With
 * `ELASTICORE_LONG=1` the window is 120 s: 480 periods per node, 3,840
 * probes. The child processes are killed in `finally`.
 */
import assert from "node:assert/strict";
import { startSwimCluster, type SwimProc, writeIdentityDir } from "./fixtures/swim_node.ts";

const IDS = ["n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"];
const PROBE_MS = 250;
const LONG = Deno.env.get("ELASTICORE_LONG") === "1";
const WINDOW_MS = LONG ? 120_000 : 25_000;
const LOSS = 0.1;

Deno.test({
  name: `swim 8 processes: ${LOSS * 100}% loss for ${WINDOW_MS / 1000} s ` +
    `(${WINDOW_MS / PROBE_MS} protocol periods) → no node declared dead`,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "swim-loss-" });
    let procs: SwimProc[] = [];
    try {
      await writeIdentityDir(dir, IDS);
      procs = await startSwimCluster({
        ids: IDS,
        dir,
        flags: { "probe-interval-ms": PROBE_MS, "probe-timeout-ms": 125 },
      });
      const from = new Map(procs.map((p) => [p.id, p.lines.length]));
      const before = await Promise.all(procs.map((p) => p.stats()));
      await Promise.all(procs.map(async (p) => {
        await p.send(`loss ${LOSS}`);
        await p.waitFor((l) => l.event === "loss", 10_000, "loss ack", from.get(p.id));
      }));
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const windowEnd = Date.now();
      await Promise.all(procs.map((p) => p.send("loss 0")));
      const after = await Promise.all(procs.map((p) => p.stats()));
      const sum = (k: string, xs: Record<string, number>[]) => xs.reduce((a, s) => a + s[k], 0);
      const delta = (k: string) => sum(k, after) - sum(k, before);
      const since = (p: SwimProc) => p.lines.slice(from.get(p.id));
      const deaths = procs.flatMap((p) =>
        since(p).filter((l) => l.event === "dead").map((l) => `${p.id}→${l.member}`)
      );
      // Every node's membership events about `ids`, oldest first: how a failure came about.
      const story = (ids: Set<string>) =>
        procs.flatMap((q) =>
          q.lines.filter((l) => l.member !== undefined && ids.has(l.member))
            .map((l) => `${l.t} ${q.id}: ${l.event} ${l.member}@${l.inc}`)
        ).sort().join("\n");
      const suspicions = procs.flatMap((p) => since(p).filter((l) => l.event === "suspect"));
      const sent = delta("datagramsOut");
      const dropped = delta("faultDrops");
      const pctDropped = (100 * dropped / Math.max(1, sent)).toFixed(1);
      console.log(
        `${WINDOW_MS / 1000} s, ${WINDOW_MS / PROBE_MS} periods/node: probes ${delta("probes")}, ` +
          `datagrams ${sent}, units dropped by the fault hook ${dropped} (datagrams and RPC ` +
          `frames: ${pctDropped}% of the datagram count), suspicions ${suspicions.length}, ` +
          `refutations ${delta("refutations")}, deaths ${deaths.length}`,
      );
      assert.ok(dropped > 0.05 * sent, "the injected loss did not take effect");
      if (deaths.length > 0) console.log(story(new Set(deaths.map((d) => d.split("→")[1]))));
      assert.deepEqual(deaths, [], "false positives under 10% loss");
      for (const p of procs) {
        // A suspicion raised in the last periods is refuted within the suspicion timeout; only
        // one that never clears (or a death, checked above) is a failure.
        const until = Date.now() + 15_000;
        let notAlive = (await p.members()).filter((m) => m.state !== "alive");
        while (notAlive.length > 0 && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 500));
          notAlive = (await p.members()).filter((m) => m.state !== "alive");
        }
        if (notAlive.length > 0) {
          // Explain the failure: every node's story of the members left down, oldest first.
          console.log(`window ended at ${windowEnd}\n${story(new Set(notAlive.map((m) => m.id)))}`);
        }
        assert.deepEqual(notAlive, [], `${p.id} sees members not alive at the end`);
      }
    } finally {
      await Promise.all(procs.map((p) => p.close()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
