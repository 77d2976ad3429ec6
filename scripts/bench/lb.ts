/**
 * `deno task bench lb [--duration 5s] [--connections 32] [--threads 2]`:
 * throughput and latency of KV reads (GET) and writes (PUT) straight to a
 * backend, through `elasticore lb`, and through HAProxy configured the same
 * way (TLS termination with the same certificate, `GET /v1/health` checks
 * for reads, `GET /v1/health/leader` for writes, TLS to the backends
 * verified against the CA, 500 ms checks, fall 2, rise 2, 2 retries), with
 * the same load in the same run. Three backend HTTPS servers answer the
 * API's health routes and `GET|PUT /v1/kv/{key}`. Load comes from `wrk`
 * (Debian package `wrk`), or an in-process generator when it is missing.
 * Both load balancers run as separate processes; HAProxy with one thread,
 * like the single event loop of ours.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TestBackend, testPki } from "../../lib/lb/testing.ts";
import { parseDuration } from "../../lib/lb/config.ts";

const WRK = "/usr/bin/wrk";
const HAPROXY = "/usr/sbin/haproxy";
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface Result {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

interface Load {
  durationS: number;
  connections: number;
  threads: number;
}

function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function wrkMs(text: string, re: RegExp): number {
  const m = re.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}

async function runWrk(url: string, script: string | undefined, load: Load): Promise<Result> {
  const args = [
    `-t${load.threads}`,
    `-c${load.connections}`,
    `-d${load.durationS}s`,
    "--latency",
    ...(script ? ["-s", script] : []),
    url,
  ];
  const out = await new Deno.Command(WRK, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`wrk failed: ${new TextDecoder().decode(out.stderr)}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const sockErrors = sock ? sock.slice(1).reduce((n, s) => n + Number(s), 0) : 0;
  return {
    rps,
    p50Ms: wrkMs(text, /^\s+50%\s+([\d.]+)(us|ms|s)/m),
    p99Ms: wrkMs(text, /^\s+99%\s+([\d.]+)(us|ms|s)/m),
    errors: non2xx + sockErrors,
  };
}

/** The fallback load generator: `connections` loops of fetch for the duration. */
async function runInProcess(
  url: string,
  write: boolean,
  load: Load,
  client: Deno.HttpClient,
): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + load.durationS * 1000;
  await Promise.all(Array.from({ length: load.connections }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const res = await fetch(url, write ? { method: "PUT", body: "v", client } : { client });
        await res.arrayBuffer();
        if (res.status !== 200) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
  }));
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { rps: latencies.length / load.durationS, p50Ms: q(0.5), p99Ms: q(0.99), errors };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitUntil(ok: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms`);
}

function haproxyConfig(port: number, dir: string, backends: string[]): string {
  const servers = (check: string) =>
    backends.map((b, i) => {
      const u = new URL(b);
      return `  server b${i + 1} ${u.hostname}:${u.port} ${check}`;
    }).join("\n");
  const check = `check inter 500ms fall 2 rise 2 ssl verify required ca-file ${dir}/ca.pem`;
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 5s
  retries 2
  option redispatch
  option forwardfor
frontend fe
  bind 127.0.0.1:${port} ssl crt ${dir}/lb-combined.pem alpn http/1.1
  acl write method PUT POST DELETE PATCH
  use_backend writes if write
  default_backend reads
backend reads
  balance roundrobin
  option httpchk GET /v1/health
  http-check expect status 200
  retry-on conn-failure empty-response response-timeout 502 503 504
${servers(check)}
backend writes
  option httpchk GET /v1/health/leader
  http-check expect status 200
  retry-on conn-failure empty-response response-timeout 502 503 504
${servers(check)}
`;
}

function fmt(r: Result): string {
  return `${r.rps.toFixed(0).padStart(8)} req/s  p50 ${r.p50Ms.toFixed(2).padStart(6)} ms  ` +
    `p99 ${r.p99Ms.toFixed(2).padStart(7)} ms  errors ${r.errors}`;
}

