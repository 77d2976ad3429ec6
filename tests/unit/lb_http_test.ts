import assert from "node:assert/strict";
import {
  classifyRequest,
  downstreamHeaders,
  ReplayableBody,
  trackBody,
  upstreamHeaders,
} from "../../lib/lb/http.ts";

const u = (s: string) => new URL(s, "https://lb");

Deno.test("lb http: writes, reads and what may be retried", () => {
  const cases: [string, string, boolean, boolean][] = [
    ["GET", "/v1/kv/a", false, true],
    ["HEAD", "/v1/fs/x", false, true],
    ["PUT", "/v1/kv/a", true, true],
    ["DELETE", "/v1/kv/a", true, true],
    ["PUT", "/v1/kv/a?cas=3", true, false],
    ["PUT", "/v1/kv/a?append", true, false],
    ["PUT", "/v1/kv/", true, false],
    ["PUT", "/v1/fs/x?append", true, false],
    ["PUT", "/v1/fs/x", true, false],
    ["POST", "/v1/jobs", true, false],
    ["POST", "/v1/kv/a", true, false],
    ["PATCH", "/v1/kv/a", true, false],
  ];
  for (const [m, path, write, idempotent] of cases) {
    assert.deepEqual(classifyRequest(m, u(path)), { write, idempotent }, `${m} ${path}`);
  }
});

Deno.test("lb http: hop-by-hop headers out, forwarding headers in", () => {
  const req = new Headers({
    authorization: "Bearer t",
    connection: "keep-alive, x-private",
    "x-private": "secret",
    "keep-alive": "timeout=5",
    te: "trailers",
    "proxy-authorization": "Basic x",
    host: "lb:7500",
    "content-length": "5",
    "x-forwarded-for": "10.0.0.1",
    "content-type": "text/plain",
  });
  const up = upstreamHeaders(req, "127.0.0.1", "lb:7500");
  assert.equal(up.get("authorization"), "Bearer t");
  assert.equal(up.get("content-type"), "text/plain");
  for (const h of ["connection", "x-private", "keep-alive", "te", "proxy-authorization", "host"]) {
    assert.equal(up.has(h), false, h);
  }
  assert.equal(up.has("content-length"), false);
  assert.equal(up.get("x-forwarded-for"), "10.0.0.1, 127.0.0.1");
  assert.equal(up.get("x-forwarded-proto"), "https");
  assert.equal(up.get("x-forwarded-host"), "lb:7500");

  const res = new Headers({
    "content-encoding": "gzip",
    "content-length": "40",
    "transfer-encoding": "chunked",
    "content-type": "text/plain",
  });
  const down = downstreamHeaders(res, "https://127.0.0.1:7402");
  assert.equal(down.has("content-encoding"), false, "fetch already decoded the body");
  assert.equal(down.has("content-length"), false);
  assert.equal(down.has("transfer-encoding"), false);
  assert.equal(down.get("x-elasticore-backend"), "https://127.0.0.1:7402");
  const plain = downstreamHeaders(new Headers({ "content-length": "7" }), "b");
  assert.equal(plain.get("content-length"), "7");
});

function source(chunks: number[]): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (i >= chunks.length) return ctrl.close();
      ctrl.enqueue(new Uint8Array(chunks[i]).fill(i + 1));
      i++;
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => i };
}

async function readAll(s: ReadableStream<Uint8Array>, max = Infinity): Promise<number[]> {
  const out: number[] = [];
  const r = s.getReader();
  while (out.length < max) {
    const { done, value } = await r.read();
    if (done) break;
    out.push(...value);
  }
  r.releaseLock();
  return out;
}

Deno.test("lb http: a body read partly can be replayed from byte 0", async () => {
  const { stream } = source([3, 3, 3]);
  const body = new ReplayableBody(stream, 100);
  const first = body.stream();
  assert.deepEqual(await readAll(first, 3), [1, 1, 1]);
  assert.equal(body.replayable, true);
  const second = body.stream();
  await assert.rejects(first.getReader().read(), /newer attempt/);
  assert.deepEqual(await readAll(second), [1, 1, 1, 2, 2, 2, 3, 3, 3]);
  assert.equal(body.bytesRead, 9);
  const third = body.stream();
  assert.deepEqual(await readAll(third), [1, 1, 1, 2, 2, 2, 3, 3, 3]);
});

Deno.test("lb http: a body larger than the limit streams once and cannot be replayed", async () => {
  const { stream, pulled } = source([4, 4, 4, 4]);
  const body = new ReplayableBody(stream, 6);
  const only = body.stream();
  const all = await readAll(only);
  assert.equal(all.length, 16);
  assert.equal(pulled(), 4);
  assert.equal(body.replayable, false);
  assert.throws(() => body.stream(), /no longer be replayed/);
  await body.close();
});

Deno.test("lb http: trackBody reports the end exactly once", async () => {
  let ended = 0;
  const tracked = trackBody(source([2, 2]).stream, () => ended++)!;
  assert.equal(ended, 0);
  assert.equal((await readAll(tracked)).length, 4);
  assert.equal(ended, 1);
  let cancelled = 0;
  const t2 = trackBody(source([2, 2, 2]).stream, () => cancelled++)!;
  const r = t2.getReader();
  await r.read();
  await r.cancel();
  assert.equal(cancelled, 1);
  let nulls = 0;
  assert.equal(trackBody(null, () => nulls++), null);
  assert.equal(nulls, 1);
});
