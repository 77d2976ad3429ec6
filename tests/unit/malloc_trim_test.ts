import assert from "node:assert/strict";
import { MetricsRegistry } from "../../lib/metrics.ts";
import { openMallocTrim, startMallocTrim } from "../../lib/malloc_trim.ts";

Deno.test("malloc trim: calls trim at each interval, counts it, and stops", async () => {
  const metrics = new MetricsRegistry();
  let calls = 0;
  const t = startMallocTrim(metrics, 10, () => calls++);
  assert.ok(t.active);
  await new Promise((r) => setTimeout(r, 75));
  t.stop();
  const seen = calls;
  assert.ok(seen >= 3, `${seen} calls in 75 ms at 10 ms`);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(calls, seen, "no call after stop");
  const text = metrics.render();
  assert.match(text, new RegExp(`^elasticore_malloc_trim_seconds_count ${seen}$`, "m"));
  assert.match(text, /^elasticore_malloc_trim_released_bytes_total \d+$/m);
});

Deno.test("malloc trim: without malloc_trim the trimmer does nothing", () => {
  const t = startMallocTrim(new MetricsRegistry(), 10, null);
  assert.equal(t.active, false);
  t.stop();
});

Deno.test({
  name: "malloc trim: gives freed heap memory back to the system (glibc)",
  ignore: Deno.build.os !== "linux" || openMallocTrim() === null,
  fn: async () => {
    const probe = new URL("./fixtures/malloc_trim_probe.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--v8-flags=--expose-gc", "--allow-ffi", "--allow-read", probe],
      env: { GLIBC_TUNABLES: "" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const { before, after } = JSON.parse(new TextDecoder().decode(out.stdout));
    const mib = (n: number) => (n / 2 ** 20).toFixed(0);
    assert.ok(before - after > 64 * 2 ** 20, `rss ${mib(before)} -> ${mib(after)} MiB`);
  },
});
