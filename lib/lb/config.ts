/**
 * Configuration of `elasticore lb`: flags, optionally layered over an `[lb]`
 * table of a small TOML file (flags win). Every bad value is an
 * {@link ElasticoreError} naming the flag or key.
 *
 * ```toml
 * [lb]
 * listen = "127.0.0.1:7500"
 * backends = ["https://127.0.0.1:7402", "https://127.0.0.1:7412"]
 * ca_file = "ca.pem"
 * cert_file = "lb.pem"
 * key_file = "lb-key.pem"
 * policy = "round-robin"      # or "least-connections"
 * check_interval = "500ms"
 * fall = 2
 * rise = 2
 * timeout = "5s"
 * retries = 2
 * ```
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { ElasticoreError } from "../errors.ts";
import { parseTomlText } from "../config/sources.ts";

/** How reads are spread over the healthy backends. */
export type LbPolicy = "round-robin" | "least-connections";

/** The policies `--policy` accepts. */
export const LB_POLICIES: readonly LbPolicy[] = ["round-robin", "least-connections"];

/** The resolved configuration of a load balancer (file paths, not contents). */
export interface LbConfig {
  /** Listen host. */
  hostname: string;
  /** Listen port (0 = ephemeral). */
  port: number;
  /** Backend origins, e.g. `https://127.0.0.1:7402`. */
  backends: string[];
  /** Cluster CA certificate (PEM file) that backends are verified against. */
  caFile: string;
  /** The load balancer's own certificate (PEM file). */
  certFile: string;
  /** The load balancer's private key (PEM file). */
  keyFile: string;
  /** Read balancing policy. */
  policy: LbPolicy;
  /** Interval between active health checks of one backend, ms. */
  checkIntervalMs: number;
  /** Consecutive failures that eject a backend from a pool. */
  fall: number;
  /** Consecutive successes that re-admit it. */
  rise: number;
  /** Upstream response timeout and the longest wait for a leader, ms. */
  timeoutMs: number;
  /** Extra attempts on other backends for retryable failures. */
  retries: number;
}

/** The `elasticore lb` options as commander parses them (all strings). */
export interface LbFlags {
  /** `--config FILE`: TOML with an `[lb]` table. */
  config?: string;
  /** `--listen HOST:PORT`. */
  listen?: string;
  /** `--backends URL,URL,...`. */
  backends?: string;
  /** `--ca FILE`. */
  ca?: string;
  /** `--cert FILE`. */
  cert?: string;
  /** `--key FILE`. */
  key?: string;
  /** `--policy`. */
  policy?: string;
  /** `--check-interval`. */
  checkInterval?: string;
  /** `--fall`. */
  fall?: string;
  /** `--rise`. */
  rise?: string;
  /** `--timeout`. */
  timeout?: string;
  /** `--retries`. */
  retries?: string;
}

const DEFAULTS = {
  listen: "127.0.0.1:7500",
  policy: "round-robin" as LbPolicy,
  checkIntervalMs: 500,
  fall: 2,
  rise: 2,
  timeoutMs: 5000,
  retries: 2,
};

const FILE_KEYS = [
  "listen",
  "backends",
  "ca_file",
  "cert_file",
  "key_file",
  "policy",
  "check_interval",
  "fall",
  "rise",
  "timeout",
  "retries",
] as const;

function bad(what: string, message: string, hint?: string): ElasticoreError {
  return new ElasticoreError("lb_bad_config", `${what}: ${message}`, { hint });
}

/**
 * Parses a duration: `250ms`, `2s`, `1.5s`, `1m`, or a bare number of
 * milliseconds. `what` names the flag or key in the error.
 */
export function parseDuration(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(text);
  if (!m) throw bad(what, `"${text}" is not a duration`, "use e.g. 500ms, 2s or 1m");
  const n = Number(m[1]) * (m[2] === "s" ? 1000 : m[2] === "m" ? 60_000 : 1);
  if (!Number.isFinite(n) || n < 1 || n > 3_600_000) {
    throw bad(what, `"${text}" is out of range`, "use between 1ms and 1h");
  }
  return Math.round(n);
}

function parseInteger(text: string, what: string, min: number, max: number): number {
  if (!/^\s*\d+\s*$/.test(text)) throw bad(what, `"${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw bad(what, `${n} is out of range`, `use ${min}..${max}`);
  return n;
}

/** Parses `HOST:PORT` (IPv6 hosts in brackets). */
export function parseListen(text: string, what = "--listen"): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw bad(what, `"${text}" is not HOST:PORT`, "e.g. 127.0.0.1:7500");
  const port = Number(m[3]);
  if (port > 65535) throw bad(what, `port ${port} is out of range`);
  return { hostname: m[1] ?? m[2], port };
}

/** Validates one backend URL and returns its origin (`https://host:port`). */
export function parseBackend(text: string, what = "--backends"): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw bad(what, `"${text}" is not a URL`, "e.g. https://127.0.0.1:7402");
  }
  if (url.protocol !== "https:") {
    throw bad(what, `"${text}" must use https`, "backends serve the API over TLS");
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    throw bad(what, `"${text}" must be an origin without path or query`);
  }
  return url.origin;
}

