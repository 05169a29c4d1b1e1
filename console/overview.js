// Overview: queue depth per namespace and priority, admissions and finishes per minute, workers
// alive (GET /api/v1/overview). Refreshed every five seconds.
"use strict";

(() => {
  const { el, fill, table, section, link } = dom;

  function chart(minutes) {
    const top = Math.max(1, ...minutes.map((m) => Math.max(m.admitted, m.finished)));
    return el("div", { class: "chart", role: "img", "aria-label": "admissions and finishes per minute" },
      minutes.map((m) => {
        const a = el("span", { class: "col admitted", title: `${m.admitted} admitted` });
        const f = el("span", { class: "col finished", title: `${m.finished} finished` });
        a.style.height = (m.admitted / top) * 100 + "%";
        f.style.height = (m.finished / top) * 100 + "%";
        const label = new Date(m.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        return el("div", { class: "minute", title: label }, el("div", { class: "cols" }, a, f), el("span", { class: "label" }, label));
      }));
  }

  async function load() {
    const o = await api.get("/api/v1/overview");
    const last = o.per_minute.slice(-5);
    const sum = (k) => last.reduce((n, m) => n + m[k], 0);
    const total = o.queue.reduce((n, q) => n + q.queued, 0);
    fill("content",
      el("div", { class: "tiles" },
        tile("Queued", total, "/ui/queue"),
        tile("Admitted / min (last 5)", (sum("admitted") / last.length).toFixed(1), "/ui/runs?state=admitted&state=running"),
        tile("Finished / min (last 5)", (sum("finished") / last.length).toFixed(1), "/ui/runs"),
        tile("Workers alive", `${o.workers_alive} / ${o.workers}`, "/ui/workers")),
      section("Queue depth",
        table([
          ["Namespace", (q) => link("/ui/queue?namespace=" + encodeURIComponent(q.namespace), q.namespace)],
          ["Priority", (q) => q.priority],
          ["Queued", (q) => String(q.queued)],
        ], o.queue, { id: "depth-table", empty: "Nothing is queued." })),
      section("Admissions and finishes per minute",
        el("p", { class: "legend" }, el("span", { class: "key admitted" }), "admitted ", el("span", { class: "key finished" }), "finished"),
        chart(o.per_minute),
        table([
          ["Minute", (m) => new Date(m.minute).toLocaleTimeString()],
          ["Admitted", (m) => String(m.admitted)],
          ["Finished", (m) => String(m.finished)],
        ], o.per_minute.slice(-5).reverse(), { class: "list compact" })));
  }

  function tile(label, value, href) {
    return el("a", { class: "tile", href }, el("span", { class: "value" }, String(value)), el("span", { class: "label" }, label));
  }

  api.poll(load, 5000);
})();
