// Workers: capacity, use and heartbeat age of every registered worker. Refreshed every two seconds.
"use strict";

(() => {
  const { el, fill, table, amount, bar, ago, time } = dom;
  const DIMENSIONS = ["cpu", "memory", "pods", "storage"];

  function use(w, d) {
    return el("span", { class: "use" }, bar(w["used_" + d], w[d]), ` ${amount(d, w["used_" + d])} / ${amount(d, w[d])}`);
  }

  async function load() {
    const workers = await api.get("/api/v1/workers");
    const alive = workers.filter((w) => w.live).length;
    fill("content",
      el("p", {}, `${alive} of ${workers.length} registered workers alive.`),
      table([
        ["Worker", (w) => `${w.name} (#${w.id})`],
        ["Alive", (w) => el("span", { class: w.live ? "state state-running" : "state state-failed" }, w.live ? "alive" : (w.stopped_at ? "stopped" : "gone"))],
        ["Services", (w) => w.services.join(", ")],
        ["Heartbeat", (w) => ago(w.heartbeat_at)],
        ["Started", (w) => time(w.started_at)],
        ...DIMENSIONS.map((d) => [d, (w) => use(w, d)]),
      ], workers, { id: "worker-table", empty: "No worker has registered." }));
  }

  api.poll(load, 2000);
})();
