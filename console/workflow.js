// A workflow run: its state and counts, every step's state in the layered graph of the workflow
// (each step linking its run), the edges, and the cancel button. Refreshed every two seconds
// until it has ended.
"use strict";

(() => {
  const { el, fill, table, facts, section, time, state, runLink, jobLink } = dom;
  const id = dom.pageId();
  const base = "/api/v1/workflow-runs/" + encodeURIComponent(id);

  const actions = el("div", { class: "actions", id: "workflow-actions" });
  const summary = el("div", { id: "workflow-summary" });
  const steps = el("div", { id: "workflow-steps" });
  const edges = el("div", { id: "workflow-edges" });
  fill("content", actions, summary, section("Steps", steps), section("Edges", edges));

  let confirming = false;
  let finished = false;

  function renderActions(w) {
    if (w.state !== "running" || w.cancel_requested) {
      fill(actions, w.cancel_requested && w.state === "running" ? el("span", { class: "muted" }, "Cancelling: its running steps are being stopped.") : null);
      return;
    }
    if (confirming) {
      fill(actions, el("span", { class: "confirm" }, "Cancel this workflow run and every step that has not ended? ",
        el("button", { type: "button", id: "wf-cancel-confirm", class: "danger", onclick: cancel }, "Yes, cancel it"),
        el("button", { type: "button", id: "wf-cancel-keep", onclick: () => { confirming = false; renderActions(w); } }, "Keep it")));
    } else {
      fill(actions, el("button", { type: "button", id: "wf-cancel", class: "danger", onclick: () => { confirming = true; renderActions(w); } }, "Cancel"));
    }
  }

  async function cancel() {
    try {
      await api.post(base + "/cancel");
      confirming = false;
      await refresh();
    } catch (e) {
      api.status(e.message, true);
    }
  }

  function render(w) {
    document.getElementById("title").textContent = `Workflow run ${w.id} · ${w.job_name}`;
    renderActions(w);
    fill(summary, facts([
      ["State", el("span", { id: "workflow-state" }, state(w.state))],
      ["Workflow", jobLink(w.job_id, w.job_name)],
      ["Namespace", w.namespace],
      ["Steps", `${w.steps_succeeded} succeeded, ${w.steps_failed} failed, ${w.steps_cancelled} cancelled, ${w.steps_left} left of ${w.steps_total}`],
      ["Started", time(w.created_at)],
      ["Finished", time(w.finished_at)],
      ["Took", dom.span(w.created_at, w.finished_at)],
      ["Triggered by", w.triggered_by],
      ["Cancel requested", w.cancel_requested ? "yes" : "no"],
    ]));
    const parents = new Map(w.steps.map((s) => [s.name, []]));
    for (const e of w.edges) if (parents.has(e.child)) parents.get(e.child).push(e.parent);
    const nodes = w.steps.map((s) => Object.assign({}, s, { parents: parents.get(s.name) }));
    fill(steps, dom.graph(nodes, (s) => el("span", { class: "step-body" },
      el("span", { class: "step-state", dataset: { state: s.state } }, state(s.state)), " ",
      runLink(s.run_id), " · ", jobLink(s.job_id, "job #" + s.job_id),
      s.end_reason ? el("div", { class: "muted" }, s.end_reason.replace(/_/g, " ")) : null,
      s.message ? el("div", { class: "muted" }, s.message) : null)));
    fill(edges, table([
      ["Parent", (e) => e.parent],
      ["Child (runs after it succeeded)", (e) => e.child],
    ], w.edges, { id: "edges", class: "list compact", empty: "No edge: every step is a root." }));
  }

  async function load() {
    if (finished) return;
    const w = await api.get(base);
    render(w);
    // An ended workflow run changes no more: stop polling.
    finished = w.state !== "running";
  }

  const refresh = api.poll(load, 2000);
})();
