// Jobs: stored jobs found by part of their name (the search box) and the filters of
// GET /api/v1/jobs; each links to its page.
"use strict";

(() => {
  const { el, fill, table, time, jobLink } = dom;
  const params = new URLSearchParams(location.search);
  const search = el("input", { id: "job-search", type: "search", name: "q", placeholder: "Part of a job name", value: params.get("q") || "", autofocus: true });
  const namespace = el("input", { name: "namespace", placeholder: "every namespace", value: params.get("namespace") || "" });
  const oneOff = el("input", { type: "checkbox", name: "one_off", checked: params.get("one_off") === "true" });
  const form = el("form", { class: "filters", role: "search" },
    el("label", { class: "search" }, "Search", search), el("label", {}, "Namespace", namespace),
    el("label", {}, oneOff, "include uploads' one-off jobs"));
  const list = el("div", { id: "jobs" });
  fill("content", form, list);

  async function load() {
    const q = new URLSearchParams();
    if (search.value.trim()) q.set("q", search.value.trim());
    if (namespace.value.trim()) q.set("namespace", namespace.value.trim());
    if (oneOff.checked) q.set("one_off", "true");
    history.replaceState(null, "", q.toString() ? "?" + q : location.pathname);
    const page = await api.get("/api/v1/jobs?" + q);
    fill(list, table([
      ["Job", (j) => jobLink(j.id, j.name)],
      ["Namespace", (j) => j.namespace],
      ["Service", (j) => j.service],
      ["Priority", (j) => j.priority],
      ["User", (j) => j.user],
      ["Tags", (j) => Object.entries(j.tags).map(([k, v]) => `${k}=${v}`).join(", ")],
      ["Updated", (j) => time(j.updated_at)],
    ], page.jobs, { id: "job-table", rowAttrs: (j) => ({ dataset: { jobId: j.id } }), empty: "No job matches." }));
  }

  const refresh = api.poll(load, 5000);
  let typing = null;
  form.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(refresh, 250); });
  form.addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
})();
