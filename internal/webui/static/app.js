// asana-webhooks inspector UI: local times, self-refreshing regions, the
// live event feed and its filters. No dependencies; the pages work without
// it, only less live.
"use strict";

(function () {
  // Times: the server writes UTC; show the user's local time and keep the
  // exact UTC in the title.
  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) return;
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      el.textContent = d.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      });
      el.dataset.local = "1";
    });
  }

  // Regions that refresh themselves: the body names the element and the
  // interval; the page is fetched again and the element swapped, unless the
  // user is working inside it.
  function startRefresh() {
    var id = document.body.dataset.refresh;
    var secs = parseInt(document.body.dataset.refreshSeconds, 10);
    if (!id || !secs) return;
    var busy = false;
    setInterval(function () {
      var el = document.getElementById(id);
      if (!el || busy || document.hidden) return;
      if (el.contains(document.activeElement) && document.activeElement !== document.body) return;
      busy = true;
      fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById(id);
          if (!fresh) return;
          el.replaceWith(document.importNode(fresh, true));
          localize(document);
          // A finished job page stops refreshing.
          var next = doc.body.dataset.refresh;
          if (!next) {
            delete document.body.dataset.refresh;
            document.title = doc.title;
            location.reload();
          }
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    }, secs * 1000);
  }

  // Event filters, applied in the page as the server applies them.
  function currentFilter() {
    function v(id) { var el = document.getElementById(id); return el ? el.value.trim().toLowerCase() : ""; }
    var hook = document.getElementById("f-hook");
    var hb = document.getElementById("f-heartbeats");
    return {
      hook: hook ? hook.value : "", type: v("f-type"), action: v("f-action"),
      field: v("f-field"), gid: v("f-gid"), heartbeats: hb ? hb.checked : true
    };
  }

  function has(list, v) { return (" " + (list || "") + " ").indexOf(" " + v + " ") >= 0; }

  function matches(li, f) {
    if (f.hook && li.dataset.hook !== f.hook) return false;
    var kind = li.dataset.kind;
    if (kind === "heartbeat" && !f.heartbeats) return false;
    if (!f.type && !f.action && !f.field && !f.gid) return true;
    if (kind !== "events") return false;
    // Event-level: one event must match every criterion; the row carries
    // per-delivery sets, so check each event line's data too.
    var ok = false;
    li.querySelectorAll("li.event").forEach(function (ev) {
      var d = ev.dataset;
      if ((!f.type || d.type === f.type) && (!f.action || d.action === f.action) &&
          (!f.field || d.field === f.field) && (!f.gid || has(d.gids, f.gid))) ok = true;
    });
    return ok;
  }

  function applyFilter() {
    var feed = document.getElementById("feed");
    if (!feed) return;
    var f = currentFilter(), shown = 0;
    feed.querySelectorAll("li.delivery").forEach(function (li) {
      var m = matches(li, f);
      li.hidden = !m;
      if (m) shown++;
    });
    var empty = document.getElementById("feed-empty");
    if (empty) empty.hidden = shown > 0;
  }

  // addToStat adds n to a count of the stats line, worded as the page's
  // count() words it: "1 heartbeat", "2 heartbeats".
  function addToStat(id, n) {
    var el = document.getElementById(id);
    if (!el || !n) return;
    var v = (parseInt(el.dataset.n, 10) || 0) + n;
    el.dataset.n = String(v);
    el.textContent = v + " " + (v === 1 ? el.dataset.one : el.dataset.many);
  }

  function startFeed() {
    var feed = document.getElementById("feed");
    if (!feed || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var form = document.getElementById("event-filters");
    if (form) {
      form.addEventListener("input", applyFilter);
      form.addEventListener("change", applyFilter);
    }
    var src = new EventSource("/events/stream?after=" + encodeURIComponent(feed.dataset.after || "0"));
    src.onopen = function () {
      if (status) status.textContent = "Live: new deliveries appear at the top.";
      var when = document.getElementById("stats-when");
      if (when) when.textContent = "So far";
    };
    src.onerror = function () { if (status) status.textContent = "Connection lost; reconnecting…"; };
    src.addEventListener("delivery", function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (document.getElementById("d" + msg.id)) return;
      addToStat("stat-deliveries", 1);
      if (msg.kind === "heartbeat") addToStat("stat-heartbeats", 1);
      addToStat("stat-events", msg.new_events || 0);
      var tpl = document.createElement("template");
      tpl.innerHTML = msg.html.trim();
      var li = tpl.content.firstElementChild;
      if (!li) return;
      li.classList.add("fresh");
      localize(li);
      li.hidden = !matches(li, currentFilter());
      feed.insertBefore(li, feed.firstElementChild);
      while (feed.children.length > 500) feed.removeChild(feed.lastElementChild);
      if (!li.hidden) {
        var empty = document.getElementById("feed-empty");
        if (empty) empty.hidden = true;
      }
    });
  }

  // A message about the action just done (?done=...) shows once: drop it
  // from the address, so a refresh or a bookmark does not repeat it.
  function dropDone() {
    var u = new URL(location.href);
    if (!u.searchParams.has("done")) return;
    u.searchParams.delete("done");
    u.searchParams.delete("n");
    history.replaceState(null, "", u.pathname + u.search + u.hash);
  }

  document.addEventListener("DOMContentLoaded", function () {
    dropDone();
    localize(document);
    startRefresh();
    applyFilter();
    startFeed();
  });
})();
