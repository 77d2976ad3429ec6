import assert from "node:assert/strict";
import { parseFuzzArgs } from "../../scripts/fuzz.ts";

Deno.test("fuzz task: arguments parse, defaults apply, bad ones are named", () => {
  assert.deepEqual(parseFuzzArgs([], () => 7), { scale: 50, seed: 7 });
  assert.deepEqual(parseFuzzArgs(["--scale", "2.5", "--seed", "9", "--filter", "csv"], () => 7), {
    scale: 2.5,
    seed: 9,
    filter: "csv",
  });
  assert.throws(() => parseFuzzArgs(["--scale", "0"], () => 7), /--scale must be/);
  assert.throws(() => parseFuzzArgs(["--seed", "-1"], () => 7), /--seed must be/);
  assert.throws(() => parseFuzzArgs(["--seed"], () => 7), /--seed needs a value/);
  assert.throws(() => parseFuzzArgs(["--bogus", "1"], () => 7), /unknown argument "--bogus"/);
});
