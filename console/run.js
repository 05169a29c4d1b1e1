// A run: its state, why it waits (each blocking dimension as requested / available / shortfall),
// its position, the timeline of its events and attempts, its logs with a live tail, the result
// download and the cancel button. Refreshed every two seconds until it has finished.
"use strict";

(() => {
  const { el, fill, table, facts, section, time, span, state, amount, runLink, jobLink } = dom;
  const id = dom.pageId();
  const base = "/api/v1/runs/" + encodeURIComponent(id);

  // Buttons other branches add (abort, once streaming runs can be aborted): each is
  // `run => element or null`, called on every refresh and placed beside Cancel.
  window.berthRunActions = window.berthRunActions || [];

  const actions = el("div", { class: "actions", id: "run-actions" });
  const summary = el("div", { id: "run-summary" });
  const why = el("div", { id: "why" });
  const timeline = el("div", { id: "timeline" });
  const attempts = el("div", { id: "attempts" });
  const follow = el("input", { type: "checkbox", id: "follow", checked: true });
  const stdout = el("pre", { id: "stdout", class: "log" });
  const stderr = el("pre", { id: "stderr", class: "log" });
  fill("content", actions, summary,
    section("Why", why),
    section("Timeline", timeline),
    section("Attempts", attempts),
    section("Logs", el("label", { class: "follow" }, follow, "Live tail (follow new output)"),
      el("h3", {}, "stdout"), stdout, el("h3", {}, "stderr"), stderr));

  let confirming = false;
  let finished = false;

  function scopeWords(scope) {
    if (scope.namespace) return `quota of namespace ${scope.namespace.namespace}`;
    if (scope.user_service) return `run limit of user ${scope.user_service.user} for service ${scope.user_service.service}`;
    if (scope.pool) return `workers of service ${scope.pool.service}`;
    return JSON.stringify(scope);
  }

  function reasonWords(reason) {
    if (typeof reason === "string") {
      return { waiting_for_quota: "waiting for quota", user_cap: "user run limit reached", no_worker_with_room: "no worker with room" }[reason] || reason;
    }
    if (reason && reason.waiting_behind) return el("span", {}, "waiting behind run ", runLink(reason.waiting_behind.run));
    if (reason && reason.cooling_down) return el("span", {}, "cooling down until ", time(reason.cooling_down.until));
    return JSON.stringify(reason);
  }

  function renderWhy(w, run) {
    const record = w.record;
    const parts = [el("p", { id: "why-message", class: "why" }, w.message)];
    if (record && run.state === "queued") {
      parts.push(facts([
        ["Reason", reasonWords(record.reason)],
        ["Position", el("span", { id: "position" }, `${record.position} in the ${run.priority} queue of namespace ${run.namespace}`)],
        ["As of", time(record.evaluated_at)],
      ]));
      parts.push(table([
        ["Blocked by", (s) => scopeWords(s.scope)],
        ["Dimension", (s) => s.dimension || "count"],
        ["Requested", (s) => amount(s.dimension, s.requested)],
        ["Available", (s) => amount(s.dimension, s.available)],
        ["Shortfall", (s) => el("strong", {}, amount(s.dimension, s.shortfall))],
      ], record.scopes || [], { id: "why-scopes" }));
    }
    fill(why, parts);
  }

  function renderActions(run) {
    const buttons = [];
    if (!dom.TERMINAL.includes(run.state)) {
      if (confirming) {
        buttons.push(el("span", { class: "confirm" }, "Cancel this run? ",
          el("button", { type: "button", id: "cancel-confirm", class: "danger", onclick: cancel }, "Yes, cancel run"),
          el("button", { type: "button", id: "cancel-keep", onclick: () => { confirming = false; renderActions(run); } }, "Keep it")));
      } else {
        buttons.push(el("button", { type: "button", id: "cancel", class: "danger", onclick: () => { confirming = true; renderActions(run); } }, "Cancel"));
      }
    }
    buttons.push(el("button", { type: "button", id: "download", disabled: !dom.TERMINAL.includes(run.state) || run.state === "cleaned", onclick: downloadResult }, "Download result"));
    for (const hook of window.berthRunActions) buttons.push(hook(run));
    fill(actions, buttons);
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

  async function downloadResult() {
    try {
      await api.download(base + "/result", `run-${id}-result.zip`);
    } catch (e) {
      api.status(e.message, true);
    }
  }

  function renderSummary(run) {
    fill(summary, facts([
      ["State", el("span", { id: "run-state" }, state(run.state))],
      ["Job", jobLink(run.job_id, run.job_name)],
      ["Namespace / priority", `${run.namespace} / ${run.priority} (${run.flow} flow)`],
      ["User / service", `${run.user_id} / ${run.service}`],
      ["Requests", `cpu ${amount("cpu", run.cpu)}, memory ${amount("memory", run.memory)}, pods ${run.pods}, storage ${amount("storage", run.storage)}`],
      ["Enqueued", time(run.enqueued_at)],
      ["Admitted", time(run.admitted_at)],
      ["Started", time(run.started_at)],
      ["Finished", time(run.finished_at)],
      ["Took", run.started_at ? span(run.started_at, run.finished_at) : "—"],
      ["Attempt", `${run.attempt} of ${run.max_attempts}` + (run.lost_attempts ? ` (${run.lost_attempts} lost)` : "")],
      ["Worker", run.worker_id == null ? "—" : String(run.worker_id)],
      ["Exit code", run.exit_code == null ? "—" : String(run.exit_code)],
      ["Message", run.message || "—"],
      ["Triggered by", run.triggered_by],
    ]));
  }

  function renderTimeline(run) {
    fill(timeline, el("ol", { class: "timeline" }, run.events.map((e) =>
      el("li", { dataset: { kind: e.kind } }, time(e.at), " ", el("strong", { class: "kind" }, e.kind), " ",
        el("span", { class: "muted" }, "by " + e.actor), e.message ? el("div", {}, e.message) : null))));
    fill(attempts, table([
      ["#", (a) => String(a.number)],
      ["Worker", (a) => String(a.worker_id)],
      ["Started", (a) => time(a.started_at)],
      ["Finished", (a) => time(a.finished_at)],
      ["Took", (a) => span(a.started_at, a.finished_at)],
      ["Outcome", (a) => (a.outcome ? state(a.outcome) : "running")],
      ["Exit code", (a) => (a.exit_code == null ? "—" : String(a.exit_code))],
    ], run.attempts, { empty: "Not claimed by a worker yet." }));
  }

  function showLog(pre, text) {
    if (pre.textContent === text) return;
    pre.textContent = text;
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  }

  async function load() {
    if (finished) return;
    const [run, w, logs] = await Promise.all([api.get(base), api.get(base + "/why"), api.get(base + "/logs")]);
    document.getElementById("title").textContent = `Run ${run.id} · ${run.job_name}`;
    renderActions(run);
    renderSummary(run);
    renderWhy(w, run);
    renderTimeline(run);
    showLog(stdout, logs.stdout);
    showLog(stderr, logs.stderr);
    // A finished run changes no more: one last refresh, then stop polling.
    finished = dom.TERMINAL.includes(run.state);
  }

  const refresh = api.poll(load, 2000);
  follow.addEventListener("change", () => { if (follow.checked) refresh(); });
})();
