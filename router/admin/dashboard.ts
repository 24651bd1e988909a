/**
 * The dashboard: one self-contained HTML page (inline CSS, inline script,
 * inline SVG charts; no external asset, no build step). It polls
 * `/api/stats` every second and draws each service with its tunnels, request
 * rate and latency percentiles over the last minute, and the latest errors.
 * With an admin token, the page asks for it once (or reads `#token=…`) and
 * keeps it in the tab's session storage.
 *
 * @module
 */

/**
 * The dashboard page.
 *
 * @example
 * ```ts
 * import { DASHBOARD_HTML } from "./dashboard.ts";
 * import { ok } from "node:assert/strict";
 * ok(DASHBOARD_HTML.startsWith("<!doctype html>"));
 * ok(!/(src|href)="(?!data:)/.test(DASHBOARD_HTML), "no external assets");
 * ```
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>ptth router</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='4' fill='%232f6fed'/%3E%3C/svg%3E">
<style>
:root {
  --bg: #f5f6f8; --card: #fff; --text: #1d2330; --muted: #667085; --line: #e3e6eb;
  --accent: #2f6fed; --ok: #178a4c; --warn: #b86e00; --bad: #d0312d;
  --p50: #2f6fed; --p95: #c27c0e; --p99: #d0312d;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1217; --card: #181c24; --text: #e6e9ef; --muted: #98a2b3; --line: #2a303b;
    --accent: #6b9bff; --ok: #3ccf7f; --warn: #f0b34a; --bad: #ff6b66;
    --p50: #6b9bff; --p95: #f0b34a; --p99: #ff6b66;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
header {
  display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px;
  padding: 12px 20px; background: var(--card); border-bottom: 1px solid var(--line);
  position: sticky; top: 0; z-index: 1;
}
header h1 { font-size: 18px; margin: 0; letter-spacing: .02em; }
header .version { color: var(--muted); font-size: 12px; }
header .spacer { flex: 1; }
main { padding: 16px 20px 32px; max-width: 1400px; margin: 0 auto; }
.pill {
  display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 999px;
  font-size: 12px; font-weight: 600; border: 1px solid currentColor; white-space: nowrap;
}
.pill::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
.muted { color: var(--muted); }
.summary {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px;
  margin-bottom: 16px;
}
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; }
.stat .label { color: var(--muted); font-size: 12px; }
.stat .value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.services {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 440px), 1fr)); gap: 16px;
}
.service {
  background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 14px 16px;
  min-width: 0;
}
.service h2 {
  display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 10px; margin: 0 0 10px;
  font-size: 16px;
}
.service h2 .meta { font-size: 12px; font-weight: 400; color: var(--muted); }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
@media (max-width: 520px) { .charts { grid-template-columns: 1fr; } }
.chart .title { display: flex; justify-content: space-between; gap: 8px; font-size: 12px; color: var(--muted); }
.chart .title b { color: var(--text); font-weight: 600; font-variant-numeric: tabular-nums; }
.chart svg {
  display: block; width: 100%; height: 64px; margin-top: 4px;
  background: linear-gradient(var(--line), var(--line)) bottom / 100% 1px no-repeat;
}
.legend { display: flex; gap: 10px; font-size: 11px; color: var(--muted); margin-top: 2px; flex-wrap: wrap; }
.legend i { display: inline-block; width: 10px; height: 3px; border-radius: 2px; vertical-align: middle; margin-right: 4px; }
.tunnels { margin-top: 12px; border-top: 1px solid var(--line); }
.tunnel {
  display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 6px 12px;
  align-items: center; padding: 9px 0; border-bottom: 1px solid var(--line);
  font-variant-numeric: tabular-nums;
}
.tunnel:last-child { border-bottom: 0; }
.tunnel .who { grid-column: 1 / 4; min-width: 0; }
.tunnel .state { grid-column: 4; justify-self: end; }
.tunnel .id { font-weight: 650; margin-right: 8px; }
.tunnel .addr { color: var(--muted); font-size: 12px; }
.tunnel .sub { display: block; color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.tunnel .k { display: block; color: var(--muted); font-size: 11px; }
.tunnels .empty { padding: 10px 0; color: var(--muted); }
@media (max-width: 640px) {
  header { padding: 10px 14px; }
  main { padding: 12px 12px 24px; }
  .tunnel { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .tunnel .who { grid-column: 1; }
  .tunnel .state { grid-column: 2; }
}
section.errors { margin-top: 20px; }
section.errors h2 { font-size: 16px; margin: 0 0 8px; }
.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
tr:last-child td { border-bottom: 0; }
td.msg { white-space: normal; min-width: 200px; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
form.token { display: none; gap: 8px; flex-wrap: wrap; align-items: center; margin-bottom: 16px; }
form.token.show { display: flex; }
form.token input {
  flex: 1; min-width: 200px; padding: 8px 10px; border-radius: 8px; border: 1px solid var(--line);
  background: var(--card); color: var(--text); font: inherit;
}
form.token button {
  padding: 8px 14px; border-radius: 8px; border: 0; background: var(--accent); color: #fff; font: inherit;
}
</style>
</head>
<body>
<header>
  <h1>ptth</h1><span class="version" id="version"></span>
  <span class="spacer"></span>
  <span id="ready" class="pill muted">connecting</span>
  <span id="live" class="muted" aria-live="polite"></span>
</header>
<main>
  <form class="token" id="token-form">
    <span>This router's admin API needs its token:</span>
    <input id="token-input" type="password" autocomplete="off" placeholder="admin token">
    <button type="submit">Open</button>
  </form>
  <div class="summary" id="summary"></div>
  <div class="services" id="services"></div>
  <section class="errors">
    <h2>Recent errors</h2>
    <div class="table-wrap" id="errors"></div>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}
function ms(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1) return value.toFixed(2) + " ms";
  if (value < 1000) return value.toFixed(value < 10 ? 1 : 0) + " ms";
  return (value / 1000).toFixed(2) + " s";
}
function rate(value) { return value < 10 ? value.toFixed(1) : Math.round(value).toString(); }
function since(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}
function recent(series, n) {
  const tail = series.slice(-n);
  return tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length);
}

/** Bars for requests per second, errors in red over them. */
function barChart(rateSeries, errorSeries) {
  const w = rateSeries.length, h = 60, max = Math.max(1, ...rateSeries);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "requests per second, last " + w + " seconds");
  const bar = (i, value, color) => {
    if (value <= 0) return;
    const r = document.createElementNS(SVG, "rect");
    const bh = Math.max(1, (value / max) * (h - 2));
    r.setAttribute("x", i + 0.12); r.setAttribute("width", 0.76);
    r.setAttribute("y", h - bh); r.setAttribute("height", bh);
    r.setAttribute("fill", color);
    svg.append(r);
  };
  rateSeries.forEach((v, i) => bar(i, v, "var(--accent)"));
  errorSeries.forEach((v, i) => bar(i, v, "var(--bad)"));
  return svg;
}

