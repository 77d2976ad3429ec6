/**
 * Transport benchmark: raw Deno TCP (echo and one-way bandwidth) as the
 * baseline, then our RPC over TCP+TLS and QUIC (pipelined and sequential
 * calls of 64 B and 64 KiB, latency percentiles, bulk-stream bandwidth),
 * each with its ratio against the baseline measured in the same run. Plain
 * `node:tls` sockets with the same mutual-TLS setup (echo and one-way) are
 * measured too, as the ceiling the TCP+TLS transport runs under; the TLS
 * lines print a second ratio against them.
 *
 * `deno run -P scripts/bench/transport.ts [--seconds S] [--kinds tcp,quic]`
 *
 * @module
 */
import * as tls from "node:tls";
import { bytes, object, uint } from "../../proto/schema.ts";
import { startTestNode, testPki } from "../../lib/transport/testing.ts";
import type { NodeIdentity, TransportKind } from "../../lib/transport/types.ts";

const SMALL = 64;
const LARGE = 64 * 1024;
const INFLIGHT = 64;

const messages = {
  "b.echo": object({ d: bytes(LARGE) }),
  "b.echo.reply": object({ d: bytes(LARGE) }),
  "b.bulk": object({ n: uint }),
  "b.bulk.reply": object({ n: uint }),
};

interface Rate {
  perSec: number;
  mbPerSec: number;
  p50Us?: number;
  p99Us?: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Raw TCP echo: `size`-byte messages, `INFLIGHT` outstanding, for `seconds`. */
async function rawEcho(size: number, seconds: number): Promise<Rate> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serve = (async () => {
    const c = await listener.accept();
    c.setNoDelay(true);
    const buf = new Uint8Array(256 * 1024);
    for (;;) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) break;
      let off = 0;
      while (off < n) off += await c.write(buf.subarray(off, n));
    }
    c.close();
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  conn.setNoDelay(true);
  const msg = new Uint8Array(size);
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  let received = 0;
  let wake = null as (() => void) | null;
  const reader = (async () => {
    const buf = new Uint8Array(256 * 1024);
    let bytesIn = 0;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      bytesIn += n;
      received = Math.floor(bytesIn / size);
      wake?.();
      if (received >= sent && performance.now() > end) break;
    }
  })();
  const t0 = performance.now();
  while (performance.now() < end) {
    while (sent - received >= INFLIGHT) await new Promise<void>((r) => wake = r);
    let off = 0;
    while (off < size) off += await conn.write(msg.subarray(off));
    sent++;
  }
  while (received < sent) await new Promise<void>((r) => wake = r);
  const dt = (performance.now() - t0) / 1000;
  conn.close();
  await reader.catch(() => {});
  await serve.catch(() => {});
  listener.close();
  return { perSec: received / dt, mbPerSec: (received * size) / dt / 1e6 };
}

/**
 * One-way bandwidth with 64 KiB writes from `connect()` to the first connection `listener`
 * accepts, for `seconds`.
 */
async function oneWayBandwidth(
  listener: Deno.Listener,
  connect: () => Promise<Deno.Conn>,
  seconds: number,
): Promise<Rate> {
  const done = (async () => {
    const c = await listener.accept();
    const buf = new Uint8Array(256 * 1024);
    let total = 0;
    for (;;) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) break;
      total += n;
    }
    c.close();
    return total;
  })();
  const conn = await connect();
  const chunk = new Uint8Array(LARGE);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    let off = 0;
    while (off < chunk.length) off += await conn.write(chunk.subarray(off));
  }
  conn.close();
  const total = await done;
  const dt = (performance.now() - t0) / 1000;
  listener.close();
  return { perSec: total / LARGE / dt, mbPerSec: total / dt / 1e6 };
}

/** Raw TCP one-way bandwidth with 64 KiB writes. */
function rawBandwidth(seconds: number): Promise<Rate> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  return oneWayBandwidth(listener, () => Deno.connect({ hostname: "127.0.0.1", port }), seconds);
}

/**
 * Deno's own TLS (`Deno.listenTls` / `Deno.connectTls`, server authentication only: it cannot
 * check client certificates) one-way bandwidth with 64 KiB writes: a second TLS stack, to show
 * whether the bulk ceiling is `node:tls` or TLS itself on this machine.
 */
async function denoTlsBandwidth(seconds: number): Promise<Rate> {
  const s: NodeIdentity = await (await testPki("bench-deno-tls-ca")).identity("srv");
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: s.certPem,
    key: s.keyPem,
  });
  const port = listener.addr.port;
  return await oneWayBandwidth(
    listener,
    () => Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [s.caPem] }),
    seconds,
  );
}

