import assert from "node:assert/strict";
import { MetricsRegistry } from "../../lib/metrics.ts";
import { registerProcessMetrics } from "../../lib/process_metrics.ts";

Deno.test("metrics: counters, gauges and histograms render in Prometheus text format", () => {
  const r = new MetricsRegistry();
  const c = r.counter("elasticore_http_requests_total", "HTTP requests");
  c.inc({ route: "/v1/kv", status: "200" });
  c.inc({ route: "/v1/kv", status: "200" }, 2);
  c.inc({ status: "500", route: "/v1/kv" });
  assert.equal(c.get({ status: "200", route: "/v1/kv" }), 3);
  r.gauge("elasticore_raft_term", "current term", () => [[undefined, 7]]);
  const h = r.histogram("elasticore_rpc_seconds", "rpc latency", [0.01, 0.1]);
  h.observe(0.005);
  h.observe(0.05);
  h.observe(5);
  const text = r.render();
  assert.match(text, /# TYPE elasticore_http_requests_total counter/);
  assert.match(text, /elasticore_http_requests_total\{route="\/v1\/kv",status="200"\} 3/);
  assert.match(text, /elasticore_raft_term 7/);
  assert.match(text, /elasticore_rpc_seconds_bucket\{le="0.01"\} 1/);
  assert.match(text, /elasticore_rpc_seconds_bucket\{le="0.1"\} 2/);
  assert.match(text, /elasticore_rpc_seconds_bucket\{le="\+Inf"\} 3/);
  assert.match(text, /elasticore_rpc_seconds_count 3/);
  assert.ok(text.endsWith("\n"));
});

Deno.test("metrics: label values are escaped; bad names and negative increments refused", () => {
  const r = new MetricsRegistry();
  const c = r.counter("x_total", "x");
  c.inc({ path: 'a"b\\c\nd' });
  assert.match(r.render(), /x_total\{path="a\\"b\\\\c\\nd"\} 1/);
  assert.throws(() => r.counter("bad-name", "x"));
  assert.throws(() => c.inc({ "bad-label": "1" }));
  assert.throws(() => c.inc(undefined, -1));
  assert.equal(r.counter("x_total", "x"), c, "re-registering returns the same counter");
  assert.throws(() => r.gauge("x_total", "x"));
});

Deno.test("metrics: process memory gauges follow the process at each scrape", () => {
  const r = new MetricsRegistry();
  registerProcessMetrics(r);
  const read = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)$`, "m").exec(r.render());
    assert.ok(m, `${name} missing`);
    return Number(m[1]);
  };
  const rss = read("process_resident_memory_bytes");
  const heap = read("elasticore_js_heap_used_bytes");
  assert.ok(heap > 0 && heap < rss, `heap ${heap} within rss ${rss}`);
  assert.ok(read("elasticore_js_heap_total_bytes") >= heap);
  const before = read("elasticore_js_external_bytes");
  const held = new Uint8Array(64 << 20).fill(1); // 64 MiB outside the JS heap
  assert.ok(read("elasticore_js_external_bytes") >= before + (60 << 20), "external grew");
  assert.ok(read("process_resident_memory_bytes") >= rss + (48 << 20), "rss grew");
  assert.equal(held[held.length - 1], 1);
});