/** Lines for latency percentiles; seconds without requests leave gaps. */
function lineChart(lines) {
  const w = lines[0].values.length - 1, h = 60;
  const max = Math.max(1, ...lines.flatMap((l) => l.values.filter((v) => v !== null)));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "latency percentiles, last " + (w + 1) + " seconds");
  for (const line of lines) {
    let d = "", pen = false;
    line.values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      const y = h - 2 - (v / max) * (h - 4);
      d += (pen ? "L" : "M") + i + " " + y.toFixed(2);
      pen = true;
      if (i === line.values.length - 1 || line.values[i + 1] === null) d += "h0.6";
    });
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", line.color);
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linejoin", "round");
    path.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(path);
  }
  return svg;
}

function tunnelRow(t) {
  const state = t.draining ? el("span", { class: "pill warn" }, "draining") : el("span", { class: "pill ok" }, "active");
  const meta = Object.entries(t.metadata).map(([k, v]) => k + "=" + v).join(" ");
  const cap = t.capacity === null ? "" : " / " + t.capacity;
  return el("div", { class: "tunnel", "data-tunnel": t.id, "data-state": t.draining ? "draining" : "active" },
    el("div", { class: "who" }, el("span", { class: "id" }, t.id),
      el("span", { class: "addr" }, t.remoteAddr + " · up " + since(t.connectedSince)),
      t.hosts.length || meta ? el("span", { class: "sub" }, [...t.hosts, meta].filter(Boolean).join(" · ")) : null),
    el("div", { class: "state" }, state),
    el("div", {}, el("span", { class: "k" }, "in flight"), t.streamsInFlight + cap),
    el("div", {}, el("span", { class: "k" }, "requests"), t.requests + (t.errors ? " (" + t.errors + " err)" : "")),
    el("div", {}, el("span", { class: "k" }, "bytes in/out"), bytes(t.bytesIn) + " / " + bytes(t.bytesOut)),
    el("div", {}, el("span", { class: "k" }, "PING RTT"), ms(t.lastRttMs)));
}

