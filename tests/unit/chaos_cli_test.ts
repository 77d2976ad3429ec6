import assert from "node:assert/strict";
import { parseArgs } from "../../scripts/chaos.ts";
import { replayCommand } from "../../scripts/chaos/run.ts";

Deno.test("chaos cli: --set passes node settings and the replay command repeats them", () => {
  const a = parseArgs([
    "--seed",
    "785",
    "--minutes",
    "30",
    "--kinds",
    "pause,loss",
    "--set",
    "dfs.memory_tier_bytes=4194304",
    "--set",
    "dfs.cache_bytes=4194304",
  ]);
  assert.deepEqual(a.set, ["dfs.memory_tier_bytes=4194304", "dfs.cache_bytes=4194304"]);
  assert.equal(
    replayCommand(a),
    "deno task chaos --seed 785 --minutes 30 --masters 3 --workers 4 --kinds pause,loss " +
      "--set dfs.memory_tier_bytes=4194304 --set dfs.cache_bytes=4194304",
  );
  assert.equal(
    replayCommand({ seed: 1, minutes: 0.42, masters: 3, workers: 4 }),
    "deno task chaos --seed 1 --minutes 0.42 --masters 3 --workers 4",
  );
});

Deno.test("chaos cli: a malformed --set is refused before any cluster starts", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-P",
      new URL("../../scripts/chaos.ts", import.meta.url).pathname,
      "--set",
      "tiers",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /--set expects section\.key=value, got "tiers"/,
  );
});
