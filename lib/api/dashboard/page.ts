/**
 * The dashboard's HTML page and icon. The page has no inline script or style
 * (the Content-Security-Policy forbids them); it loads `/ui/app.css` and
 * `/ui/app.js` with a version query so browsers may cache them for good.
 *
 * Stable hooks for tests and scripts: `#login`, `#token`, `#login-error`,
 * `#app`, `#status`, `#members tbody tr[data-id]`, `#raft [data-field]`,
 * `#raft-progress tbody tr[data-id]`, `#ring tbody tr[data-id]`,
 * `#jobs tbody tr[data-id]`, `svg.chart[data-job]`, `#logs tbody tr`.
 *
 * @module
 */

/** The dashboard icon (SVG): three linked nodes. */
export const DASHBOARD_ICON =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" role="img" aria-label="ElastiCore">
<rect width="32" height="32" rx="7" fill="#1f6feb"/>
<path d="M9 22 16 9l7 13z" fill="none" stroke="#fff" stroke-width="2.5" stroke-linejoin="round"/>
<circle cx="16" cy="9" r="3.5" fill="#fff"/><circle cx="9" cy="22" r="3.5" fill="#fff"/>
<circle cx="23" cy="22" r="3.5" fill="#fff"/>
</svg>
`;

function table(id: string, caption: string, columns: string[], cls = "", wrap = "scroll"): string {
  const head = columns.map((c) => `<th scope="col">${c}</th>`).join("");
  return `<div class="${wrap}"><table id="${id}"${cls ? ` class="${cls}"` : ""}>
<caption class="sr-only">${caption}</caption>
<thead><tr>${head}</tr></thead>
<tbody></tbody>
</table></div>`;
}

function field(name: string, label: string): string {
  return `<div><dt>${label}</dt><dd data-field="${name}">—</dd></div>`;
}

const LOGIN = `<section id="login-view" class="login" aria-labelledby="login-title">
<form id="login" autocomplete="off" novalidate>
<h2 id="login-title">Sign in</h2>
<p class="muted">Enter an API token, e.g. <code>ELASTICORE_TOKEN</code> from <code>client.env</code>
or one made with <code>elasticore token create</code>. It is kept for this browser tab only.</p>
<label for="token">API token</label>
<input id="token" name="token" type="password" spellcheck="false" autocapitalize="off"
 autocomplete="off" aria-describedby="login-error" required>
<p id="login-error" class="error" role="alert" hidden></p>
<button id="login-submit" type="submit">Sign in</button>
</form>
</section>`;

const MEMBERS = `<section id="members-panel" class="panel wide" aria-labelledby="members-title">
<div class="panel-head"><h2 id="members-title">Members</h2><p id="members-summary" class="muted"></p></div>
${
  table("members", "Cluster members and their SWIM state", [
    "Node",
    "State",
    "Incarnation",
    "Roles",
    "RPC",
    "API",
    "Gossip",
  ])
}
</section>`;

const RAFT = `<section id="raft" class="panel" aria-labelledby="raft-title">
<div class="panel-head"><h2 id="raft-title">Raft</h2><p id="raft-note" class="muted"></p></div>
<dl class="facts">
${field("role", "This node")}${field("leader", "Leader")}${field("term", "Term")}
${field("commit", "Commit")}${field("applied", "Applied")}
${field("voters", "Voters")}${field("learners", "Learners")}
</dl>
${
  table("raft-progress", "Replication progress per follower", [
    "Follower",
    "Match",
    "Next",
    "State",
    "Lag",
  ])
}
</section>`;

const RING = `<section id="ring" class="panel" aria-labelledby="ring-title">
<div class="panel-head"><h2 id="ring-title">Ring and storage</h2><p id="ring-summary" class="muted"></p></div>
${
  table("ring-nodes", "Storage use per ring node", ["Node", "Position", "Blocks", "Bytes", "Share"])
}
</section>`;

const JOBS = `<section id="jobs" class="panel wide" aria-labelledby="jobs-title">
<div class="panel-head"><h2 id="jobs-title">Jobs</h2><p id="jobs-summary" class="muted"></p></div>
${
  table("jobs-table", "Stream jobs", [
    "Job",
    "State",
    "Stages",
    "Records out",
    "Throughput",
    "Last 60 samples",
    "Last checkpoint",
    "Restarts",
  ])
}
</section>`;

const LOGS = `<section id="logs" class="panel wide" aria-labelledby="logs-title">
<div class="panel-head"><h2 id="logs-title">Recent logs</h2><p id="logs-summary" class="muted"></p></div>
${
  table(
    "logs-table",
    "The latest log lines of the cluster",
    [
      "Time",
      "Level",
      "Node",
      "Subsystem",
      "Message",
    ],
    "logs",
    "scroll logs-wrap",
  )
}
</section>`;

/** The page, referencing assets at version `version` (the `?v=` query). */
export function dashboardHtml(version: string): string {
  const v = encodeURIComponent(version);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>ElastiCore dashboard</title>
<link rel="icon" type="image/svg+xml" href="/ui/favicon.svg?v=${v}">
<link rel="stylesheet" href="/ui/app.css?v=${v}">
<script src="/ui/app.js?v=${v}" defer></script>
</head>
<body>
<header class="topbar">
<h1><img src="/ui/favicon.svg?v=${v}" alt="" width="24" height="24"> ElastiCore</h1>
<span id="node" class="muted"></span>
<p id="status" role="status" aria-live="polite"></p>
<button id="logout" type="button" class="secondary" hidden>Sign out</button>
</header>
<main>
<noscript><p class="error">The dashboard needs JavaScript.</p></noscript>
${LOGIN}
<div id="app" class="grid" hidden>
${MEMBERS}
${RAFT}
${RING}
${JOBS}
${LOGS}
</div>
</main>
</body>
</html>
`;
}
