/**
 * The dashboard script, part 2: the views (members, Raft, ring and storage,
 * jobs with throughput charts, logs). Plain JavaScript kept as a string; it
 * runs inside the IIFE assembled by `client.ts` and uses the helpers of
 * `client_core.ts`.
 *
 * @module
 */

/** Throughput history and the SVG line chart. */
export const CLIENT_CHARTS = String.raw`
const HISTORY = 60;
const CHART_W = 240;
const CHART_H = 48;

/** Per job: the previous sample of the final stage's recordsOut and the rates seen. */
const throughput = new Map();
/** Per job: its chart element, reused across polls. */
const charts = new Map();

function finalStage(job) {
  const stages = Array.isArray(job.stages) ? job.stages : [];
  return stages.length > 0 && stages[stages.length - 1] && typeof stages[stages.length - 1] === "object"
    ? stages[stages.length - 1]
    : null;
}

/**
 * Records one poll of a job. The rate is the change of the final stage's
 * recordsOut since the previous poll, per second of client time; without a
 * usable previous sample (first poll, counter reset after a restart) the
 * stage's ratePerSec is used. Only running jobs add points to the history.
 */
function sampleJob(job, now) {
  const id = String(job.id);
  let t = throughput.get(id);
  if (!t) {
    t = { prevOut: NaN, prevAt: NaN, rates: [], current: NaN };
    throughput.set(id, t);
  }
  const stage = finalStage(job);
  const out = stage && isNum(stage.recordsOut) ? stage.recordsOut : NaN;
  let rate = NaN;
  if (isNum(out) && isNum(t.prevOut) && out >= t.prevOut && now > t.prevAt) {
    rate = ((out - t.prevOut) * 1000) / (now - t.prevAt);
  } else if (stage && isNum(stage.ratePerSec)) {
    rate = stage.ratePerSec;
  }
  t.prevOut = out;
  t.prevAt = now;
  t.current = job.state === "running" ? rate : NaN;
  if (job.state === "running" && isNum(rate)) {
    t.rates.push(Math.max(0, rate));
    if (t.rates.length > HISTORY) t.rates.shift();
  }
  return t;
}

function r1(n) {
  return Math.round(n * 10) / 10;
}

/** The line through the rates, newest at the right edge, scaled to the largest. */
function linePath(rates) {
  if (rates.length === 0) return "";
  const max = Math.max(1, ...rates);
  const step = CHART_W / (HISTORY - 1);
  const x0 = CHART_W - (rates.length - 1) * step;
  return rates
    .map((v, i) => (i === 0 ? "M" : "L") + r1(x0 + i * step) + " " + r1(CHART_H - 2 - (v / max) * (CHART_H - 6)))
    .join(" ");
}

function chartFor(id) {
  let c = charts.get(id);
  if (!c) {
    const line = svg("path", { class: "line", d: "" });
    const area = svg("path", { class: "area", d: "" });
    const title = svg("title", {});
    const el = svg(
      "svg",
      { class: "chart", viewBox: "0 0 " + CHART_W + " " + CHART_H, preserveAspectRatio: "none", role: "img" },
      title,
      svg("line", { class: "axis", x1: 0, y1: CHART_H - 0.5, x2: CHART_W, y2: CHART_H - 0.5 }),
      area,
      line,
    );
    el.dataset.job = id;
    c = { el, line, area, title };
    charts.set(id, c);
  }
  return c;
}

function updateChart(id, t) {
  const c = chartFor(id);
  const d = linePath(t.rates);
  c.line.setAttribute("d", d);
  const step = CHART_W / (HISTORY - 1);
  const x0 = r1(CHART_W - (t.rates.length - 1) * step);
  c.area.setAttribute("d", d ? d + " L" + CHART_W + " " + CHART_H + " L" + x0 + " " + CHART_H + " Z" : "");
  const peak = t.rates.length ? Math.max(...t.rates) : NaN;
  const label = "Job " + id + " throughput, last " + t.rates.length + " samples: now " +
    (isNum(t.current) ? compact(t.current) : "—") + " records/s, peak " + compact(peak) + " records/s";
  c.el.setAttribute("aria-label", label);
  c.title.textContent = label;
  return c.el;
}

function forgetJobs(ids) {
  for (const id of Array.from(throughput.keys())) {
    if (!ids.has(id)) {
      throughput.delete(id);
      charts.delete(id);
    }
  }
}
`;

