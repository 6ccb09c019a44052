"""The leaderboard page's inline style and script (``tlbench.html_report``), kept as constants so the
page stays one self-contained file: no stylesheet, script, font or image is fetched from anywhere.

The script only reads and reorders the page's own table rows; it embeds no data, so nothing from a
suite or a plugin reaches it unescaped."""

from __future__ import annotations

#: no network at all: images only as data: URIs, style and script only inline
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")

CSS = """
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --head: #f3f5f7; --best: #0b5d1e; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg);
       margin: 0 auto; padding: 1rem 1.5rem 3rem; max-width: 100rem; }
h1 { font-size: 1.6rem; margin: 0.4rem 0; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.6rem; padding-bottom: 0.2rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
p, li { max-width: 75rem; }
nav { font-size: 0.9rem; color: var(--muted); }
nav a { margin-right: 0.8rem; }
code { font: 0.88em/1.3 "DejaVu Sans Mono", ui-monospace, monospace; background: var(--head);
       padding: 0 0.2em; }
.scroll { overflow-x: auto; width: fit-content; max-width: 100%; margin: 0.5rem 0 1rem;
          border: 1px solid var(--line); }
table { border-collapse: collapse; font-size: 0.86rem; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 0.3rem 0.55rem; text-align: left;
         vertical-align: top; }
thead th { background: var(--head); position: sticky; top: 0; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fafbfc; }
tbody tr:hover td { background: #eef4ff; }
th:first-child, td:first-child { position: sticky; left: 0; background: #fff; white-space: nowrap;
                                 border-right: 1px solid var(--line); font-weight: 600; }
thead th:first-child { background: var(--head); z-index: 1; }
table.sortable td { white-space: nowrap; }
td small, .muted { color: var(--muted); }
td small { display: block; font-size: 0.78rem; }
.best { color: var(--best); font-weight: 700; }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer;
            color: inherit; text-align: left; }
th button:focus-visible { outline: 2px solid #0969da; outline-offset: 2px; }
th button::after { content: " \\2195"; color: var(--muted); font-weight: 400; }
th[aria-sort=ascending] button::after { content: " \\25B2"; color: var(--fg); }
th[aria-sort=descending] button::after { content: " \\25BC"; color: var(--fg); }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
figure { margin: 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { font-size: 0.8rem; color: var(--muted); }
details { border: 1px solid var(--line); border-radius: 4px; margin: 0.35rem 0; padding: 0.2rem 0.6rem; }
details[open] { padding-bottom: 0.6rem; }
summary { cursor: pointer; font-weight: 600; }
summary .muted { font-weight: 400; }
table.kv td:first-child { font-weight: 400; color: var(--muted); }
.findings li { margin: 0.2rem 0; }
footer { margin-top: 3rem; font-size: 0.8rem; color: var(--muted); }
"""

#: click (or Enter/Space: the headers are buttons) on a header of a ``table.sortable`` sorts its rows
#: by that column, ascending first, again for descending. A cell's key is its ``data-sort`` (a raw
#: number; empty: no value) or else its text (a leading number sorts as a number). Cells with no
#: value go last either way; equal keys keep their order.
JS = """
(function () {
  "use strict";
  var NUMBER = /^[-+\\u2212]?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?/i;
  function key(cell) {
    if (!cell) { return null; }
    var raw = cell.getAttribute("data-sort");
    if (raw !== null) { return raw === "" ? null : Number(raw); }
    var text = cell.textContent.trim();
    if (text === "" || text === "\\u2013" || text === "-") { return null; }
    var m = text.match(NUMBER);
    return m ? Number(m[0].replace("\\u2212", "-")) : text.toLowerCase();
  }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    if (typeof a === "number") { return -1; }
    if (typeof b === "number") { return 1; }
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  function sortBy(table, th, column) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (row, i) {
      return { row: row, key: key(row.cells[column]), index: i };
    });
    rows.sort(function (x, y) {
      if (x.key === null || y.key === null) {
        return x.key === y.key ? x.index - y.index : (x.key === null ? 1 : -1);
      }
      var c = compare(x.key, y.key);
      return (ascending ? c : -c) || x.index - y.index;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      var button = th.querySelector("button");
      if (button) { button.addEventListener("click", function () { sortBy(table, th, column); }); }
    });
  });
})();
"""
