// A run: its state, why it waits (each blocking dimension as requested / available / shortfall),
// its position, the timeline of its events and attempts, its logs with a live tail, the result
// download and the cancel button; a streaming run's restart figures and its Abort button; the
// workflow run a step belongs to. Refreshed every two seconds until it has finished.
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
  const streaming = el("div", { id: "streaming" });
  const why = el("div", { id: "why" });
  const timeline = el("div", { id: "timeline" });
  const attempts = el("div", { id: "attempts" });
  const follow = el("input", { type: "checkbox", id: "follow", checked: true });
  const stdout = el("pre", { id: "stdout", class: "log" });
  const stderr = el("pre", { id: "stderr", class: "log" });
  fill("content", actions, summary, streaming,
    section("Why", why),
    section("Timeline", timeline),
    section("Attempts", attempts),
    section("Logs", el("label", { class: "follow" }, follow, "Live tail (follow new output)"),
      el("h3", {}, "stdout"), stdout, el("h3", {}, "stderr"), stderr));

  let confirming = false;
  let confirmingAbort = false;
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
    // A streaming run (an application) that has not ended stops with Abort: it is never restarted.
    if (run.streaming && !dom.TERMINAL.includes(run.state) && !run.streaming.stopping) {
      if (confirmingAbort) {
        buttons.push(el("span", { class: "confirm" }, "Abort this application? It will not be restarted. ",
          el("button", { type: "button", id: "abort-confirm", class: "danger", onclick: abort }, "Yes, abort"),
          el("button", { type: "button", id: "abort-keep", onclick: () => { confirmingAbort = false; renderActions(run); } }, "Keep it running")));
      } else {
        buttons.push(el("button", { type: "button", id: "abort", class: "danger", onclick: () => { confirmingAbort = true; renderActions(run); } }, "Abort"));
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

  async function abort() {
    try {
      await api.post(base + "/abort");
      confirmingAbort = false;
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
      run.workflow_run_id != null && ["Workflow run", el("a", { id: "workflow-run-link", href: "/ui/workflow-runs/" + encodeURIComponent(run.workflow_run_id) }, "workflow run #" + run.workflow_run_id)],
    ]));
  }

  // "3s", "4m 2s", … from a number of seconds.
  function seconds(s) {
    return dom.span(new Date(Date.now() - s * 1000).toISOString());
  }

  function renderStreaming(run) {
    const s = run.streaming;
    if (!s) {
      fill(streaming);
      return;
    }
    const policy = s.restart_policy === "never" ? "never restarted"
      : `${s.restart_policy} (submission failures: ${s.submission_retries} retries, ${s.submission_retry_interval} s apart; ` +
        `execution failures: ${s.failure_retries} retries, ${s.failure_retry_interval} s apart)`;
    fill(streaming, dom.section("Application (streaming)", facts([
      ["Restart policy", el("span", { id: "restart-policy" }, policy)],
      ["Submissions", el("span", { id: "submissions" }, `${s.submission_attempts} (${s.submission_failures} failed)`)],
      ["Executions", el("span", { id: "executions" }, `${s.execution_attempts} (${s.execution_failures} failed)`)],
      ["Restarts", String(Math.max(0, s.submission_attempts - 1))],
      ["Up for", el("span", { id: "duration" }, s.duration_seconds == null ? "not started yet" : seconds(s.duration_seconds))],
      ["Stopping", el("span", { id: "stopping" }, s.stopping ? "yes: its worker is stopping it" : "no")],
    ])));
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
    renderStreaming(run);
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
