// Live updates: the server's event stream (the same feed webhooks deliver) tells the page
// that something changed; the parts that listen for "ampnexus:changed" reload themselves,
// at most once every two seconds however busy the site (a burst is one reload). The event's
// detail.kinds names the event types that came ("plan.updated session.started"), so a part
// may reload only on those it shows.
(function () {
  "use strict";
  if (!window.EventSource || !document.body.hasAttribute("hx-headers")) return;
  var EVERY_MS = 2000;
  var pending = null;
  var last = 0;
  var kinds = {};
  var source = new EventSource("/live");
  source.onmessage = function (message) {
    (message.data || "").split(" ").forEach(function (kind) { if (kind) kinds[kind] = true; });
    if (pending) return;
    var wait = Math.max(250, last + EVERY_MS - Date.now());
    pending = setTimeout(function () {
      var detail = {kinds: Object.keys(kinds).join(" ")};
      pending = null;
      kinds = {};
      last = Date.now();
      if (window.htmx) window.htmx.trigger(document.body, "ampnexus:changed", detail);
    }, wait);
  };
})();
