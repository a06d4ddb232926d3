// Live updates: the server's event stream (the same feed webhooks deliver) tells the page
// that something changed; the parts that listen for "ampnexus:changed" reload themselves.
(function () {
  "use strict";
  if (!window.EventSource || !document.body.hasAttribute("hx-headers")) return;
  var pending = null;
  var source = new EventSource("/live");
  source.onmessage = function () {
    if (pending) return;  // a burst of events: one reload
    pending = setTimeout(function () {
      pending = null;
      if (window.htmx) window.htmx.trigger(document.body, "ampnexus:changed");
    }, 250);
  };
})();
