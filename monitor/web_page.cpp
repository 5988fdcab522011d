// The page of the web board (monitor/web.hpp): self-contained, nothing loaded
// from anywhere but /api/health. The script draws everything from that JSON
// (polled every second), so what the browser shows is what the API says:
// layers top to bottom, one box per node coloured by its state (its class and
// data-state), an arrow from a node to each node it uses, the root-cause line
// worded as the terminal board's, "← X" on the nodes affected by X, and the
// timeline, newest first.
#include "monitor/web.hpp"

namespace dine::monitor {
namespace {

constexpr std::string_view kPage = R"page(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dine health — {{TOPOLOGY}}</title>
<style>
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; padding: 16px 24px;
         background: #f5f6f8; color: #1c1f23; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  #summary { color: #555; }
  #root-cause { margin: 10px 0 6px; padding: 8px 12px; border-radius: 6px; font-weight: 600;
                background: #e8f5e9; color: #1b5e20; }
  #root-cause.sick { background: #ffebee; color: #b71c1c; border-left: 6px solid #b71c1c; }
  #root-cause.unsure { background: #fff8e1; color: #8d6e00; }
  #status { font-size: 12px; color: #777; }
  body.lost #status { color: #b71c1c; font-weight: 600; }
  body.lost #graph, body.lost #timeline, body.lost #interfaces { opacity: .45; }
  #graph { position: relative; margin: 8px 0 16px; }
  #links { position: absolute; left: 0; top: 0; pointer-events: none; z-index: 0; overflow: visible; }
  #links line, #links path { stroke: #90a4ae; stroke-width: 1.5; fill: none; }
  #links .to-sick { stroke: #d32f2f; stroke-width: 2.5; }
  .layer { display: flex; align-items: center; margin: 44px 0; }
  .layer:first-child { margin-top: 12px; }
  .layer-name { flex: 0 0 96px; font-size: 12px; font-weight: 700; letter-spacing: .06em; color: #78909c; }
  .nodes { display: flex; flex-wrap: wrap; gap: 18px 28px; }
  .node { position: relative; z-index: 1; min-width: 128px; max-width: 240px; padding: 6px 10px;
          border-radius: 6px; border: 2px solid rgba(0,0,0,.25); box-shadow: 0 1px 3px rgba(0,0,0,.2); }
  .node .id { font-weight: 700; }
  .node .state { font-size: 12px; font-weight: 700; letter-spacing: .05em; }
  .node .figure, .node .affected, .node .reason { font-size: 12px; }
  .node .reason { opacity: .9; overflow-wrap: anywhere; }
  .node.root-cause { outline: 3px solid #ffeb3b; outline-offset: 2px; }
  .state-green   { background: #2e7d32; color: #fff; }
  .state-yellow  { background: #fbc02d; color: #222; }
  .state-red     { background: #d32f2f; color: #fff; }
  .state-hung    { background: #b71c1c; color: #fff; border: 3px dashed #ffeb3b; }
  .state-down    { background: #212121; color: #fff; border: 3px solid #d32f2f; }
  .state-stale   { background: #9e9e9e; color: #fff; }
  .state-unknown { background: #e0e0e0; color: #555; border-style: dashed; }
  table { border-collapse: collapse; font-size: 13px; }
  th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top; }
  th { color: #78909c; font-weight: 600; }
  .pill { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 11px; font-weight: 700; }
  h2 { font-size: 15px; margin: 8px 0; }
  h2 .hint { font-size: 12px; font-weight: 400; color: #78909c; }
  #interfaces { margin-bottom: 12px; }
  #interfaces td.bad { color: #b71c1c; font-weight: 700; }
</style>
</head>
<body>
<h1>dine health — topology '{{TOPOLOGY}}'</h1>
<div id="summary">waiting for the first answer of /api/health…</div>
<div id="root-cause" class="unsure">root cause: not known yet</div>
<div id="status"></div>
<div id="graph"><svg id="links" xmlns="http://www.w3.org/2000/svg"></svg><div id="layers"></div></div>
<h2>interfaces <span class="hint">(the gateways' access logs, last seconds, busiest first)</span></h2>
<table id="interfaces">
<thead><tr><th>route</th><th>req/s</th><th>KB/s out</th><th>5xx/s</th><th>429/s</th><th>p99 ms</th></tr></thead><tbody></tbody>
</table>
<h2>timeline</h2>
<table id="timeline">
<thead><tr><th>at</th><th>node</th><th>change</th><th>reason</th></tr></thead><tbody></tbody>
</table>
<script>
"use strict";
const LAYERS = ["gateway", "app", "services", "queues", "data"];
const SICK = new Set(["red", "down", "hung"]);
const SVG = "http://www.w3.org/2000/svg";
let snap = null;
let lostSince = null;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function nodeBox(n) {
  const box = el("div", "node state-" + n.state + (n.root_cause ? " root-cause" : ""));
  box.setAttribute("data-id", n.id);
  box.setAttribute("data-state", n.state);
  box.setAttribute("data-layer", n.layer);
  box.title = [n.kind + (n.role ? " (" + n.role + ")" : "")].concat(n.reasons).join("\n");
  box.appendChild(el("div", "id", n.id + (n.root_cause ? " \u2605" : "")));
  box.appendChild(el("div", "state", n.state.toUpperCase()));
  const fig = n.key_figure;  // the terminal board's figure, from the JSON
  if (fig) box.appendChild(el("div", "figure", fig));
  if (n.affected_by) {
    const a = el("div", "affected", "\u2190 affected by " + n.affected_by);
    a.setAttribute("data-affected-by", n.affected_by);
    box.appendChild(a);
  }
  if (n.reasons.length && n.state !== "green") box.appendChild(el("div", "reason", n.reasons[0]));
  return box;
}

function renderLayers(s) {
  const layers = document.getElementById("layers");
  layers.replaceChildren();
  for (const l of LAYERS) {
    const here = s.nodes.filter(n => n.layer === l);
    if (here.length === 0) continue;
    const row = el("div", "layer");
    row.setAttribute("data-layer", l);
    row.appendChild(el("div", "layer-name", l.toUpperCase()));
    const nodes = el("div", "nodes");
    for (const n of here) nodes.appendChild(nodeBox(n));
    row.appendChild(nodes);
    layers.appendChild(row);
  }
}

// An arrow from each node to each node it uses: straight down to a lower
// layer, a curve below the boxes within a layer (or up).
function drawLinks(s) {
  const graph = document.getElementById("graph");
  const svg = document.getElementById("links");
  svg.replaceChildren();
  const defs = document.createElementNS(SVG, "defs");
  for (const [name, colour] of [["arrow", "#90a4ae"], ["arrow-sick", "#d32f2f"]]) {
    const m = document.createElementNS(SVG, "marker");
    m.setAttribute("id", name);
    m.setAttribute("viewBox", "0 0 10 10");
    m.setAttribute("refX", "10"); m.setAttribute("refY", "5");
    m.setAttribute("markerWidth", "7"); m.setAttribute("markerHeight", "7");
    m.setAttribute("orient", "auto-start-reverse");
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("d", "M0,0 L10,5 L0,10 z");
    p.setAttribute("style", "fill:" + colour + ";stroke:none");
    m.appendChild(p);
    defs.appendChild(m);
  }
  svg.appendChild(defs);
  const origin = graph.getBoundingClientRect();
  svg.setAttribute("width", graph.scrollWidth);
  svg.setAttribute("height", graph.scrollHeight);
  const boxes = new Map();
  for (const b of graph.querySelectorAll(".node")) {
    const r = b.getBoundingClientRect();
    boxes.set(b.getAttribute("data-id"), {left: r.left - origin.left, right: r.right - origin.left,
                                          top: r.top - origin.top, bottom: r.bottom - origin.top});
  }
  const state = new Map(s.nodes.map(n => [n.id, n.state]));
  for (const n of s.nodes) {
    const a = boxes.get(n.id);
    for (const d of n.uses || []) {
      const b = boxes.get(d);
      if (!a || !b) continue;
      const ax = (a.left + a.right) / 2, bx = (b.left + b.right) / 2;
      let link;
      if (b.top >= a.bottom - 1) {
        link = document.createElementNS(SVG, "line");
        link.setAttribute("x1", ax); link.setAttribute("y1", a.bottom);
        link.setAttribute("x2", bx); link.setAttribute("y2", b.top);
      } else {
        link = document.createElementNS(SVG, "path");
        const low = Math.max(a.bottom, b.bottom) + 26;
        link.setAttribute("d", "M" + ax + "," + a.bottom + " C" + ax + "," + low + " " + bx + "," + low + " " +
                               bx + "," + b.bottom);
      }
      const sick = SICK.has(state.get(d));
      link.setAttribute("class", "link" + (sick ? " to-sick" : ""));
      link.setAttribute("data-from", n.id);
      link.setAttribute("data-to", d);
      link.setAttribute("marker-end", sick ? "url(#arrow-sick)" : "url(#arrow)");
      svg.appendChild(link);
    }
  }
}

// One row across a table's columns saying why it is empty.
function placeholderRow(body, columns, text) {
  const td = el("td", "", text);
  td.colSpan = columns;
  body.appendChild(el("tr")).appendChild(td);
}

function renderInterfaces(s) {
  const body = document.querySelector("#interfaces tbody");
  body.replaceChildren();
  const rows = (s.summary.interfaces || []).slice(0, 12);
  if (rows.length === 0) placeholderRow(body, 6, "no gateway traffic in its access log (or no gateway on this host)");
  for (const i of rows) {
    const tr = el("tr");
    tr.setAttribute("data-route", i.route);
    tr.appendChild(el("td", "", i.route));
    tr.appendChild(el("td", "", i.requests_per_s.toFixed(1)));
    tr.appendChild(el("td", "", (i.bytes_out_per_s / 1024).toFixed(1)));
    tr.appendChild(el("td", i.status_5xx_per_s > 0 ? "bad" : "", i.status_5xx_per_s.toFixed(1)));
    tr.appendChild(el("td", i.rate_limited_per_s > 0 ? "bad" : "", i.rate_limited_per_s.toFixed(1)));
    tr.appendChild(el("td", "", i.p99_ms.toFixed(0)));
    body.appendChild(tr);
  }
}

function renderTimeline(s) {
  const body = document.querySelector("#timeline tbody");
  body.replaceChildren();
  const changes = s.timeline.slice(-50).reverse();
  if (changes.length === 0) placeholderRow(body, 4, "no state change yet");
  for (const c of changes) {
    const tr = el("tr");
    tr.setAttribute("data-node", c.node);
    tr.appendChild(el("td", "", c.at.replace("T", " ").replace("Z", " UTC")));
    tr.appendChild(el("td", "", c.node));
    const change = el("td");
    change.appendChild(el("span", "pill state-" + c.from, c.from.toUpperCase()));
    change.appendChild(document.createTextNode(" \u2192 "));
    change.appendChild(el("span", "pill state-" + c.to, c.to.toUpperCase()));
    tr.appendChild(change);
    tr.appendChild(el("td", "", c.reason));
    body.appendChild(tr);
  }
}

function render(s) {
  const summary = document.getElementById("summary");
  summary.textContent = "round " + s.summary.round + " \u2014 worst " + s.summary.worst.toUpperCase() + " \u2014 " +
                        s.nodes.length + " nodes";
  summary.setAttribute("data-worst", s.summary.worst);
  const rc = document.getElementById("root-cause");
  rc.textContent = s.summary.headline;  // the terminal board's first line
  const causes = s.summary.root_causes;
  rc.className = causes.length ? "sick" : s.nodes.some(n => SICK.has(n.state)) ? "unsure" : "";
  if (causes.length) rc.setAttribute("data-node", causes[0].node); else rc.removeAttribute("data-node");
  renderLayers(s);
  drawLinks(s);
  renderInterfaces(s);
  renderTimeline(s);
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const r = await fetch("/api/health", {cache: "no-store"});
    if (!r.ok) throw new Error("/api/health answered HTTP " + r.status);
    snap = await r.json();
    lostSince = null;
    document.body.classList.remove("lost");
    render(snap);
    status.textContent = "updated " + new Date().toLocaleTimeString() + " (every second)";
  } catch (e) {
    if (lostSince === null) lostSince = new Date();
    document.body.classList.add("lost");
    status.textContent = "no answer from dine health since " + lostSince.toLocaleTimeString() + ": " + e.message +
                         (snap ? " \u2014 showing the last board" : "");
  }
  setTimeout(poll, 1000);
}

window.addEventListener("resize", () => { if (snap) drawLinks(snap); });
poll();
</script>
</body>
</html>
)page";

}  // namespace

std::string_view web_page() { return kPage; }

}  // namespace dine::monitor