/** A `node:tls` server and client with the transport's mutual-TLS options, nothing on top. */
async function tlsPair(
  onServerData: (sock: tls.TLSSocket, chunk: Uint8Array) => void,
): Promise<{ client: tls.TLSSocket; server: tls.Server; closed: Promise<void> }> {
  const pki = await testPki("bench-tls-ca");
  const s: NodeIdentity = await pki.identity("srv");
  const c: NodeIdentity = await pki.identity("cli");
  const closed = Promise.withResolvers<void>();
  const server = tls.createServer({
    key: s.keyPem,
    cert: s.certPem,
    ca: [s.caPem],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
  }, (sock) => {
    sock.setNoDelay(true);
    sock.on("data", (d: Uint8Array) => onServerData(sock, d));
    sock.on("end", () => sock.end());
    sock.on("close", () => closed.resolve());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const client = tls.connect({
    host: "127.0.0.1",
    port,
    servername: "srv.elasticore",
    ca: [c.caPem],
    cert: c.certPem,
    key: c.keyPem,
    minVersion: "TLSv1.2",
  });
  client.setNoDelay(true);
  await new Promise<void>((r) => client.once("secureConnect", () => r()));
  return { client, server, closed: closed.promise };
}

function writeNode(sock: tls.TLSSocket, data: Uint8Array): Promise<void> | null {
  if (sock.write(data)) return null;
  return new Promise((r) => sock.once("drain", () => r()));
}

/** Plain `node:tls` echo: `size`-byte messages, `INFLIGHT` outstanding, for `seconds`. */
async function tlsEcho(size: number, seconds: number): Promise<Rate> {
  const { client, server, closed } = await tlsPair((sock, d) => void sock.write(d));
  const msg = new Uint8Array(size);
  let sent = 0;
  let bytesIn = 0;
  let wake = null as (() => void) | null;
  client.on("data", (d: Uint8Array) => {
    bytesIn += d.byteLength;
    wake?.();
  });
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    while (sent - Math.floor(bytesIn / size) >= INFLIGHT) {
      await new Promise<void>((r) => wake = r);
    }
    const w = writeNode(client, msg);
    if (w) await w;
    sent++;
  }
  while (Math.floor(bytesIn / size) < sent) await new Promise<void>((r) => wake = r);
  const dt = (performance.now() - t0) / 1000;
  client.end();
  await closed;
  server.close();
  return { perSec: sent / dt, mbPerSec: (sent * size) / dt / 1e6 };
}

/** Plain `node:tls` one-way bandwidth with 64 KiB writes. */
async function tlsBandwidth(seconds: number): Promise<Rate> {
  let total = 0;
  const { client, server, closed } = await tlsPair((_s, d) => void (total += d.byteLength));
  const chunk = new Uint8Array(LARGE);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    const w = writeNode(client, chunk);
    if (w) await w;
  }
  client.end();
  await closed;
  const dt = (performance.now() - t0) / 1000;
  server.close();
  return { perSec: total / LARGE / dt, mbPerSec: total / dt / 1e6 };
}

async function rpcPair(kind: TransportKind, streamPerRpc = false) {
  const pki = await testPki("bench-ca");
  const srv = await startTestNode({ kind, identity: await pki.identity("srv"), messages });
  const cli = await startTestNode({
    kind,
    identity: await pki.identity("cli"),
    messages,
    listen: false,
    rpc: { streamPerRpc },
  });
  srv.rpc.handle("b.echo", (body) => body);
  srv.rpc.handleStream("b.bulk", async (_meta, s) => {
    let n = 0;
    for await (const c of s.readable) n += c.byteLength;
    return { n };
  });
  cli.rpc.addPeer("srv", srv.addr);
  await cli.rpc.call("srv", "b.echo", { d: new Uint8Array(1) });
  return { srv, cli };
}

async function rpcCalls(
  cli: Awaited<ReturnType<typeof rpcPair>>["cli"],
  size: number,
  inflight: number,
  seconds: number,
): Promise<Rate> {
  const body = { d: new Uint8Array(size) };
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      await cli.rpc.call("srv", "b.echo", body, { deadlineMs: 10_000 });
      lat.push(performance.now() - s);
    }
  }));
  const dt = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return {
    perSec: lat.length / dt,
    mbPerSec: (lat.length * size) / dt / 1e6,
    p50Us: pct(lat, 0.5) * 1000,
    p99Us: pct(lat, 0.99) * 1000,
  };
}

