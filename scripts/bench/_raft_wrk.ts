/**
 * Load generation for `deno task bench raft`: `wrk` runs, their Lua scripts
 * (writes of unique keys, to ElastiCore's `PUT /v1/kv/{key}` and to etcd's
 * JSON gateway `POST /v3/kv/put`), output parsing and small process helpers
 * (free ports, readiness polling, per-process CPU time, machine load).
 *
 * @module
 */

/** Path of Debian's `wrk`. */
export const WRK = "/usr/bin/wrk";

/** One `wrk` run's results. */
export interface WrkResult {
  /** Completed requests per second. */
  rps: number;
  /** Completed requests. */
  requests: number;
  /** Median latency, ms. */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
  /** Responses with a status outside 2xx/3xx. */
  non2xx: number;
  /** Socket errors (connect, read, write, timeout). */
  socketErrors: number;
}

/** Shape of a load run. */
export interface Load {
  /** Seconds per run. */
  durationS: number;
  /** Open connections. */
  connections: number;
  /** wrk threads. */
  threads: number;
}

function wrkMs(text: string, re: RegExp): number {
  const m = re.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}

/** Parses wrk's summary (run with `--latency`). */
export function parseWrk(text: string): WrkResult {
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
    requests: Number(/(\d+) requests in /.exec(text)?.[1] ?? NaN),
    p50Ms: wrkMs(text, /^\s+50%\s+([\d.]+)(us|ms|s)/m),
    p99Ms: wrkMs(text, /^\s+99%\s+([\d.]+)(us|ms|s)/m),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0),
    socketErrors: sock ? sock.slice(1).reduce((n, s) => n + Number(s), 0) : 0,
  };
}

/** Runs wrk with `script` against `url`; throws with wrk's stderr when it fails. */
export async function runWrk(url: string, script: string, load: Load): Promise<WrkResult> {
  const args = [
    `-t${Math.min(load.threads, load.connections)}`,
    `-c${load.connections}`,
    `-d${load.durationS}s`,
    "--timeout",
    "10s",
    "--latency",
    "-s",
    script,
    url,
  ];
  const out = await new Deno.Command(WRK, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`wrk failed: ${new TextDecoder().decode(out.stderr)}`);
  const r = parseWrk(text);
  if (!Number.isFinite(r.rps) || !Number.isFinite(r.p50Ms)) {
    throw new Error(`cannot parse wrk output:\n${text}`);
  }
  return r;
}

/** Lua: numbers each wrk thread so keys are unique across threads. */
const THREAD_IDS = `
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
end
local counter = 0
`;

/** A Lua string literal (the inputs are ASCII without quotes, but be safe). */
function luaString(s: string): string {
  return JSON.stringify(s);
}

/** wrk Lua: `PUT /v1/kv/<prefix><thread>-<n>` with a bearer token and a fixed value. */
export function oursPutScript(prefix: string, token: string, value: string): string {
  return `${THREAD_IDS}
wrk.method = "PUT"
wrk.headers["Authorization"] = ${luaString(`Bearer ${token}`)}
wrk.headers["Content-Type"] = "application/octet-stream"
local prefix = ${luaString(`/v1/kv/${prefix}`)}
local body = ${luaString(value)}
request = function()
  counter = counter + 1
  return wrk.format(nil, prefix .. tid .. "-" .. counter, nil, body)
end
`;
}

/** wrk Lua: `POST /v3/kv/put` with `{"key": base64, "value": base64}` and unique keys. */
export function etcdPutScript(prefix: string, value: string): string {
  return `${THREAD_IDS}
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = chars:sub(c1 + 1, c1 + 1) .. chars:sub(c2 + 1, c2 + 1) ..
      (b and chars:sub(c3 + 1, c3 + 1) or "=") .. (c and chars:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local prefix = ${luaString(prefix)}
local value = b64(${luaString(value)})
request = function()
  counter = counter + 1
  local key = b64(prefix .. tid .. "-" .. counter)
  return wrk.format(nil, "/v3/kv/put", nil, '{"key":"' .. key .. '","value":"' .. value .. '"}')
end
`;
}

/** Base64 of a UTF-8 string (what the Lua above computes). */
export function b64(s: string): string {
  let bin = "";
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** True when none of `ports` on 127.0.0.1 is in use. */
function portsFree(ports: number[]): boolean {
  const open: Deno.Listener[] = [];
  try {
    for (const port of ports) open.push(Deno.listen({ hostname: "127.0.0.1", port }));
    return true;
  } catch {
    return false;
  } finally {
    for (const l of open) l.close();
  }
}

/**
 * A base port `b` such that every `b + offset` is free, for offsets in
 * `offsets`; tries random bases in [30000, 60000).
 */
export function freeBase(offsets: number[]): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 30000 + Math.floor(Math.random() * 2900) * 10;
    if (portsFree(offsets.map((o) => base + o))) return base;
  }
  throw new Error("no free port range found on 127.0.0.1");
}

/** Polls `ok` every 100 ms until it returns a value, or throws after `timeoutMs`. */
export async function waitFor<T>(
  ok: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await ok().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms`);
}

/**
 * CPU seconds (user + system) a process used so far, from `/proc/<pid>/stat`
 * (read through `cat`: Deno guards `/proc` behind full access); NaN if unknown.
 */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stderr: "null" })
      .output();
    const stat = new TextDecoder().decode(out.stdout);
    // Fields after the command name (which may contain spaces) start after ") ".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime at USER_HZ 100
  } catch {
    return NaN;
  }
}

/** The machine's 1-minute load average. */
export function loadAverage(): number {
  return Deno.loadavg()[0];
}
