// Building the page: elements from data with textContent only (never innerHTML), and the formats
// every page shares (times, ages, states, amounts).
"use strict";

const dom = (() => {
  // el("a", {href: "/ui/runs/1", class: "x"}, "text", child, ...): strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Replaces the children of `node` (an element or an id).
  function fill(node, ...children) {
    const target = typeof node === "string" ? document.getElementById(node) : node;
    target.replaceChildren();
    return append(target, children);
  }

  // A table: `columns` are [header, row => cell content]; `rows` the data.
  function table(columns, rows, opts) {
    const o = opts || {};
    const head = el("thead", {}, el("tr", {}, columns.map(([h]) => el("th", { scope: "col" }, h))));
    const body = el(
      "tbody",
      {},
      rows.map((row, i) =>
        el(
          "tr",
          o.rowAttrs ? o.rowAttrs(row, i) : {},
          columns.map(([, cell]) => el("td", {}, cell(row, i))),
        ),
      ),
    );
    const t = el("table", { class: o.class || "list", id: o.id }, head, body);
    if (rows.length === 0 && o.empty) return el("div", {}, t, el("p", { class: "muted empty" }, o.empty));
    return t;
  }

  function section(title, ...children) {
    return el("section", {}, el("h2", {}, title), ...children);
  }

  // A definition list from [term, value] pairs (values may be nodes).
  function facts(pairs) {
    return el("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function time(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return el("time", { datetime: iso, title: iso }, d.toLocaleString());
  }

  // "3s", "4m 2s", "2h 5m", "3d 4h" between two instants (default: now).
  function span(fromIso, toIso) {
    if (!fromIso) return "—";
    const to = toIso ? new Date(toIso) : new Date();
    let s = Math.max(0, Math.round((to - new Date(fromIso)) / 1000));
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    s %= 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }

  function ago(iso) {
    return iso ? el("span", { title: iso }, span(iso) + " ago") : "—";
  }

  const TERMINAL = ["succeeded", "failed", "timed_out", "cancelled", "aborted", "cleaned"];

  function state(s) {
    return el("span", { class: "state state-" + s }, s);
  }

  const UNITS = { cpu: "m", memory: "MiB", pods: "", storage: "MiB" };

  function amount(dimension, value) {
    const unit = UNITS[dimension];
    return unit ? `${value} ${unit}` : String(value);
  }

  // A bar showing used of limit (over 100 % is drawn full and marked).
  function bar(used, limit) {
    const pct = limit > 0 ? Math.round((used / limit) * 100) : used > 0 ? 100 : 0;
    const fill = el("span", { class: "fill" + (pct > 100 ? " over" : pct >= 90 ? " high" : "") });
    fill.style.width = Math.min(100, pct) + "%";
    return el("span", { class: "bar", title: `${pct} %` }, fill);
  }

  function link(href, text) {
    return el("a", { href }, text);
  }

  function runLink(id) {
    return link("/ui/runs/" + encodeURIComponent(id), "#" + id);
  }

  function jobLink(id, name) {
    return link("/ui/jobs/" + encodeURIComponent(id), name);
  }

  function error(e) {
    return el("p", { class: "error" }, e.message || String(e));
  }

  // A workflow's steps as a layered graph: roots in the first column, each other step one column
  // right of its deepest parent. `steps` are [{name, parents: [names]}]; `card(step)` gives the
  // content of a step's box (text or nodes). Each box names its parents ("after a, b").
  function graph(steps, card) {
    const byName = new Map(steps.map((s) => [s.name, s]));
    const depth = new Map();
    function depthOf(name, seen) {
      if (depth.has(name)) return depth.get(name);
      const step = byName.get(name);
      if (!step || seen.has(name)) return 0; // a cycle cannot be stored; be safe anyway
      seen.add(name);
      const d = step.parents.length ? 1 + Math.max(...step.parents.map((p) => depthOf(p, seen))) : 0;
      depth.set(name, d);
      return d;
    }
    for (const s of steps) depthOf(s.name, new Set());
    const layers = [];
    for (const s of steps) (layers[depth.get(s.name)] = layers[depth.get(s.name)] || []).push(s);
    return el("div", { class: "dag", id: "dag" }, layers.map((layer, d) =>
      el("div", { class: "layer", dataset: { depth: String(d) } },
        el("div", { class: "layer-title" }, d === 0 ? "start" : `depth ${d}`),
        layer.map((s) => el("div", { class: "step", dataset: { step: s.name } },
          el("strong", { class: "step-name" }, s.name), card(s),
          el("div", { class: "parents muted" }, s.parents.length ? "after " + s.parents.join(", ") : "no parent"))))));
  }

  // The id of the run or job this page shows (server-rendered into the body).
  function pageId() {
    return document.body.dataset.id;
  }

  return {
    el, append, fill, table, section, facts, time, span, ago, state, amount, bar, link, runLink, jobLink,
    graph, error, pageId, TERMINAL, UNITS,
  };
})();