/** The panels. */
export const CLIENT_PANELS = String.raw`
function renderMembers(members) {
  const items = Array.isArray(members) ? members.filter((m) => m && typeof m === "object") : [];
  const counts = {};
  for (const m of items) counts[String(m.state)] = (counts[String(m.state)] || 0) + 1;
  $("#members-summary").textContent = items.length + " members" +
    (items.length ? ": " + Object.entries(counts).map(([s, n]) => n + " " + s).join(", ") : "");
  syncRows($("#members tbody"), items, (m) => m.id, (tr, m) => {
    tr.replaceChildren(
      td(h("span", { class: "mono" }, str(m.id))),
      td(badge(m.state)),
      td(int(m.incarnation), "num"),
      td(list(m.roles).join(", ") || "—"),
      td(str(m.rpc), "mono"),
      td(str(m.api), "mono"),
      td(str(m.gossip), "mono"),
    );
  }, 7, "No members reported.");
}

function setField(name, content) {
  const dd = $("#raft [data-field=" + name + "]");
  dd.replaceChildren();
  append(dd, Array.isArray(content) ? content : [content]);
}

function chips(ids, leader) {
  const xs = list(ids);
  if (!xs.length) return ["none"];
  return xs.map((id) => h("span", { class: id === leader ? "chip leader" : "chip" }, id, id === leader ? " ★" : ""));
}

function renderRaft(raft) {
  const r = raft && typeof raft === "object" ? raft : null;
  $("#raft-note").textContent = r ? "" : "This node reports no Raft state.";
  const leader = r && typeof r.leader === "string" && r.leader ? r.leader : "";
  setField("role", r ? badge(r.role) : "—");
  setField("leader", leader ? h("span", { class: "mono" }, leader) : "none (election in progress)");
  setField("term", r ? int(r.term) : "—");
  setField("commit", r ? int(r.commit) : "—");
  setField("applied", r ? int(r.applied) : "—");
  setField("voters", r ? chips(r.voters, leader) : "—");
  setField("learners", r ? chips(r.learners, leader) : "—");
  const progress = r && r.progress && typeof r.progress === "object" ? Object.entries(r.progress) : [];
  const commit = r && isNum(r.commit) ? r.commit : NaN;
  syncRows($("#raft-progress tbody"), progress, ([id]) => id, (tr, [id, p]) => {
    const pr = p && typeof p === "object" ? p : {};
    const lag = isNum(commit) && isNum(pr.match) ? Math.max(0, commit - pr.match) : NaN;
    tr.replaceChildren(
      td(h("span", { class: "mono" }, id)),
      td(int(pr.match), "num"),
      td(int(pr.next), "num"),
      td(badge(pr.state)),
      td(int(lag), "num"),
    );
  }, 5, r && r.role === "leader" ? "No followers." : "Progress is reported by the leader only.");
}

function bar(fraction, label) {
  const pct = isNum(fraction) ? Math.max(0, Math.min(1, fraction)) * 100 : 0;
  return svg(
    "svg",
    { class: "bar", viewBox: "0 0 100 8", preserveAspectRatio: "none", role: "img", "aria-label": label },
    svg("rect", { class: "bg", x: 0, y: 0, width: 100, height: 8, rx: 2 }),
    svg("rect", { class: "fill", x: 0, y: 0, width: r1(pct), height: 8, rx: 2 }),
  );
}

function renderRing(ring) {
  const r = ring && typeof ring === "object" ? ring : {};
  const nodes = Array.isArray(r.nodes) ? r.nodes.filter((n) => n && typeof n === "object") : [];
  const total = nodes.reduce((s, n) => s + (isNum(n.bytes) ? n.bytes : 0), 0);
  const blocks = nodes.reduce((s, n) => s + (isNum(n.blocks) ? n.blocks : 0), 0);
  const max = nodes.reduce((m, n) => Math.max(m, isNum(n.bytes) ? n.bytes : 0), 0);
  $("#ring-summary").textContent = nodes.length + " nodes · replication " + str(r.replication) +
    " · " + int(blocks) + " blocks · " + bytes(total);
  syncRows($("#ring tbody"), nodes, (n) => n.id, (tr, n) => {
    const pos = typeof n.position === "string" ? n.position : "";
    const share = total > 0 && isNum(n.bytes) ? n.bytes / total : 0;
    tr.replaceChildren(
      td(h("span", { class: "mono" }, str(n.id))),
      td(h("span", { class: "mono", title: pos }, pos.length > 12 ? pos.slice(0, 12) + "…" : str(pos))),
      td(int(n.blocks), "num"),
      td(bytes(n.bytes), "num"),
      td(
        [bar(max > 0 && isNum(n.bytes) ? n.bytes / max : 0, Math.round(share * 100) + "% of stored bytes")],
        "share",
      ),
    );
  }, 5, "No storage nodes on the ring.");
}

function stagesCell(job) {
  const stages = Array.isArray(job.stages) ? job.stages.filter((s) => s && typeof s === "object") : [];
  if (!stages.length) return "—";
  const wrap = h("span", { class: "stages" });
  stages.forEach((s, i) => {
    if (i > 0) wrap.append(h("span", { class: "arrow", "aria-hidden": "true" }, "→"));
    wrap.append(h(
      "span",
      { class: "chip", title: "in " + int(s.recordsIn) + ", out " + int(s.recordsOut) },
      str(s.name) + " ×" + str(s.parallelism),
    ));
  });
  return wrap;
}

function checkpointCell(cp, now) {
  if (!cp || typeof cp !== "object") return "none yet";
  const when = age(cp.at, now);
  return h(
    "span",
    {},
    "#" + str(cp.id),
    h("span", { class: "sub" }, (when || str(cp.at)) + (isNum(cp.durationMs) ? " · took " + int(cp.durationMs) + " ms" : "")),
  );
}

function renderJobs(jobs, now) {
  const items = Array.isArray(jobs)
    ? jobs.filter((j) => j && typeof j === "object" && j.id !== undefined)
    : [];
  const running = items.filter((j) => j.state === "running").length;
  $("#jobs-summary").textContent = items.length + " jobs · " + running + " running";
  const wall = Date.now();
  forgetJobs(new Set(items.map((j) => String(j.id))));
  syncRows($("#jobs tbody"), items, (j) => j.id, (tr, j) => {
    const id = String(j.id);
    const t = sampleJob(j, now);
    const stage = finalStage(j);
    tr.replaceChildren(
      td([h("span", { class: "mono" }, id), h("span", { class: "sub" }, str(j.name))]),
      td(badge(j.state)),
      td(stagesCell(j)),
      td(int(stage ? stage.recordsOut : NaN), "num"),
      td(isNum(t.current) ? compact(t.current) + "/s" : "—", "num"),
      td(updateChart(id, t)),
      td(checkpointCell(j.lastCheckpoint, wall)),
      td(int(j.restarts), "num"),
    );
  }, 8, "No jobs.");
}

function renderCluster(data, jobs, now) {
  $("#node").textContent = "node " + str(data.node) + " · v" + str(data.version);
  renderMembers(data.members);
  renderRaft(data.raft);
  renderRing(data.ring);
  renderJobs(jobs, now);
}

function renderLogs(body, error) {
  const lines = body && Array.isArray(body.lines) ? body.lines.filter((l) => l && typeof l === "object") : [];
  $("#logs-summary").textContent = error ? "Logs unavailable: " + error : lines.length + " latest lines";
  const wrap = $("#logs .logs-wrap");
  const pinned = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 4;
  const tbody = $("#logs tbody");
  const rows = lines.map((l) =>
    h(
      "tr",
      {},
      td(clock(l.ts), "time mono"),
      td(levelBadge(l.level)),
      td(str(l.node), "mono"),
      td(str(l.subsystem)),
      td(str(l.msg), "msg"),
    )
  );
  if (!rows.length) rows.push(h("tr", { class: "empty" }, h("td", { class: "empty", colspan: 5 }, error ? "—" : "No log lines.")));
  tbody.replaceChildren(...rows);
  if (pinned) wrap.scrollTop = wrap.scrollHeight;
}

function resetViews() {
  throughput.clear();
  charts.clear();
  for (const tbody of document.querySelectorAll("#app tbody")) tbody.replaceChildren();
}
`;
