/**
 * The dashboard's stylesheet: system fonts, light and dark schemes following
 * the user's preference, state colors that always come with a text label.
 *
 * @module
 */

/** The stylesheet served at `/ui/app.css`. */
export const DASHBOARD_CSS = String.raw`:root {
  color-scheme: light dark;
  --bg: #f6f7f9;
  --panel: #ffffff;
  --fg: #1d2330;
  --muted: #5c6577;
  --line: #d9dee7;
  --accent: #1f6feb;
  --accent-fg: #ffffff;
  --ok: #1a7f37;
  --warn: #9a6700;
  --bad: #cf222e;
  --off: #6e7781;
  --ok-bg: #dafbe1;
  --warn-bg: #fff8c5;
  --bad-bg: #ffebe9;
  --off-bg: #eaeef2;
  --chart: #1f6feb;
  --chart-fill: rgba(31, 111, 235, 0.14);
  --bar-bg: #e6e9ef;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1318;
    --panel: #171c23;
    --fg: #e2e6ec;
    --muted: #98a1ae;
    --line: #2c333d;
    --accent: #4c8df6;
    --accent-fg: #0b0e12;
    --ok: #4ac26b;
    --warn: #d4a72c;
    --bad: #ff7b72;
    --off: #8b949e;
    --ok-bg: rgba(46, 160, 67, 0.18);
    --warn-bg: rgba(187, 128, 9, 0.2);
    --bad-bg: rgba(248, 81, 73, 0.18);
    --off-bg: rgba(110, 118, 129, 0.2);
    --chart: #58a6ff;
    --chart-fill: rgba(88, 166, 255, 0.16);
    --bar-bg: #262d36;
  }
}
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--fg); }
code, .mono, td.num, td.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code { font-size: 0.92em; }
.muted { color: var(--muted); }
.sr-only {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.topbar {
  display: flex; align-items: center; gap: 1rem; flex-wrap: wrap;
  padding: 0.6rem 1.25rem; background: var(--panel); border-bottom: 1px solid var(--line);
  position: sticky; top: 0; z-index: 1;
}
.topbar h1 { font-size: 1.15rem; margin: 0; display: flex; align-items: center; gap: 0.5rem; }
#status { margin: 0 0 0 auto; font-size: 0.9rem; color: var(--muted); }
#status.error { color: var(--bad); }
main { padding: 1.25rem; max-width: 1500px; margin: 0 auto; }
button {
  font: inherit; padding: 0.45rem 1rem; border-radius: 6px; border: 1px solid var(--accent);
  background: var(--accent); color: var(--accent-fg); cursor: pointer;
}
button.secondary { background: transparent; color: var(--fg); border-color: var(--line); }
button:disabled { opacity: 0.6; cursor: progress; }
button:focus-visible, input:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.login { display: flex; justify-content: center; padding-top: 8vh; }
.login form {
  width: min(28rem, 100%); background: var(--panel); border: 1px solid var(--line);
  border-radius: 10px; padding: 1.5rem; display: grid; gap: 0.75rem;
}
.login h2 { margin: 0; }
.login p { margin: 0; }
.login label { font-weight: 600; }
.login input {
  font: inherit; padding: 0.5rem 0.6rem; border-radius: 6px; border: 1px solid var(--line);
  background: var(--bg); color: var(--fg); width: 100%;
}
.error { color: var(--bad); background: var(--bad-bg); padding: 0.5rem 0.7rem; border-radius: 6px; }
.grid { display: grid; gap: 1.25rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 34rem), 1fr)); }
.panel {
  background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 1rem 1.1rem; min-width: 0;
}
.panel.wide { grid-column: 1 / -1; }
.panel-head { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; margin-bottom: 0.6rem; }
.panel-head h2 { font-size: 1.05rem; margin: 0; }
.panel-head p { margin: 0; font-size: 0.9rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { text-align: left; padding: 0.38rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: 0.82rem; text-transform: uppercase; letter-spacing: 0.03em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:last-child td { border-bottom: 0; }
td.empty { color: var(--muted); text-align: center; padding: 1rem; }
.badge {
  display: inline-block; padding: 0.08rem 0.55rem; border-radius: 999px; font-size: 0.82rem;
  font-weight: 600; border: 1px solid currentColor;
}
.state-alive, .state-running, .state-finished, .state-leader, .state-replicate, .level-info { color: var(--ok); background: var(--ok-bg); }
.state-suspect, .state-pending, .state-candidate, .state-probe, .level-warn, .level-warning { color: var(--warn); background: var(--warn-bg); }
.state-dead, .state-failed, .state-snapshot, .level-error, .level-fatal { color: var(--bad); background: var(--bad-bg); }
.state-left, .state-cancelled, .state-follower, .state-learner, .state-unknown, .level-debug, .level-trace { color: var(--off); background: var(--off-bg); }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(8.5rem, 1fr)); gap: 0.5rem 1rem; margin: 0 0 0.8rem; }
.facts div { min-width: 0; }
.facts dt { font-size: 0.78rem; color: var(--muted); text-transform: uppercase; letter-spacing: 0.03em; }
.facts dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
.chip { display: inline-block; margin: 0 0.3rem 0.2rem 0; padding: 0 0.4rem; border-radius: 4px; background: var(--off-bg); font-weight: 500; }
.chip.leader { background: var(--ok-bg); color: var(--ok); }
svg.bar { width: 100%; min-width: 6rem; height: 0.7rem; display: block; }
svg.bar .bg { fill: var(--bar-bg); }
svg.bar .fill { fill: var(--accent); }
svg.chart { width: 15rem; height: 3rem; display: block; }
svg.chart .axis { stroke: var(--line); stroke-width: 1; }
svg.chart .line { fill: none; stroke: var(--chart); stroke-width: 1.6; stroke-linejoin: round; vector-effect: non-scaling-stroke; }
svg.chart .area { fill: var(--chart-fill); stroke: none; }
.stages { display: flex; flex-wrap: wrap; gap: 0.2rem 0.3rem; align-items: center; }
.stages .arrow { color: var(--muted); }
.sub { display: block; font-size: 0.8rem; color: var(--muted); }
.logs-wrap { max-height: 24rem; overflow: auto; }
table.logs td { font-size: 0.85rem; }
table.logs td.msg { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
table.logs td.time { white-space: nowrap; }
@media (prefers-reduced-motion: no-preference) {
  svg.bar .fill { transition: width 0.3s ease; }
}
`;