function parseBackendList(items: string[], what: string): string[] {
  const out = items.map((s) => s.trim()).filter((s) => s.length > 0).map((s) =>
    parseBackend(s, what)
  );
  if (out.length === 0) throw bad(what, "no backends given");
  const dup = out.find((b, i) => out.indexOf(b) !== i);
  if (dup) throw bad(what, `backend ${dup} is listed twice`);
  return out;
}

function parsePolicy(text: string, what: string): LbPolicy {
  const p = LB_POLICIES.find((x) => x === text.trim());
  if (!p) throw bad(what, `unknown policy "${text}"`, `use one of ${LB_POLICIES.join(", ")}`);
  return p;
}

/** The `[lb]` table of a TOML file, as flag-like strings, paths resolved. */
export function parseLbToml(text: string, file: string): LbFlags {
  const doc = parseTomlText(text, file);
  for (const k of Object.keys(doc)) {
    if (k !== "lb") throw bad(`${file}: [${k}]`, "unknown table", "only [lb] is read");
  }
  const t = doc.lb;
  if (t === undefined) return {};
  if (typeof t !== "object" || t === null || Array.isArray(t)) {
    throw bad(`${file}: lb`, "must be a table");
  }
  const table = t as Record<string, unknown>;
  const base = dirname(resolve(file));
  const out: LbFlags = {};
  const str = (key: string): string => {
    const v = table[key];
    if (typeof v === "string") return v;
    if ((typeof v === "number" || typeof v === "bigint") && key !== "listen") return String(v);
    throw bad(`${file}: lb.${key}`, `expected a ${key === "listen" ? "string" : "value"}`);
  };
  for (const key of Object.keys(table)) {
    if (!(FILE_KEYS as readonly string[]).includes(key)) {
      throw bad(`${file}: lb.${key}`, "unknown key", `known keys: ${FILE_KEYS.join(", ")}`);
    }
    switch (key as typeof FILE_KEYS[number]) {
      case "listen":
        out.listen = str(key);
        break;
      case "backends": {
        const v = table[key];
        if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
          throw bad(`${file}: lb.backends`, "expected an array of URLs");
        }
        out.backends = v.join(",");
        break;
      }
      case "ca_file":
        out.ca = resolve(base, str(key));
        break;
      case "cert_file":
        out.cert = resolve(base, str(key));
        break;
      case "key_file":
        out.key = resolve(base, str(key));
        break;
      case "policy":
        out.policy = str(key);
        break;
      case "check_interval":
        out.checkInterval = str(key);
        break;
      case "fall":
        out.fall = str(key);
        break;
      case "rise":
        out.rise = str(key);
        break;
      case "timeout":
        out.timeout = str(key);
        break;
      case "retries":
        out.retries = str(key);
        break;
    }
  }
  return out;
}

/**
 * Builds the configuration from flags layered over `file` (the parsed `[lb]`
 * table, if any). Throws on a missing required setting or a bad value.
 */
export function buildLbConfig(flags: LbFlags, file: LbFlags = {}): LbConfig {
  const pick = <K extends keyof LbFlags>(k: K): LbFlags[K] => flags[k] ?? file[k];
  const need = (k: "backends" | "ca" | "cert" | "key", flag: string): string => {
    const v = pick(k);
    if (v === undefined || v.trim() === "") {
      throw new ElasticoreError("lb_missing_option", `${flag} is required`, {
        hint: `pass ${flag} or set it in the [lb] table of --config`,
      });
    }
    return v;
  };
  const { hostname, port } = parseListen(pick("listen") ?? DEFAULTS.listen);
  const backends = parseBackendList(need("backends", "--backends").split(","), "--backends");
  const policy = pick("policy");
  const interval = pick("checkInterval");
  const fall = pick("fall");
  const rise = pick("rise");
  const timeout = pick("timeout");
  const retries = pick("retries");
  return {
    hostname,
    port,
    backends,
    caFile: need("ca", "--ca"),
    certFile: need("cert", "--cert"),
    keyFile: need("key", "--key"),
    policy: policy === undefined ? DEFAULTS.policy : parsePolicy(policy, "--policy"),
    checkIntervalMs: interval === undefined
      ? DEFAULTS.checkIntervalMs
      : parseDuration(interval, "--check-interval"),
    fall: fall === undefined ? DEFAULTS.fall : parseInteger(fall, "--fall", 1, 100),
    rise: rise === undefined ? DEFAULTS.rise : parseInteger(rise, "--rise", 1, 100),
    timeoutMs: timeout === undefined ? DEFAULTS.timeoutMs : parseDuration(timeout, "--timeout"),
    retries: retries === undefined ? DEFAULTS.retries : parseInteger(retries, "--retries", 0, 10),
  };
}

/** Reads `--config` (when given) and builds the configuration. */
export async function loadLbConfig(flags: LbFlags): Promise<LbConfig> {
  if (flags.config === undefined) return buildLbConfig(flags);
  let text: string;
  try {
    text = await Deno.readTextFile(flags.config);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new ElasticoreError("lb_bad_config", `cannot read ${flags.config}: ${reason}`);
  }
  return buildLbConfig(flags, parseLbToml(text, flags.config));
}