// Requests that matched no route (service "") have no tunnels: a card of their own, not a service.
function serviceCard(s) {
  const now = recent(s.rate, 5);
  const errorShare = s.window.requests ? (100 * s.window.errors / s.window.requests) : 0;
  const healthy = s.tunnels.some((t) => !t.draining);
  const unrouted = s.service === "";
  const attributes = unrouted ? { class: "service unrouted", "data-unrouted": "" } : { class: "service", "data-service": s.service };
  return el("article", attributes,
    el("h2", {}, unrouted ? "Requests that matched no route" : s.service,
      unrouted ? null : el("span", { class: "pill " + (healthy ? "ok" : "bad") }, s.tunnels.length + (s.tunnels.length === 1 ? " tunnel" : " tunnels")),
      el("span", { class: "meta" }, s.total.requests + " requests · " + s.total.errors + " errors · " +
        bytes(s.total.bytesIn) + " in · " + bytes(s.total.bytesOut) + " out")),
    el("div", { class: "charts" },
      el("div", { class: "chart" },
        el("div", { class: "title" }, el("span", {}, "requests/s"), el("b", {}, rate(now) + " /s")),
        barChart(s.rate, s.errors),
        el("div", { class: "legend" },
          el("span", {}, el("i", { style: "background:var(--accent)" }), "requests"),
          el("span", { class: errorShare > 0 ? "bad" : "" }, el("i", { style: "background:var(--bad)" }),
            "5xx " + errorShare.toFixed(errorShare && errorShare < 10 ? 1 : 0) + "%"))),
      el("div", { class: "chart" },
        el("div", { class: "title" }, el("span", {}, "latency, last minute"), el("b", {}, "p95 " + ms(s.window.p95))),
        lineChart([
          { values: s.p50, color: "var(--p50)" },
          { values: s.p95, color: "var(--p95)" },
          { values: s.p99, color: "var(--p99)" },
        ]),
        el("div", { class: "legend" },
          el("span", {}, el("i", { style: "background:var(--p50)" }), "p50 " + ms(s.window.p50)),
          el("span", {}, el("i", { style: "background:var(--p95)" }), "p95 " + ms(s.window.p95)),
          el("span", {}, el("i", { style: "background:var(--p99)" }), "p99 " + ms(s.window.p99))))),
    unrouted ? null : el("div", { class: "tunnels" },
      s.tunnels.length ? s.tunnels.map(tunnelRow) : el("div", { class: "empty" }, "No tunnel connected")));
}

function render(data) {
  $("version").textContent = data.version ? "v" + data.version : "";
  const ready = $("ready");
  ready.className = "pill " + (data.ready ? "ok" : "warn");
  ready.textContent = data.ready ? "ready" : "not ready";
  const tunnels = data.services.reduce((n, s) => n + s.tunnels.length, 0);
  const reqs = data.services.reduce((n, s) => n + recent(s.rate, 5), 0);
  const windowRequests = data.services.reduce((n, s) => n + s.window.requests, 0);
  const windowErrors = data.services.reduce((n, s) => n + s.window.errors, 0);
  const inFlight = data.services.reduce((n, s) => n + s.tunnels.reduce((m, t) => m + t.streamsInFlight, 0), 0);
  const stat = (label, value, cls) => el("div", { class: "stat" }, el("div", { class: "label" }, label),
    el("div", { class: "value " + (cls || "") }, value));
  const services = data.services.filter((s) => s.service !== "");
  $("summary").replaceChildren(
    stat("services", services.length),
    stat("tunnels", tunnels),
    stat("requests/s", rate(reqs)),
    stat("in flight", inFlight),
    stat("errors, last minute", windowErrors, windowErrors ? "bad" : ""),
    stat("requests, last minute", windowRequests));
  const unrouted = data.services.filter((s) => s.service === "");
  $("services").replaceChildren(...services.map(serviceCard), ...unrouted.map(serviceCard));
  const errors = data.recentErrors.slice(0, 10);
  $("errors").replaceChildren(errors.length === 0
    ? el("div", { class: "muted", style: "padding:10px 12px" }, "None")
    : el("table", {},
      el("thead", {}, el("tr", {}, ["time", "status", "request", "service", "tunnel", "request id", "error"].map((h) => el("th", {}, h)))),
      el("tbody", {}, errors.map((e) => el("tr", {},
        el("td", {}, new Date(e.time).toLocaleTimeString()),
        el("td", { class: "bad" }, e.status),
        el("td", {}, el("code", {}, e.method + " " + e.host + e.path)),
        el("td", {}, e.service || "–"),
        el("td", {}, e.tunnelId || "–"),
        el("td", {}, el("code", {}, e.requestId)),
        el("td", { class: "msg" }, e.error || ""))))));
}

const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get("token")) {
  sessionStorage.setItem("ptth-admin-token", hash.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("ptth-admin-token", $("token-input").value.trim());
  $("token-form").classList.remove("show");
  poll();
});

let timer = 0, lastOk = 0;
async function poll() {
  clearTimeout(timer);
  const token = sessionStorage.getItem("ptth-admin-token");
  try {
    const response = await fetch("api/stats", {
      headers: token ? { authorization: "Bearer " + token } : {},
      cache: "no-store",
      signal: AbortSignal.timeout(5000),
    });
    if (response.status === 401) {
      $("token-form").classList.add("show");
      $("live").textContent = "token needed";
      return;
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
    lastOk = Date.now();
    document.body.dataset.updated = String(lastOk);
    $("live").textContent = "live";
    $("live").className = "ok";
  } catch (error) {
    $("live").textContent = lastOk ? "offline since " + new Date(lastOk).toLocaleTimeString() : "offline";
    $("live").className = "bad";
  }
  timer = setTimeout(poll, document.hidden ? 5000 : 1000);
}
document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
poll();
</script>
</body>
</html>
`;
