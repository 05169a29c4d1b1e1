// A job: its definition, its schedule with the next fire times, its recent runs and its history;
// start a run (optionally at another priority), edit the definition (as the JSON of its template),
// duplicate it. A streaming job lists its applications (its runs, the active one marked); a workflow
// job draws its steps as a layered graph and lists its recent workflow runs.
"use strict";

(() => {
  const { el, fill, table, facts, section, time, state, amount, runLink } = dom;
  const id = dom.pageId();
  const base = "/api/v1/jobs/" + encodeURIComponent(id);

  const actions = el("div", { class: "actions", id: "job-actions" });
  const definition = el("div", { id: "job-definition" });
  const schedule = el("div", { id: "job-schedule" });
  const runs = el("div", { id: "job-runs" });
  const runsTitle = el("h2", {}, "Recent runs");
  const graph = el("div", { id: "job-graph" });
  const past = el("div", { id: "job-history" });
  const editor = el("div", { id: "job-editor" });
  fill("content", actions, editor, definition, section("Schedule", schedule), graph, el("section", {}, runsTitle, runs), section("History", past));

  const priority = el("select", { id: "start-priority" },
    el("option", { value: "" }, "job's priority"), el("option", { value: "high" }, "high"), el("option", { value: "normal" }, "normal"));
  const copyName = el("input", { id: "duplicate-name", placeholder: "copy name (optional)" });
  fill(actions,
    el("span", { class: "group" }, priority, el("button", { type: "button", id: "start-run", onclick: start }, "Start a run")),
    el("button", { type: "button", id: "edit", onclick: edit }, "Edit"),
    el("span", { class: "group" }, copyName, el("button", { type: "button", id: "duplicate", onclick: duplicate }, "Duplicate")));

  async function start() {
    try {
      const body = priority.value ? { priority: priority.value } : {};
      const run = await api.post(base + "/runs", body);
      // A workflow job answers the workflow run (it has steps); any other job its run.
      location.href = (Array.isArray(run.steps) ? "/ui/workflow-runs/" : "/ui/runs/") + encodeURIComponent(run.id);
    } catch (e) {
      api.status(e.message, true);
    }
  }

  async function duplicate() {
    try {
      const name = copyName.value.trim();
      const job = await api.post(base + "/duplicate", name ? { name } : {});
      location.href = "/ui/jobs/" + encodeURIComponent(job.id);
    } catch (e) {
      api.status(e.message, true);
    }
  }

  // The definition as the JSON POST /api/v1/jobs accepts; saving PUTs it (the job's files stay).
  async function edit() {
    try {
      const template = await api.get(base + "/template");
      const text = el("textarea", { id: "edit-json", rows: 24, spellcheck: "false" });
      text.value = JSON.stringify(template, null, 2);
      const message = el("p", { class: "error", id: "edit-error" });
      const save = async () => {
        let body;
        try {
          body = JSON.parse(text.value);
        } catch (e) {
          message.textContent = "Not valid JSON: " + e.message;
          return;
        }
        try {
          await api.put(base, body);
          fill(editor);
          refresh();
        } catch (e) {
          message.textContent = e.message;
        }
      };
      fill(editor, section("Edit (JSON; files are kept)", text, message,
        el("p", { class: "actions" }, el("button", { type: "button", id: "edit-save", onclick: save }, "Save"),
          el("button", { type: "button", onclick: () => fill(editor) }, "Discard"))));
    } catch (e) {
      api.status(e.message, true);
    }
  }

  // An argv as a shell would read it back: words with spaces or quotes are single-quoted.
  function words(argv) {
    return argv.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : "'" + w.replace(/'/g, "'\\''") + "'")).join(" ");
  }

  function renderDefinition(j) {
    document.getElementById("title").textContent = `Job ${j.id} · ${j.name}`;
    fill(definition, facts([
      ["Name", j.name],
      ["Description", el("span", { id: "job-description" }, j.description || "—")],
      ["Kind", j.kind],
      ["Namespace / priority", `${j.namespace} / ${j.priority} (${j.flow} flow)`],
      ["Service / user", `${j.service} / ${j.user}`],
      ["Requests", `cpu ${amount("cpu", j.cpu)}, memory ${amount("memory", j.memory)}, pods ${j.pods}, storage ${amount("storage", j.storage)}`],
      ["Command", j.command ? words(j.command) : "bash run.sh"],
      ["Arguments", words(j.args) || "—"],
      ["Environment", Object.keys(j.env).join(", ") || "—"],
      j.restart && ["Restart policy", `${j.restart.restart_policy} (submission failures: ${j.restart.submission_retries} retries, ` +
        `${j.restart.submission_retry_interval} s apart; execution failures: ${j.restart.failure_retries} retries, ${j.restart.failure_retry_interval} s apart)`],
      ["Timeout", j.timeout_seconds ? `${j.timeout_seconds} s` : "none"],
      ["Attempts", `${j.max_attempts} (back-off ${j.retry_backoff_seconds} s, at most ${j.retry_backoff_max_seconds} s)`],
      ["Files", j.files_bytes ? `${j.files_bytes} bytes` : "none"],
      ["Tags", Object.entries(j.tags).map(([k, v]) => `${k}=${v}`).join(", ") || "—"],
      ["Created", el("span", {}, time(j.created_at), ` by ${j.created_by}`)],
      ["Updated", time(j.updated_at)],
    ]));
  }

  async function renderSchedule() {
    try {
      const s = await api.get(base + "/schedule");
      fill(schedule, facts([
        ["Cron", `${s.cron} (${s.time_zone})`],
        ["Policy", s.concurrency_policy],
        ["Paused", s.paused ? "yes" : "no"],
        ["Next fires", s.next_fires.length ? el("ul", { id: "next-fires" }, s.next_fires.map((t) => el("li", {}, time(t)))) : "none"],
      ]), table([
        ["Fire time", (f) => time(f.fire_at)],
        ["Outcome", (f) => f.outcome],
        ["Run", (f) => (f.run_id ? runLink(f.run_id) : "—")],
      ], s.last_fires, { empty: "No fire decided yet." }));
    } catch (e) {
      if (e.status === 404) fill(schedule, el("p", { class: "muted" }, "No schedule."));
      else throw e;
    }
  }

  // The names of the steps' jobs, read once each.
  const jobNames = new Map();
  async function jobName(jobId) {
    if (!jobNames.has(jobId)) {
      try {
        jobNames.set(jobId, (await api.get("/api/v1/jobs/" + encodeURIComponent(jobId))).name);
      } catch (e) {
        jobNames.set(jobId, null);
      }
    }
    return jobNames.get(jobId);
  }

  async function renderGraph(job) {
    if (job.kind !== "workflow" || !Array.isArray(job.steps)) {
      fill(graph);
      return;
    }
    await Promise.all(job.steps.map((s) => jobName(s.job)));
    const steps = job.steps.map((s) => ({ name: s.name, job: s.job, parents: s.depends_on || [] }));
    fill(graph, dom.section("Steps", dom.graph(steps, (s) =>
      el("span", { class: "step-job" }, "job ", dom.jobLink(s.job, jobNames.get(s.job) || "#" + s.job)))));
  }

  // The job's workflow runs. No route lists them by job: every workflow run has a run of each
  // step, so they are found through the recent runs of the first step's job (their
  // workflow_run_id), kept when the workflow run is this job's; at most ten, newest first.
  async function workflowRuns(job) {
    if (!job.steps || !job.steps.length) return [];
    const page = await api.get("/api/v1/jobs/" + encodeURIComponent(job.steps[0].job) + "/runs?limit=100");
    const ids = [...new Set(page.runs.map((r) => r.workflow_run_id).filter((w) => w != null))].slice(0, 10);
    const found = await Promise.all(ids.map((w) => api.get("/api/v1/workflow-runs/" + encodeURIComponent(w)).catch(() => null)));
    return found.filter((w) => w && w.job_id === job.id).sort((a, b) => b.id - a.id);
  }

  async function renderWorkflowRuns(job) {
    runsTitle.textContent = "Recent workflow runs";
    let list;
    try {
      list = await workflowRuns(job);
    } catch (e) {
      fill(runs, el("p", { class: "muted" }, "Its workflow runs cannot be listed: " + e.message));
      return;
    }
    fill(runs, table([
      ["Workflow run", (w) => dom.link("/ui/workflow-runs/" + encodeURIComponent(w.id), "#" + w.id)],
      ["State", (w) => state(w.state)],
      ["Steps", (w) => `${w.steps_succeeded} succeeded, ${w.steps_failed} failed, ${w.steps_cancelled} cancelled, ${w.steps_left} left of ${w.steps_total}`],
      ["Started", (w) => time(w.created_at)],
      ["Finished", (w) => time(w.finished_at)],
      ["Triggered by", (w) => w.triggered_by],
    ], list, { id: "workflow-runs", empty: "No workflow run found.", rowAttrs: (w) => ({ dataset: { workflowRunId: String(w.id) } }) }));
  }

  // A streaming job's runs are its applications: at most one active (marked), restarts counted.
  function renderApplications(page) {
    runsTitle.textContent = "Applications";
    fill(runs, table([
      ["Run", (r) => runLink(r.id)],
      ["State", (r) => [state(r.state), dom.TERMINAL.includes(r.state) ? null : el("strong", { class: "active-mark" }, " active")]],
      ["Attempts", (r) => (r.streaming ? String(r.streaming.submission_attempts) : "—")],
      ["Restarts", (r) => (r.streaming ? String(Math.max(0, r.streaming.submission_attempts - 1)) : "—")],
      ["Failures", (r) => (r.streaming ? `${r.streaming.execution_failures} execution, ${r.streaming.submission_failures} submission` : "—")],
      ["Enqueued", (r) => time(r.enqueued_at)],
      ["Stopping", (r) => (r.streaming && r.streaming.stopping ? "yes" : "")],
    ], page.runs, { id: "applications", empty: "Never started.",
      rowAttrs: (r) => ({ class: dom.TERMINAL.includes(r.state) ? null : "active-run", dataset: { runId: String(r.id) } }) }),
    el("p", {}, dom.link("/ui/runs?job=" + encodeURIComponent(id), "All runs of this job")));
  }

  async function load() {
    const [job, page, events] = await Promise.all([api.get(base), api.get(base + "/runs?limit=20"), api.get(base + "/events")]);
    renderDefinition(job);
    await renderSchedule();
    await renderGraph(job);
    fill(past, table([
      ["When", (e) => time(e.at)],
      ["What", (e) => e.kind],
      ["Who", (e) => e.actor],
      ["Changes", (e) => Object.keys(e.changes || {}).join(", ")],
    ], events.slice().reverse()));
    if (job.kind === "workflow") return renderWorkflowRuns(job);
    if (job.kind === "streaming") return renderApplications(page);
    fill(runs, table([
      ["Run", (r) => runLink(r.id)],
      ["State", (r) => state(r.state)],
      ["Enqueued", (r) => time(r.enqueued_at)],
      ["Triggered by", (r) => r.triggered_by],
      ["Message", (r) => r.message],
    ], page.runs, { empty: "No run yet." }), el("p", {}, dom.link("/ui/runs?job=" + encodeURIComponent(id), "All runs of this job")));
  }

  const refresh = api.poll(load, 5000);
})();
