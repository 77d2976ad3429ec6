/**
 * The dashboard script, part 1: DOM helpers, formatting, the API client,
 * sign-in and the polling loop. Plain modern JavaScript kept as a string; it
 * runs inside the IIFE assembled by `client.ts`. Untrusted data only ever
 * reaches the DOM through `textContent` and `setAttribute`.
 *
 * @module
 */

/** DOM helpers and value formatting. */
export const CLIENT_HELPERS = String.raw`
const TOKEN_KEY = "elasticore.token";
const SVG_NS = "http://www.w3.org/2000/svg";

/** The poll interval in ms: ?interval= (100..60000), 1000 by default. */
function pollInterval(search) {
  const raw = new URLSearchParams(search).get("interval");
  const n = raw === null || raw === "" ? NaN : Number(raw);
  if (!Number.isFinite(n)) return 1000;
  return Math.min(60000, Math.max(100, Math.round(n)));
}

function $(selector) {
  const node = document.querySelector(selector);
  if (!node) throw new Error("dashboard element missing: " + selector);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** An HTML element; attribute values and children are set as text, never parsed. */
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    node.setAttribute(k, v === true ? "" : String(v));
  }
  return append(node, children);
}

/** An SVG element, same rules as h(). */
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    node.setAttribute(k, String(v));
  }
  return append(node, children);
}

function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

function str(v) {
  return v === null || v === undefined || v === "" ? "—" : String(v);
}

function list(v) {
  return Array.isArray(v) ? v.map(String) : [];
}

function int(v) {
  return isNum(v) ? Math.round(v).toLocaleString("en-US") : "—";
}

/** 1234567 -> "1.23M". */
function compact(v) {
  if (!isNum(v)) return "—";
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
  return a >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}

function bytes(v) {
  if (!isNum(v)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = v;
  let u = 0;
  while (Math.abs(n) >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return (u === 0 ? String(n) : n.toFixed(n >= 100 ? 0 : 1)) + " " + units[u];
}

function clock(ts) {
  const t = typeof ts === "string" || isNum(ts) ? new Date(ts) : null;
  if (!t || Number.isNaN(t.getTime())) return str(ts);
  const p = (n, w) => String(n).padStart(w, "0");
  return p(t.getHours(), 2) + ":" + p(t.getMinutes(), 2) + ":" + p(t.getSeconds(), 2) + "." +
    p(t.getMilliseconds(), 3);
}

function age(ts, now) {
  const t = typeof ts === "string" ? Date.parse(ts) : NaN;
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 120) return s + " s ago";
  if (s < 7200) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

/** A colored badge whose class comes from a fixed list, with the value as its text. */
const KNOWN_STATES = new Set([
  "alive", "suspect", "dead", "left", "pending", "running", "finished", "failed", "cancelled",
  "leader", "follower", "candidate", "learner", "probe", "replicate", "snapshot",
]);
function badge(value) {
  const v = typeof value === "string" ? value : "";
  return h("span", { class: "badge state-" + (KNOWN_STATES.has(v) ? v : "unknown") }, str(value));
}

const LEVELS = new Set(["trace", "debug", "info", "warn", "warning", "error", "fatal"]);
function levelBadge(value) {
  const v = typeof value === "string" ? value.toLowerCase() : "";
  return h("span", { class: "badge level-" + (LEVELS.has(v) ? v : "debug") }, str(value));
}

function td(content, cls) {
  return h("td", cls ? { class: cls } : {}, ...(Array.isArray(content) ? content : [content]));
}

/**
 * Keyed update of a table body: rows are reused by data-id so that nodes
 * (charts in particular) keep their identity between polls.
 */
function syncRows(tbody, items, keyOf, fill, columns, emptyText) {
  const old = new Map();
  for (const tr of Array.from(tbody.rows)) {
    if (tr.dataset.id !== undefined) old.set(tr.dataset.id, tr);
  }
  const rows = [];
  for (const item of items) {
    const id = String(keyOf(item));
    let tr = old.get(id);
    if (!tr || rows.some((r) => r === tr)) {
      tr = h("tr", {});
      tr.dataset.id = id;
    }
    fill(tr, item);
    rows.push(tr);
  }
  if (rows.length === 0) {
    rows.push(h("tr", { class: "empty" }, h("td", { class: "empty", colspan: columns }, emptyText)));
  }
  tbody.replaceChildren(...rows);
}
`;

