// The log viewer's follow-the-tail, a cap on how many lines stay in the page, error notices for htmx
// requests, and confirmations for plain forms (`data-confirm`: the page's CSP allows no inline handler).
(function () {
  "use strict";
  var MAX_LINES = 5000;

  function box() { return document.getElementById("log-box"); }
  function following() { var f = document.getElementById("follow"); return !f || f.checked; }

  function afterLines() {
    var b = box();
    if (!b) return;
    var empty = b.querySelector(".log-empty");
    if (empty && b.querySelector(".ll")) empty.remove();
    var lines = document.getElementById("log-lines");
    // A live log can grow without end: keep the newest MAX_LINES; "Show earlier lines" fetches older ones.
    if (lines && following() && lines.children.length > MAX_LINES) {
      var extra = lines.children.length - MAX_LINES;
      for (var i = 0; i < extra; i++) lines.firstElementChild.remove();
      earlierFrom(b, lines.firstElementChild);
    }
    if (following()) b.scrollTop = b.scrollHeight;
  }

  // After trimming, older lines are fetched from the first line still shown: earlier chunks loaded
  // before would otherwise sit above a hole where the trimmed lines were.
  function earlierFrom(b, first) {
    var url = b.getAttribute("sse-connect"), id = first && first.getAttribute("data-id");
    if (!url || !id || !window.htmx) return;
    b.querySelectorAll(".log-chunk, .log-earlier").forEach(function (el) { el.remove(); });
    var button = document.createElement("button");
    button.className = "btn btn-quiet log-earlier";
    button.textContent = "Show earlier lines";
    button.setAttribute("hx-get", url.replace("/logs/stream?", "/logs?").replace(/after=\d+/, "before=" + id));
    button.setAttribute("hx-swap", "outerHTML");
    b.insertBefore(button, document.getElementById("log-lines"));
    window.htmx.process(button);
  }

  // When its EventSource is closed (a 502 while the server restarts), the SSE extension opens a new one
  // from `sse-connect`, without Last-Event-ID: keep the URL's `after=` at the last line received, so
  // the stream resumes there instead of sending every line again.
  var failures = 0;
  document.addEventListener("htmx:sseMessage", function (e) {
    failures = 0;
    var b = box(), id = e.detail && e.detail.lastEventId;
    var url = b && b.getAttribute("sse-connect");
    if (url && id && /^\d+$/.test(id)) b.setAttribute("sse-connect", url.replace(/([?&]after=)\d+/, "$1" + id));
    afterLines();
  });
  // A stream refused again and again (signed out, deployment deleted) stops retrying and says so.
  document.addEventListener("htmx:sseError", function (e) {
    var source = e.detail && e.detail.source;
    if (!source || source.readyState !== 2 || ++failures < 5) return;
    var b = box();
    if (b) b.removeAttribute("sse-connect");
    var state = document.getElementById("log-state");
    if (state) state.textContent = "disconnected: reload the page to resume";
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.target && e.target.id === "log-panel") afterLines();
  });
  document.addEventListener("htmx:sseClose", function () {
    var state = document.getElementById("log-state");
    if (state) state.textContent = "finished";
  });
  // htmx leaves the page as it was on an error answer; a button press must not fail silently.
  document.addEventListener("htmx:responseError", function (e) {
    var flash = document.getElementById("flash");
    if (!flash || e.detail.requestConfig.verb === "get") return;
    var status = e.detail.xhr.status;
    var note = document.createElement("div");
    note.className = "notice notice-error";
    note.setAttribute("role", "alert");
    note.textContent = status === 403
      ? "This page has expired (its security token is no longer valid). Reload it and try again."
      : "The server answered with an error (HTTP " + status + "). Reload the page and try again.";
    flash.replaceChildren(note);
  });
  document.addEventListener("htmx:sendError", function (e) {
    var flash = document.getElementById("flash");
    if (!flash || e.detail.requestConfig.verb === "get") return;
    var note = document.createElement("div");
    note.className = "notice notice-error";
    note.textContent = "previewd could not be reached. Check your connection and try again.";
    flash.replaceChildren(note);
  });

  document.addEventListener("submit", function (e) {
    var message = e.target && e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) e.preventDefault();
  }, true);

  // Scrolling up to read stops following; scrolling back to the bottom resumes it.
  document.addEventListener("scroll", function (e) {
    var b = box(), f = document.getElementById("follow");
    if (!b || e.target !== b || !f) return;
    f.checked = b.scrollHeight - b.scrollTop - b.clientHeight < 40;
  }, true);
})();
