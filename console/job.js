// A job: its definition, its schedule with the next fire times, its recent runs and its history;
// start a run (optionally at another priority), edit the definition (as the JSON of its template),
// duplicate it.
"use strict";

(() => {
  const { el, fill, table, facts, section, time, state, amount, runLink } = dom;
  const id = dom.pageId();
  const base = "/api/v1/jobs/" + encodeURIComponent(id);

  const actions = el("div", { class: "actions", id: "job-actions" });
  const definition = el("div", { id: "job-definition" });
  const schedule = el("div", { id: "job-schedule" });
  const runs = el("div", { id: "job-runs" });
  const past = el("div", { id: "job-history" });
  const editor = el("div", { id: "job-editor" });
  fill("content", actions, editor, definition, section("Schedule", schedule), section("Recent runs", runs), section("History", past));

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
      location.href = "/ui/runs/" + encodeURIComponent(run.id);
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

  async function load() {
    const [job, page, events] = await Promise.all([api.get(base), api.get(base + "/runs?limit=20"), api.get(base + "/events")]);
    renderDefinition(job);
    await renderSchedule();
    fill(runs, table([
      ["Run", (r) => runLink(r.id)],
      ["State", (r) => state(r.state)],
      ["Enqueued", (r) => time(r.enqueued_at)],
      ["Triggered by", (r) => r.triggered_by],
      ["Message", (r) => r.message],
    ], page.runs, { empty: "No run yet." }), el("p", {}, dom.link("/ui/runs?job=" + encodeURIComponent(id), "All runs of this job")));
    fill(past, table([
      ["When", (e) => time(e.at)],
      ["What", (e) => e.kind],
      ["Who", (e) => e.actor],
      ["Changes", (e) => Object.keys(e.changes || {}).join(", ")],
    ], events.slice().reverse()));
  }

  const refresh = api.poll(load, 5000);
})();
