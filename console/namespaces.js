// Namespaces: per dimension, the quota used by admitted and running runs against its limit, and
// what the queued runs ask for; how the namespace orders its users' runs. Refreshed every five
// seconds.
"use strict";

(() => {
  const { el, fill, table, amount, bar } = dom;
  const DIMENSIONS = ["cpu", "memory", "pods", "storage"];

  async function load() {
    const namespaces = await api.get("/api/v1/namespaces");
    fill("content", namespaces.map((ns) =>
      el("section", { class: "namespace", dataset: { namespace: ns.name } },
        el("h2", {}, ns.name, el("span", { class: "muted" },
          ` ${ns.queued_runs} queued, ${ns.sharing === "fair" ? "users take turns" : "queue order"}`)),
        table([
          ["Dimension", (d) => d],
          ["Used / limit", (d) => `${amount(d, ns.used[d])} / ${amount(d, ns.limit[d])}`],
          ["", (d) => bar(ns.used[d], ns.limit[d])],
          ["Queued demand", (d) => amount(d, ns.queued[d])],
        ], DIMENSIONS, { class: "list quota" }))));
    if (namespaces.length === 0) fill("content", el("p", { class: "muted" }, "No namespace."));
  }

  api.poll(load, 5000);
})();
