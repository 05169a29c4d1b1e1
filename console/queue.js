// Queue: per namespace and priority, the queued runs in admission order, with the blocking head
// and the reason it waits. Refreshed every two seconds.
"use strict";

(() => {
  const { el, fill, table, time, span, runLink } = dom;
  const params = new URLSearchParams(location.search);
  const namespace = el("input", { name: "namespace", id: "queue-namespace", placeholder: "every namespace", value: params.get("namespace") || "" });
  const priority = el("select", { name: "priority", id: "queue-priority" },
    el("option", { value: "" }, "both priorities"), el("option", { value: "high" }, "high"), el("option", { value: "normal" }, "normal"));
  priority.value = params.get("priority") || "";
  const form = el("form", { class: "filters" }, el("label", {}, "Namespace", namespace), el("label", {}, "Priority", priority));
  const queues = el("div", { id: "queues" });
  fill("content", form, queues);

  async function load() {
    const q = new URLSearchParams();
    if (namespace.value.trim()) q.set("namespace", namespace.value.trim());
    if (priority.value) q.set("priority", priority.value);
    history.replaceState(null, "", q.toString() ? "?" + q : location.pathname);
    const rows = await api.get("/api/v1/queue?" + q);
    const groups = new Map();
    for (const r of rows) {
      const key = `${r.namespace}\u0000${r.priority}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(r);
    }
    if (groups.size === 0) {
      fill(queues, el("p", { class: "muted empty" }, "Nothing is queued."));
      return;
    }
    fill(queues, [...groups.values()].map((runs) => {
      const head = runs[0];
      const blocked = head.block && head.block.message;
      return el("section", { class: "queue", dataset: { namespace: head.namespace, priority: head.priority } },
        el("h2", {}, `${head.namespace} · ${head.priority}`, el("span", { class: "muted" }, ` ${runs.length} queued`)),
        el("p", { class: blocked ? "head blocked" : "head" },
          "Head: ", runLink(head.id), " ",
          blocked ? head.block.message : "not looked at by an admission cycle yet",
          head.head_since ? el("span", { class: "muted" }, ` (blocking for ${span(head.head_since)})`) : null),
        table([
          ["#", (_, i) => String(i + 1)],
          ["Run", (r) => runLink(r.id)],
          ["User", (r) => r.user_id],
          ["Service", (r) => r.service],
          ["Enqueued", (r) => time(r.enqueued_at)],
          ["Waiting", (r) => span(r.enqueued_at)],
          ["Why", (r) => (r.block && r.block.message) || (r.not_before ? "cooling down" : "—")],
        ], runs, { rowAttrs: (r, i) => ({ class: i === 0 ? "head-row" : "", dataset: { runId: r.id } }) }));
    }));
  }

  const refresh = api.poll(load, 2000);
  let typing = null;
  form.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(refresh, 250); });
  form.addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
})();
