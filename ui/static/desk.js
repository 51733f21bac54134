/* The reviewer desk's behaviour: live countdowns, keyboard shortcuts, giving an item back when
   its page closes. External on purpose: the Content-Security-Policy forbids inline script. */
(function () {
  "use strict";

  // Countdowns use the server's clock: a reviewer's laptop may be minutes off.
  var serverNow = Date.parse(document.body.getAttribute("data-server-now") || "");
  var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();

  function format(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
  }

  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var deadline = Date.parse(el.getAttribute("data-deadline"));
      var start = Date.parse(el.getAttribute("data-start"));
      if (isNaN(deadline)) return;
      var left = deadline - now;
      var budget = deadline - start;
      // Amber once 80% of the latency budget is spent: time to pick this one up.
      var late = !isNaN(start) && budget > 0 && (now - start) / budget >= 0.8;
      el.textContent = left > 0 ? format(left) : "due now";
      el.classList.toggle("is-amber", late && left > 0);
      el.classList.toggle("is-over", left <= 0);
      var row = el.closest("tr");
      if (row) row.classList.toggle("row-amber", late);
    });
  }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function press(selector) {
    var el = document.querySelector(selector);
    if (el && !el.disabled) el.click();
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && ev.target.id === "reply") {
      ev.preventDefault();
      press("button[form='edit-form']");
      return;
    }
    if (ev.key === "Escape" && typing(ev.target)) { ev.target.blur(); return; }
    if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var reply = document.getElementById("reply");
    switch (ev.key) {
      case "a": press("button[data-key='a']"); break;
      case "t": press("button[data-key='t']"); break;
      case "e":
        if (reply && !reply.readOnly) {
          ev.preventDefault();
          reply.focus();
          reply.setSelectionRange(reply.value.length, reply.value.length);
        }
        break;
      case "j": step(1); break;
      case "k": step(-1); break;
      default: return;
    }
  });

  // j/k: on an item page, the next/previous item; in a table, move between rows.
  function step(dir) {
    var link = document.getElementById(dir > 0 ? "next-item" : "prev-item");
    if (link) { link.click(); return; }
    var rows = Array.prototype.slice.call(document.querySelectorAll("a.row-link"));
    if (!rows.length) return;
    var at = rows.indexOf(document.activeElement);
    var next = rows[Math.min(rows.length - 1, Math.max(0, at + dir))];
    if (at < 0) next = rows[0];
    next.focus();
  }

  // Leaving an item's page gives the item back, unless an action already ended it.
  var acting = false;
  document.addEventListener("submit", function () { acting = true; });
  document.addEventListener("htmx:beforeRequest", function (ev) {
    var path = (ev.detail && ev.detail.requestConfig && ev.detail.requestConfig.path) || "";
    if (!/heartbeat$/.test(path)) acting = true;
  });
  document.addEventListener("htmx:afterRequest", function (ev) {
    var xhr = ev.detail && ev.detail.xhr;
    if (!xhr || xhr.status >= 300) acting = false;
  });
  window.addEventListener("pagehide", function () {
    var page = document.querySelector("[data-leave-url]");
    var csrf = document.querySelector("input[name='_csrf']");
    if (!page || !csrf || acting || !navigator.sendBeacon) return;
    var data = new FormData();
    data.append("_csrf", csrf.value);
    data.append("hold", page.getAttribute("data-hold") || "");
    navigator.sendBeacon(page.getAttribute("data-leave-url"), data);
  });

  // The Reply is editable exactly when the actions are: the live status re-renders
  // #review-actions (someone's hold ended or began, the item ended) and this follows it.
  // Toggled rather than re-rendered, so nothing typed into it is lost.
  function syncReply() {
    var actions = document.getElementById("review-actions");
    var reply = document.getElementById("reply");
    if (!actions || !reply) return;
    var readOnly = actions.getAttribute("data-can-act") !== "true";
    if (reply.readOnly === readOnly) return;
    reply.readOnly = readOnly;
    if (readOnly && document.activeElement === reply) reply.blur();
  }
  ["htmx:wsAfterMessage", "htmx:oobAfterSwap", "htmx:afterSettle"].forEach(function (name) {
    document.addEventListener(name, syncReply);
  });

  // The live dot (and the browser tests) can tell whether updates are flowing.
  document.addEventListener("htmx:wsOpen", function () { document.body.setAttribute("data-live", "open"); });
  document.addEventListener("htmx:wsClose", function () { document.body.setAttribute("data-live", "closed"); });
  document.addEventListener("htmx:afterSettle", tick);
  document.addEventListener("htmx:wsAfterMessage", tick);
  tick();
  setInterval(tick, 1000);
})();
