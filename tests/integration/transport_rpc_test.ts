/**
 * RPC behaviour over both real transports on 127.0.0.1: one-way messages,
 * remote errors, deadlines, cancellation, a peer restarting mid-call, a
 * partition through the fault hook and bulk streams with backpressure.
 */
import assert from "node:assert/strict";
import { ElasticoreError } from "../../lib/errors.ts";
import { isTransportError } from "../../lib/transport/errors.ts";
import { startTestNode, type TestNode, testPki } from "../../lib/transport/testing.ts";
import type { NodeIdentity, TransportKind } from "../../lib/transport/types.ts";
import { object, str, uint } from "../../proto/schema.ts";

const messages = {
  "t.echo": object({ s: str(64) }),
  "t.echo.reply": object({ s: str(64) }),
  "t.slow": object({ ms: uint }),
  "t.slow.reply": object({ done: uint }),
  "t.note": object({ seq: uint }),
  "t.up": object({ name: str(32) }),
  "t.up.reply": object({ bytes: uint, sum: uint }),
  "t.down": object({ bytes: uint }),
  "t.down.reply": object({ sent: uint }),
};

interface Seen {
  upConsumed: number;
  notes: number[];
  slowAborted: string[];
  slowDeadlineMs: (number | undefined)[];
}

async function startServer(kind: TransportKind, identity: NodeIdentity, port = 0) {
  const node = await startTestNode({ kind, identity, messages, port });
  const seen: Seen = { upConsumed: 0, notes: [], slowAborted: [], slowDeadlineMs: [] };
  node.rpc.handle("t.echo", (body) => {
    const s = (body as { s: string }).s;
    if (s === "fail") throw new ElasticoreError("kv_missing", "no such key");
    return body;
  });
  node.rpc.handle("t.note", (body) => void seen.notes.push((body as { seq: number }).seq));
  node.rpc.handle("t.slow", async (body, ctx) => {
    seen.slowDeadlineMs.push(ctx.deadlineMs);
    const ms = (body as { ms: number }).ms;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(t);
        const r = ctx.signal.reason;
        seen.slowAborted.push(r instanceof ElasticoreError ? r.code : String(r));
        resolve();
      });
    });
    return { done: ms };
  });
  node.rpc.handleStream("t.up", async (_meta, stream) => {
    let bytes = 0;
    let sum = 0;
    for await (const chunk of stream.readable) {
      bytes += chunk.byteLength;
      seen.upConsumed = bytes;
      for (let i = 0; i < chunk.byteLength; i += 4096) sum = (sum + chunk[i]) % 1_000_000_007;
      // A slow consumer: the sender must wait for credit.
      if (bytes % (1024 * 1024) < chunk.byteLength) await new Promise((r) => setTimeout(r, 5));
    }
    return { bytes, sum };
  });
  node.rpc.handleStream("t.down", async (meta, stream) => {
    const total = (meta as { bytes: number }).bytes;
    const w = stream.writable.getWriter();
    const chunk = new Uint8Array(100_000).fill(7);
    let sent = 0;
    while (sent < total) {
      const n = Math.min(chunk.byteLength, total - sent);
      await w.write(chunk.subarray(0, n));
      sent += n;
    }
    await w.close();
    return { sent };
  });
  return { node, seen };
}

async function pair(kind: TransportKind) {
  const pki = await testPki();
  const srvId = await pki.identity("srv");
  const { node: srv, seen } = await startServer(kind, srvId);
  const cli = await startTestNode({ kind, identity: await pki.identity("cli"), messages });
  cli.rpc.addPeer("srv", srv.addr);
  return { srv, cli, seen, srvId };
}

async function close(...nodes: TestNode[]) {
  await Promise.all(nodes.map((n) => n.rpc.close()));
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return await p.then(() => assert.fail("expected the call to fail"), (e) => e);
}

