import assert from "node:assert/strict";
import { replayCommand } from "../../scripts/sim.ts";

Deno.test("sim CLI: a failing seed's replay command keeps every option of the run", () => {
  const args = [
    "--protocol",
    "swim",
    "--seed",
    "1",
    "--seeds",
    "40",
    "--nodes",
    "8",
    "--no-stream-fallback",
    "--periods",
    "200",
    "--fail-on-false-positive",
  ];
  assert.equal(
    replayCommand(args, "swim", 39),
    "deno task sim --protocol swim --seed 39 --nodes 8 --no-stream-fallback --periods 200 " +
      "--fail-on-false-positive",
  );
  assert.equal(replayCommand([], "raft", 7), "deno task sim --protocol raft --seed 7");
});
