// The console's one way to the JSON API: every call carries the token kept in this tab's session
// storage (`Authorization: Bearer …`), and an answer of 401 opens the token prompt.
"use strict";

const api = (() => {
  const TOKEN_KEY = "berth.token";

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || `HTTP ${status}`);
      this.status = status;
      this.code = code || "";
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function headers(extra) {
    const h = Object.assign({ Accept: "application/json" }, extra || {});
    const t = token();
    if (t) h.Authorization = "Bearer " + t;
    return h;
  }

  function askToken() {
    const dialog = document.getElementById("token-dialog");
    if (!dialog || dialog.open) return;
    document.getElementById("token-input").value = "";
    dialog.showModal();
  }

  async function call(method, path, body) {
    const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(path, init);
    if (res.status === 401) {
      askToken();
      throw new ApiError(401, "unauthorized", "a token is needed: enter one to continue");
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    if (!res.ok) {
      throw new ApiError(res.status, data && data.error, (data && data.message) || text);
    }
    return data;
  }

  // Downloads `path` (with the token) and saves it as `filename`.
  async function download(path, filename) {
    const res = await fetch(path, { headers: headers({ Accept: "*/*" }) });
    if (res.status === 401) {
      askToken();
      throw new ApiError(401, "unauthorized", "a token is needed: enter one to continue");
    }
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      try {
        message = (await res.json()).message || message;
      } catch (_) {
        /* not JSON */
      }
      throw new ApiError(res.status, "", message);
    }
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // Runs `load` now and again `everyMs` after each finish while the tab is visible; an error is
  // shown in the status line and the next round tries again. Returns a function that runs it now.
  function poll(load, everyMs) {
    let timer = null;
    let running = false;
    let again = false; // asked for while a round was running (a filter changed): run once more
    async function round() {
      clearTimeout(timer);
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await load();
        status("");
      } catch (e) {
        status(e.message, true);
      } finally {
        running = false;
        if (again) {
          again = false;
          round();
        } else if (everyMs) {
          timer = setTimeout(round, everyMs);
        }
      }
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) round();
    });
    round();
    return round;
  }

  function status(text, isError) {
    const s = document.getElementById("status");
    if (!s) return;
    s.textContent = text || "";
    s.className = isError ? "error" : "";
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("token-form");
    if (!form) return;
    form.addEventListener("submit", () => {
      const value = document.getElementById("token-input").value.trim();
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      location.reload();
    });
    // With a token kept, the top bar offers to forget it (the next 401 asks again).
    if (token()) {
      const forget = document.createElement("button");
      forget.type = "button";
      forget.id = "forget-token";
      forget.className = "forget";
      forget.textContent = "Forget token";
      forget.addEventListener("click", () => {
        sessionStorage.removeItem(TOKEN_KEY);
        location.reload();
      });
      document.querySelector("header").appendChild(forget);
    }
  });

  return {
    ApiError,
    get: (path) => call("GET", path),
    post: (path, body) => call("POST", path, body === undefined ? {} : body),
    put: (path, body) => call("PUT", path, body),
    patch: (path, body) => call("PATCH", path, body),
    del: (path) => call("DELETE", path),
    download,
    poll,
    status,
    token,
  };
})();