/** Runs the load balancer benchmark. */
export default async function bench(args: string[]): Promise<void> {
  const load: Load = {
    durationS: parseDuration(flag(args, "--duration", "5s"), "--duration") / 1000,
    connections: Number(flag(args, "--connections", "32")),
    threads: Number(flag(args, "--threads", "2")),
  };
  const useWrk = await exists(WRK);
  if (!useWrk) {
    console.log(
      `wrk not found at ${WRK} (install with: sudo apt-get install wrk);` +
        " using the in-process load generator",
    );
  }
  const haveHaproxy = await exists(HAPROXY);
  if (!haveHaproxy) {
    console.log(`haproxy not found at ${HAPROXY} (install with: sudo apt-get install haproxy)`);
  }

  const dir = await Deno.makeTempDir({ prefix: "elasticore-bench-lb-" });
  const { ca, certs } = await testPki(["lb", "b1", "b2", "b3"]);
  const kv = new Map<string, Uint8Array>([["k", new Uint8Array(64).fill(0x61)]]);
  const backends = ["b1", "b2", "b3"].map((n, i) =>
    TestBackend.start({ name: n, ...certs[n], kv, leader: i === 0, record: false })
  );
  const client = Deno.createHttpClient({ caCerts: [ca.certPem] });
  const children: { child: Deno.ChildProcess; name: string; stderr: Promise<string> }[] = [];
  const track = (child: Deno.ChildProcess, name: string) =>
    children.push({ child, name, stderr: new Response(child.stderr).text() });
  let failed = false;
  try {
    await Deno.writeTextFile(join(dir, "ca.pem"), ca.certPem);
    await Deno.writeTextFile(join(dir, "lb.pem"), certs.lb.certPem);
    await Deno.writeTextFile(join(dir, "lb-key.pem"), certs.lb.keyPem);
    await Deno.writeTextFile(
      join(dir, "lb-combined.pem"),
      `${certs.lb.certPem.trim()}\n${certs.lb.keyPem.trim()}\n`,
    );
    await Deno.writeTextFile(join(dir, "put.lua"), 'wrk.method = "PUT"\nwrk.body = "value"\n');

    // Ours, as its own process (like HAProxy).
    const ours = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-P",
        "main.ts",
        "lb",
        "--listen",
        "127.0.0.1:0",
        "--backends",
        backends.map((b) => b.url).join(","),
        "--ca",
        join(dir, "ca.pem"),
        "--cert",
        join(dir, "lb.pem"),
        "--key",
        join(dir, "lb-key.pem"),
        "--check-interval",
        "500ms",
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    track(ours, "elasticore lb");
    const reader = ours.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    while (!/listening on (\S+)/.test(line)) {
      const r = await reader.read();
      if (r.done) throw new Error(`elasticore lb exited: ${line}`);
      line += r.value;
    }
    const oursUrl = /listening on (\S+)/.exec(line)![1];
    reader.releaseLock();
    ours.stdout.cancel().catch(() => {});

    const targets: [string, string][] = [["direct", backends[0].url], ["elasticore", oursUrl]];
    if (haveHaproxy) {
      const port = freePort();
      await Deno.writeTextFile(
        join(dir, "haproxy.cfg"),
        haproxyConfig(port, dir, backends.map((b) => b.url)),
      );
      const hap = new Deno.Command(HAPROXY, {
        args: ["-db", "-f", join(dir, "haproxy.cfg")],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      track(hap, "haproxy");
      const hapUrl = `https://127.0.0.1:${port}`;
      await waitUntil(
        async () => {
          const res = await fetch(`${hapUrl}/v1/kv/k`, { method: "PUT", body: "x", client });
          await res.body?.cancel();
          return res.status === 200;
        },
        10_000,
        "haproxy",
      );
      targets.push(["haproxy", hapUrl]);
    }
    await waitUntil(
      async () => {
        const res = await fetch(`${oursUrl}/v1/kv/k`, { method: "PUT", body: "x", client });
        await res.body?.cancel();
        return res.status === 200;
      },
      10_000,
      "elasticore lb",
    );

    console.log(
      `load: ${useWrk ? "wrk" : "in-process"} ${load.threads} threads, ${load.connections} ` +
        `connections, ${load.durationS}s per run; 3 backends (leader b1), 64-byte values`,
    );
    const results: Record<string, Record<string, Result>> = { read: {}, write: {} };
    for (const op of ["read", "write"] as const) {
      for (const [name, base] of targets) {
        const url = `${base}/v1/kv/k`;
        const r = useWrk
          ? await runWrk(url, op === "write" ? join(dir, "put.lua") : undefined, load)
          : await runInProcess(url, op === "write", load, client);
        results[op][name] = r;
        console.log(`${op.padEnd(5)} ${name.padEnd(10)} ${fmt(r)}`);
      }
    }
    for (const op of ["read", "write"] as const) {
      const d = results[op].direct;
      const o = results[op].elasticore;
      const h = results[op].haproxy;
      let text = `${op}: added p50 latency elasticore +${(o.p50Ms - d.p50Ms).toFixed(2)} ms`;
      if (h) {
        text += `, haproxy +${(h.p50Ms - d.p50Ms).toFixed(2)} ms; ` +
          `throughput ratio ours/haproxy = ${(o.rps / h.rps).toFixed(2)}, ` +
          `p99 ours ${o.p99Ms.toFixed(2)} ms vs haproxy ${h.p99Ms.toFixed(2)} ms`;
      }
      console.log(text);
    }
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    for (const { child, name, stderr } of children) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      await child.status;
      const text = await stderr;
      if (failed && text.trim()) console.log(`--- ${name} stderr:\n${text.trim()}`);
    }
    client.close();
    await Promise.all(backends.map((b) => b.stop()));
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await bench(Deno.args);