/** The API client, sign-in and sign-out, and the polling loop. */
export const CLIENT_SESSION = String.raw`
class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const session = {
  token: "",
  generation: 0,
  timer: 0,
  interval: pollInterval(location.search),
};

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage may be disabled; the token then lives in memory only
  }
}

async function api(path, signal) {
  const res = await fetch(path, {
    headers: { "authorization": "Bearer " + session.token, "accept": "application/json" },
    cache: "no-store",
    credentials: "omit",
    signal,
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const e = body && typeof body === "object" ? body.error : null;
    const code = e && typeof e.code === "string" ? e.code : "http_" + res.status;
    const message = e && typeof e.message === "string"
      ? e.message
      : "HTTP " + res.status + (res.statusText ? " " + res.statusText : "");
    throw new HttpError(res.status, code, message);
  }
  if (!body || typeof body !== "object") throw new HttpError(res.status, "bad_body", "response is not a JSON object");
  return body;
}

function describe(err) {
  if (err instanceof HttpError) return err.message + " (" + err.code + ", HTTP " + err.status + ")";
  if (err && err.name === "AbortError") return "request timed out";
  return "cannot reach the node: " + (err && err.message ? err.message : String(err));
}

function setStatus(kind, text) {
  const el = $("#status");
  el.className = kind === "error" ? "error" : "";
  el.textContent = text;
}

/** Fetches everything once and renders it: "ok", "unauthorized" or "error". */
async function refresh() {
  const gen = session.generation;
  const ctl = new AbortController();
  const timeout = setTimeout(() => ctl.abort(), Math.max(5000, session.interval * 5));
  try {
    const [cluster, logs] = await Promise.allSettled([
      api("/v1/cluster", ctl.signal),
      api("/v1/logs/tail?limit=50", ctl.signal),
    ]);
    for (const r of [cluster, logs]) {
      if (r.status === "rejected" && r.reason instanceof HttpError && r.reason.status === 401) {
        throw r.reason;
      }
    }
    if (cluster.status === "rejected") throw cluster.reason;
    const data = cluster.value;
    const jobs = Array.isArray(data.jobs) ? data.jobs : (await api("/v1/jobs", ctl.signal)).jobs;
    if (gen !== session.generation) return "stale";
    renderCluster(data, jobs, performance.now());
    renderLogs(logs.status === "fulfilled" ? logs.value : null, logs.status === "rejected" ? describe(logs.reason) : "");
    setStatus("ok", "Updated " + clock(Date.now()) + " · every " + session.interval / 1000 + " s");
    return "ok";
  } catch (err) {
    if (gen !== session.generation) return "stale";
    if (err instanceof HttpError && err.status === 401) {
      signOut("Token rejected: " + err.message);
      return "unauthorized";
    }
    setStatus("error", describe(err));
    return "error";
  } finally {
    clearTimeout(timeout);
  }
}

function schedule(gen) {
  clearTimeout(session.timer);
  session.timer = setTimeout(async () => {
    if (gen !== session.generation) return;
    const result = await refresh();
    if (gen === session.generation && result !== "unauthorized") schedule(gen);
  }, session.interval);
}

function showLogin(message) {
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#login-view").hidden = false;
  const err = $("#login-error");
  err.textContent = message || "";
  err.hidden = !message;
  $("#token").setAttribute("aria-invalid", message ? "true" : "false");
  $("#token").focus();
}

function signOut(message) {
  session.generation++;
  clearTimeout(session.timer);
  session.token = "";
  storeToken("");
  resetViews();
  setStatus("ok", "");
  $("#node").textContent = "";
  showLogin(message);
}

/** Tries a token: shows the dashboard when the API accepts it. */
async function signIn(token) {
  session.generation++;
  const gen = session.generation;
  session.token = token;
  storeToken(token);
  const button = $("#login-submit");
  button.disabled = true;
  setStatus("ok", "Connecting…");
  try {
    const result = await refresh();
    if (gen !== session.generation || result === "unauthorized") return;
    $("#login-view").hidden = true;
    $("#app").hidden = false;
    $("#logout").hidden = false;
    $("#token").value = "";
    schedule(gen);
  } finally {
    button.disabled = false;
  }
}

function start() {
  $("#login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("#token").value.trim();
    if (!token) {
      showLogin("Enter a token to sign in.");
      return;
    }
    signIn(token);
  });
  $("#logout").addEventListener("click", () => signOut("Signed out."));
  const saved = readToken();
  if (saved) signIn(saved);
  else showLogin("");
}
`;