async function rpcBulk(
  cli: Awaited<ReturnType<typeof rpcPair>>["cli"],
  seconds: number,
): Promise<Rate> {
  const s = await cli.rpc.openStream("srv", "b.bulk", { n: 0 });
  const w = s.writable.getWriter();
  const chunk = new Uint8Array(256 * 1024);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) await w.write(chunk);
  await w.close();
  const { n } = await s.result as { n: number };
  const dt = (performance.now() - t0) / 1000;
  return { perSec: n / LARGE / dt, mbPerSec: n / dt / 1e6 };
}

function fmt(r: Rate): string {
  const lat = r.p50Us !== undefined
    ? `  p50 ${r.p50Us.toFixed(0)} µs  p99 ${r.p99Us!.toFixed(0)} µs`
    : "";
  return `${r.perSec.toFixed(0).padStart(8)}/s  ${r.mbPerSec.toFixed(1).padStart(7)} MB/s${lat}`;
}

function line(
  name: string,
  r: Rate,
  base?: Rate,
  by: "perSec" | "mbPerSec" = "perSec",
  tlsBase?: Rate,
): void {
  const ratio = base ? `  ratio ${(r[by] / base[by]).toFixed(2)}` : "";
  const tlsRatio = tlsBase ? ` (vs node:tls ${(r[by] / tlsBase[by]).toFixed(2)})` : "";
  console.log(`${name.padEnd(44)} ${fmt(r)}${ratio}${tlsRatio}`);
}

/** Runs the benchmark (see the module documentation). */
export default async function bench(args: string[]): Promise<void> {
  const secIdx = args.indexOf("--seconds");
  const seconds = secIdx >= 0 ? Number(args[secIdx + 1]) : 1.5;
  const kindIdx = args.indexOf("--kinds");
  const kinds = (kindIdx >= 0 ? args[kindIdx + 1] : "tcp,quic").split(",") as TransportKind[];

  const load = Deno.loadavg()[0].toFixed(1);
  console.log(
    `transport benchmark (${seconds}s per measurement, ${INFLIGHT} in flight, load ${load})`,
  );
  const echoSmall = await rawEcho(SMALL, seconds);
  const echoLarge = await rawEcho(LARGE, seconds);
  const bw = await rawBandwidth(seconds);
  line("baseline raw TCP echo 64 B pipelined", echoSmall);
  line("baseline raw TCP echo 64 KiB pipelined", echoLarge);
  line("baseline raw TCP one-way 64 KiB writes", bw);
  const tls = kinds.includes("tcp")
    ? {
      small: await tlsEcho(SMALL, seconds),
      large: await tlsEcho(LARGE, seconds),
      bw: await tlsBandwidth(seconds),
    }
    : null;
  if (tls) {
    line("ceiling node:tls echo 64 B pipelined", tls.small, echoSmall);
    line("ceiling node:tls echo 64 KiB pipelined", tls.large, echoLarge);
    line("ceiling node:tls one-way 64 KiB writes", tls.bw, bw, "mbPerSec");
    line("ceiling Deno.listenTls one-way 64 KiB", await denoTlsBandwidth(seconds), bw, "mbPerSec");
  }

  for (const kind of kinds) {
    const { srv, cli } = await rpcPair(kind);
    const t = kind === "tcp" ? tls : null;
    try {
      const name = kind === "tcp" ? "TCP+TLS" : "QUIC";
      const small = await rpcCalls(cli, SMALL, INFLIGHT, seconds);
      line(`${name} RPC 64 B pipelined`, small, echoSmall, "perSec", t?.small);
      line(`${name} RPC 64 B sequential`, await rpcCalls(cli, SMALL, 1, seconds), echoSmall);
      const large = await rpcCalls(cli, LARGE, INFLIGHT, seconds);
      line(`${name} RPC 64 KiB pipelined`, large, echoLarge, "perSec", t?.large);
      line(`${name} RPC 64 KiB sequential`, await rpcCalls(cli, LARGE, 1, seconds), echoLarge);
      line(`${name} bulk stream`, await rpcBulk(cli, seconds), bw, "mbPerSec", t?.bw);
    } finally {
      await Promise.all([srv.rpc.close(), cli.rpc.close()]);
    }
  }
  if (kinds.includes("quic")) {
    const { srv, cli } = await rpcPair("quic", true);
    try {
      line(
        "QUIC stream-per-RPC 64 B pipelined",
        await rpcCalls(cli, SMALL, INFLIGHT, seconds),
        echoSmall,
      );
    } finally {
      await Promise.all([srv.rpc.close(), cli.rpc.close()]);
    }
  }
}

if (import.meta.main) await bench(Deno.args);
