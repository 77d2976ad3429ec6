/** A graceful stop goes on past a step that hangs or throws (`lib/stop_steps.ts`). */
import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { runStopSteps } from "../../lib/stop_steps.ts";

Deno.test("stop steps: run in order; a hung step is left behind after its limit, a failed one logged", async () => {
  const order: string[] = [];
  let release = () => {};
  const hung = new Promise<void>((r) => (release = r));
  const started = performance.now();
  const out = await runStopSteps([
    { name: "a", run: () => void order.push("a"), limitMs: 1000 },
    { name: "hung", run: () => (order.push("hung"), hung), limitMs: 100 },
    {
      name: "throws",
      run: () => {
        order.push("throws");
        throw new Error("boom");
      },
      limitMs: 1000,
    },
    {
      name: "async",
      run: async () => {
        await new Promise((r) => setTimeout(r, 20));
        order.push("async");
      },
      limitMs: 1000,
    },
  ], getLogger("test"));
  release();
  assert.deepEqual(order, ["a", "hung", "throws", "async"]);
  assert.deepEqual(out.map((o) => [o.name, o.result]), [
    ["a", "done"],
    ["hung", "overran"],
    ["throws", "failed"],
    ["async", "done"],
  ]);
  assert.ok(out[1].ms >= 90 && out[1].ms < 1000, `hung step waited ${out[1].ms} ms`);
  assert.ok(performance.now() - started < 1000);
});
