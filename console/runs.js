// Runs: the list of GET /api/v1/runs with its filters and the search box, refreshed every two
// seconds without a reload; the filters live in the address (a filtered list can be shared).
"use strict";

(() => {
  const { el, fill, table, time, state, runLink, jobLink, span } = dom;
  const STATES = ["waiting", "queued", "admitted", "running", "succeeded", "failed", "timed_out", "cancelled", "aborted", "cleaned"];
  const TEXT = [
    ["namespace", "Namespace"],
    ["user", "User"],
    ["triggered_by", "Triggered by"],
    ["job", "Job id"],
    ["tag", "Tag (key=value)"],
  ];
  const params = new URLSearchParams(location.search);
  let cursors = []; // the cursors of the pages before this one (older pages)

  const search = el("input", { id: "search", type: "search", name: "q", placeholder: "Run id or part of a job name", value: params.get("q") || "", autofocus: true });
  const priority = el("select", { name: "priority", id: "filter-priority" },
    el("option", { value: "" }, "any priority"), el("option", { value: "high" }, "high"), el("option", { value: "normal" }, "normal"));
  priority.value = params.get("priority") || "";
  const chosen = new Set(params.getAll("state"));
  const states = el("fieldset", { class: "states" }, el("legend", {}, "State"),
    STATES.map((s) => el("label", {}, el("input", { type: "checkbox", name: "state", value: s, checked: chosen.has(s) }), s)));
  const texts = TEXT.map(([name, label]) =>
    el("label", {}, label, el("input", { name, id: "filter-" + name, value: params.get(name) || "" })));
  const since = el("label", {}, "Enqueued since", el("input", { name: "since", type: "datetime-local", value: local(params.get("since")) }));
  const until = el("label", {}, "before", el("input", { name: "until", type: "datetime-local", value: local(params.get("until")) }));
  const form = el("form", { class: "filters", id: "run-filters", role: "search" },
    el("label", { class: "search" }, "Search", search), priority, texts, since, until, states);
  const list = el("div", { id: "runs" });
  const pager = el("p", { class: "pager" });
  fill("content", form, list, pager);

  function local(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return "";
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // The filters as a query string (also written into the address).
  function query() {
    const q = new URLSearchParams();
    if (search.value.trim()) q.set("q", search.value.trim());
    if (priority.value) q.set("priority", priority.value);
    for (const input of form.querySelectorAll("input[name=state]:checked")) q.append("state", input.value);
    for (const [name] of TEXT) {
      const v = form.elements[name].value.trim();
      if (v) q.set(name, v);
    }
    for (const name of ["since", "until"]) {
      const v = form.elements[name].value;
      if (v) q.set(name, new Date(v).toISOString());
    }
    return q;
  }

  async function load() {
    const q = query();
    history.replaceState(null, "", q.toString() ? "?" + q : location.pathname);
    if (cursors.length) q.set("cursor", cursors[cursors.length - 1]);
    const page = await api.get("/api/v1/runs?" + q);
    fill(list, table([
      ["Run", (r) => runLink(r.id)],
      ["Job", (r) => jobLink(r.job_id, r.job_name)],
      ["State", (r) => state(r.state)],
      ["Namespace", (r) => r.namespace],
      ["Priority", (r) => r.priority],
      ["User", (r) => r.user_id],
      ["Enqueued", (r) => time(r.enqueued_at)],
      ["Took", (r) => (r.started_at ? span(r.started_at, r.finished_at) : "—")],
      ["Attempt", (r) => `${r.attempt}/${r.max_attempts}`],
      ["Message", (r) => r.message],
    ], page.runs, {
      id: "run-table",
      rowAttrs: (r) => ({ dataset: { runId: r.id, state: r.state } }),
      empty: "No run matches these filters.",
    }));
    fill(pager,
      cursors.length ? el("button", { type: "button", onclick: () => { cursors = []; refresh(); } }, "Newest") : null,
      page.next_cursor ? el("button", { type: "button", onclick: () => { cursors.push(page.next_cursor); refresh(); } }, "Older") : null);
  }

  const refresh = api.poll(load, 2000);
  let typing = null;
  form.addEventListener("input", () => {
    clearTimeout(typing);
    cursors = [];
    typing = setTimeout(refresh, 250);
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    refresh();
  });
})();
