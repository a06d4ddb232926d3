// Charts over uPlot, drawn from JSON the page embeds: an element with data-chart="ID" is
// drawn from <script type="application/json" id="ID">, whose object holds
//   zone   the IANA time zone the time axis shows (the site's),
//   x      times, in seconds since 1970,
//   axes   {left: "kW", right: "price"}: the unit of each value axis (right is optional),
//   series [{label, unit, values, color, axis: "left"|"right", fill, stack, dash, step}].
// Series with `stack` are drawn on top of one another (each band filled); the legend still
// shows each one's own value. The uPlot instance is kept on the element as `_uplot`.
(function () {
  "use strict";
  var HEIGHT = 320;

  function translucent(color) {
    return color.length === 7 ? color + "33" : color;  // #rrggbb -> 20% opacity
  }

  function stacked(series) {
    // Cumulative sums of the stacked series, in order; other series as they are.
    var below = null;
    return series.map(function (s) {
      if (!s.stack) return s.values;
      var values = s.values.map(function (v, i) {
        return (v || 0) + (below ? below[i] : 0);
      });
      below = values;
      return values;
    });
  }

  function bands(series) {
    var out = [], previous = null;
    series.forEach(function (s, i) {
      if (!s.stack) return;
      if (previous !== null) out.push({series: [i + 1, previous + 1], fill: translucent(s.color)});
      previous = i;
    });
    return out;
  }

  function timeLabels(tzDate) {
    // 24-hour clock times in the site's zone; a split at midnight names its day instead.
    var clock = uPlot.fmtDate("{HH}:{mm}"), day = uPlot.fmtDate("{MMM} {D}");
    return function (u, splits) {
      return splits.map(function (ts) {
        var at = tzDate(ts);
        return at.getHours() === 0 && at.getMinutes() === 0 ? day(at) : clock(at);
      });
    };
  }

  function options(spec, width) {
    var dots = spec.x.length <= 60;  // a few readings: show each; a plan's slots: just lines
    var firstStacked = spec.series.findIndex(function (s) { return s.stack; });
    var series = [{label: "Time"}].concat(spec.series.map(function (s, i) {
      return {
        label: s.label + " (" + s.unit + ")",
        stroke: s.color,
        width: s.stack ? 1 : 2,
        dash: s.dash || undefined,
        scale: s.axis === "right" ? "right" : "left",
        spanGaps: false,
        fill: (s.fill || (s.stack && i === firstStacked)) ? translucent(s.color) : undefined,
        paths: s.step ? uPlot.paths.stepped({align: 1}) : undefined,
        points: {show: dots},
        // The legend tells a stacked series' own value, not the height of its band's top.
        value: function (u, v, seriesIndex, index) {
          var own = index == null ? null : s.values[index];
          return own == null ? "\u2013" : (+own).toFixed(2) + " " + s.unit;
        },
      };
    }));
    var tzDate = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), spec.zone || "UTC"); };
    var axes = [{values: timeLabels(tzDate)}, {scale: "left", label: spec.axes.left, size: 60}];
    var scales = {x: {time: true}, left: {range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.1 : 1]; }}};
    if (spec.axes.right) {
      axes.push({scale: "right", label: spec.axes.right, side: 1, size: 60, grid: {show: false}});
      // From zero, with headroom: a price line stays clear of the kW lines at the top.
      scales.right = {range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.4 : 1]; }};
    }
    return {
      width: width,
      height: HEIGHT,
      tzDate: tzDate,
      series: series,
      axes: axes,
      scales: scales,
      bands: bands(spec.series),
      legend: {live: true},
      cursor: {focus: {prox: 16}},
    };
  }

  function draw(element) {
    var source = document.getElementById(element.getAttribute("data-chart"));
    if (!source || element._uplot || !window.uPlot) return;
    var spec = JSON.parse(source.textContent);
    var data = [spec.x].concat(stacked(spec.series));
    var width = Math.max(280, element.clientWidth || 600);
    element._uplot = new uPlot(options(spec, width), data, element);
    element._spec = spec;
  }

  function drawAll(root) {
    root.querySelectorAll("[data-chart]").forEach(draw);  // drawn ones are skipped
  }

  function fit() {
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      if (element._uplot) element._uplot.setSize({width: Math.max(280, element.clientWidth), height: HEIGHT});
    });
  }

  drawAll(document);
  // A fragment reloaded by htmx brings its chart's new JSON: draw it once it is in place.
  document.body.addEventListener("htmx:afterSettle", function () { drawAll(document); });
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(fit, 150);
  });
})();