for (const kind of ["tcp", "quic"] as const) {
  Deno.test(`${kind}: calls, remote errors and ordered one-way messages`, async () => {
    const { srv, cli, seen } = await pair(kind);
    try {
      assert.deepEqual(await cli.rpc.call("srv", "t.echo", { s: "a" }), { s: "a" });
      const err = await errorOf(cli.rpc.call("srv", "t.echo", { s: "fail" }));
      assert.ok(isTransportError(err, "remote_error"));
      assert.equal(err.remoteCode, "kv_missing");
      const unknown = await errorOf(cli.rpc.call("srv", "t.note", { seq: 1 }));
      assert.ok(isTransportError(unknown, "remote_error"));
      assert.equal(unknown.remoteCode, "unknown_method");
      for (let i = 0; i < 50; i++) await cli.rpc.notify("srv", "t.note", { seq: i });
      const end = performance.now() + 2000;
      while (seen.notes.length < 50 && performance.now() < end) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.deepEqual(seen.notes, Array.from({ length: 50 }, (_, i) => i));
    } finally {
      await close(srv, cli);
    }
  });

  Deno.test(`${kind}: deadline expiry and cancellation reach the server`, async () => {
    const { srv, cli, seen } = await pair(kind);
    try {
      const t0 = performance.now();
      const err = await errorOf(cli.rpc.call("srv", "t.slow", { ms: 2000 }, { deadlineMs: 150 }));
      assert.ok(isTransportError(err, "deadline_exceeded"), `got ${err}`);
      assert.ok(performance.now() - t0 < 1000, "the deadline must cut the wait short");
      assert.ok((seen.slowDeadlineMs[0] ?? Infinity) <= 150, "deadline travels in the envelope");

      const ac = new AbortController();
      setTimeout(() => ac.abort(), 80);
      const c = await errorOf(cli.rpc.call("srv", "t.slow", { ms: 2000 }, { signal: ac.signal }));
      assert.ok(isTransportError(c, "cancelled"), `got ${c}`);
      const end = performance.now() + 2000;
      while (seen.slowAborted.length < 2 && performance.now() < end) {
        await new Promise((r) => setTimeout(r, 5));
      }
      // The first call's end reaches the server as its own deadline or as the
      // client's Cancel, whichever comes first; the second is always a Cancel.
      assert.equal(seen.slowAborted.length, 2, String(seen.slowAborted));
      assert.ok(
        ["deadline_exceeded", "cancelled"].includes(seen.slowAborted[0]),
        seen.slowAborted[0],
      );
      assert.equal(seen.slowAborted[1], "cancelled");
      assert.deepEqual(await cli.rpc.call("srv", "t.echo", { s: "ok" }), { s: "ok" });
    } finally {
      await close(srv, cli);
    }
  });

  Deno.test(`${kind}: a peer restart fails the call in flight; later calls reconnect`, async () => {
    const { srv, cli, srvId } = await pair(kind);
    let srv2: TestNode | null = null;
    try {
      assert.deepEqual(await cli.rpc.call("srv", "t.echo", { s: "1" }), { s: "1" });
      const inflight = errorOf(cli.rpc.call("srv", "t.slow", { ms: 3000 }, { deadlineMs: 5000 }));
      await new Promise((r) => setTimeout(r, 50));
      await srv.rpc.close();
      const err = await inflight;
      assert.ok(isTransportError(err, "peer_unavailable"), `got ${err}`);
      // Deno 2.9.6 keeps a closed QuicEndpoint's UDP port bound while any of its JS objects
      // live (until GC or process exit), so the restarted QUIC server takes a fresh port.
      srv2 = (await startServer(kind, srvId, kind === "tcp" ? srv.addr.port : 0)).node;
      if (kind === "quic") cli.rpc.addPeer("srv", srv2.addr);
      assert.deepEqual(await cli.rpc.call("srv", "t.echo", { s: "2" }, { deadlineMs: 3000 }), {
        s: "2",
      });
      assert.ok(cli.rpc.metrics.reconnects >= 1, "the reconnect is counted");
    } finally {
      await close(srv, cli, ...(srv2 ? [srv2] : []));
    }
  });

  Deno.test(`${kind}: a partition through the fault hook, then healing`, async () => {
    const { srv, cli } = await pair(kind);
    try {
      assert.deepEqual(await cli.rpc.call("srv", "t.echo", { s: "before" }), { s: "before" });
      cli.rpc.faults.set("srv", { cut: true });
      const err = await errorOf(cli.rpc.call("srv", "t.echo", { s: "cut" }, { deadlineMs: 150 }));
      assert.ok(isTransportError(err, "deadline_exceeded"), `got ${err}`);
      // Cutting only the replies (server side, outbound) also makes calls time out.
      cli.rpc.faults.clear();
      srv.rpc.faults.set("cli", { cut: "out" });
      const err2 = await errorOf(cli.rpc.call("srv", "t.echo", { s: "cut" }, { deadlineMs: 150 }));
      assert.ok(isTransportError(err2, "deadline_exceeded"), `got ${err2}`);
      srv.rpc.faults.clear();
      assert.deepEqual(await cli.rpc.call("srv", "t.echo", { s: "after" }), { s: "after" });
      assert.ok(cli.rpc.faults.dropped.out >= 1 && srv.rpc.faults.dropped.out >= 1);
    } finally {
      await close(srv, cli);
    }
  });

  Deno.test(`${kind}: bulk streams of several MB with backpressure both ways`, async () => {
    const { srv, cli, seen } = await pair(kind);
    try {
      const total = 6 * 1024 * 1024;
      const up = await cli.rpc.openStream("srv", "t.up", { name: "blob" });
      const w = up.writable.getWriter();
      const chunk = new Uint8Array(256 * 1024);
      let sum = 0;
      let maxAhead = 0;
      for (let off = 0; off < total; off += chunk.byteLength) {
        chunk.fill((off / chunk.byteLength) & 0xff);
        for (let i = 0; i < chunk.byteLength; i += 4096) sum = (sum + chunk[i]) % 1_000_000_007;
        await w.write(chunk);
        // Credit bounds what is in flight: bytes written minus bytes the handler consumed.
        const ahead = off + chunk.byteLength - seen.upConsumed;
        maxAhead = Math.max(maxAhead, ahead);
        assert.ok(ahead <= 1024 * 1024 + 128 * 1024, `sender is ${ahead} bytes ahead`);
      }
      await w.close();
      assert.deepEqual(await up.result, { bytes: total, sum });
      assert.ok(maxAhead > 256 * 1024, "the window was actually used");

      const down = await cli.rpc.openStream("srv", "t.down", { bytes: 3_000_000 });
      let got = 0;
      for await (const c of down.readable) {
        got += c.byteLength;
        assert.equal(c[0], 7);
      }
      assert.equal(got, 3_000_000);
      assert.deepEqual(await down.result, { sent: 3_000_000 });
    } finally {
      await close(srv, cli);
    }
  });
}
