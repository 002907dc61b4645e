#include "report/html_script.hpp"

namespace genbox::report {

const char* const kReportScript = R"js((function () {
"use strict";
var W = 480, H = 300, L = 56, R = 16, T = 30, B = 42;
// A curve of fewer points is drawn as it is: smoothing a few evaluations only shifts them.
var MIN_SMOOTHED = 30, MARKED = 60;
var data = JSON.parse(document.getElementById("report-data").textContent);
var state = {smoothing: data.smoothing, x: data.x, y: "auto", hidden: {}, zoom: {}};

function esc(s) {
  return String(s).replace(/[&<>"']/g, function (c) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
  });
}
// TensorBoard's smoothing: an EMA debiased by the weight it has accumulated, so the first points
// are not pulled towards zero.
function smooth(y, w) {
  if (!(w > 0) || y.length < MIN_SMOOTHED) return y;
  var out = [], last = 0;
  for (var i = 0; i < y.length; i++) {
    last = last * w + (1 - w) * y[i];
    out.push(last / (1 - Math.pow(w, i + 1)));
  }
  return out;
}
function linearTicks(lo, hi, target) {
  if (!(hi > lo)) return [lo];
  var raw = (hi - lo) / target, mag = Math.pow(10, Math.floor(Math.log10(raw))), n = raw / mag;
  var step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag, ticks = [];
  for (var k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9 && ticks.length < 40; k++) ticks.push(k * step);
  return ticks;
}
function logTicks(lo, hi) {
  var a = Math.ceil(Math.log10(lo) - 1e-9), b = Math.floor(Math.log10(hi) + 1e-9);
  if (b - a < 1) return linearTicks(lo, hi, 5);
  var stride = Math.max(1, Math.floor((b - a + 5) / 6)), ticks = [];
  for (var e = a; e <= b; e += stride) ticks.push(Math.pow(10, e));
  return ticks;
}
function tickLabel(v, largest) {
  if (v === 0) return "0";
  if (largest >= 1e6) return +(v / 1e6).toPrecision(6) + "M";
  if (largest >= 1e4) return +(v / 1e3).toPrecision(6) + "k";
  if (Math.abs(v) >= 1e-3) return String(+v.toPrecision(6));
  var e = Math.floor(Math.log10(Math.abs(v)) + 1e-9);
  return +(v / Math.pow(10, e)).toPrecision(6) + "e" + e;
}
function fmt(v) { return v === null || v === undefined ? "-" : String(+v.toPrecision(5)); }

// The curves of plot p as drawn now: x per the axis, y smoothed, hidden runs left out.
function drawnCurves(p) {
  var curves = [];
  p.curves.forEach(function (c) {
    if (state.hidden[p.group + ":" + c.run]) return;
    var xs = [], ys = [];
    for (var i = 0; i < c.y.length; i++) {
      var x = state.x === "time" ? (c.time[i] === null ? null : c.time[i] / data.time_unit) : c.step[i];
      if (x !== null) { xs.push(x); ys.push(c.y[i]); }
    }
    curves.push({c: c, x: xs, raw: ys, y: smooth(ys, state.smoothing)});
  });
  return curves;
}

function render(index) {
  var p = data.plots[index], box = document.querySelector('[data-plot="' + index + '"]');
  if (!box) return;
  var curves = drawnCurves(p), zoom = state.zoom[index];
  var xl = Infinity, xh = -Infinity, yl = Infinity, yh = -Infinity;
  curves.forEach(function (d) {
    for (var i = 0; i < d.x.length; i++) {
      if (zoom && (d.x[i] < zoom[0] || d.x[i] > zoom[1])) continue;
      xl = Math.min(xl, d.x[i]); xh = Math.max(xh, d.x[i]);
      yl = Math.min(yl, d.raw[i], d.y[i]); yh = Math.max(yh, d.raw[i], d.y[i]);
    }
  });
  if (zoom) { xl = zoom[0]; xh = zoom[1]; }
  if (!(xh >= xl)) { xl = 0; xh = 1; }
  if (!(yh >= yl)) { yl = 0; yh = 1; }
  var log = (state.y === "log" || (state.y === "auto" && p.log)) && yl > 0;
  if (log) { yl = Math.log10(yl); yh = Math.log10(yh); }
  if (xh === xl) { xl -= 1; xh += 1; }
  if (yh === yl) { var pad = log ? 0.5 : (yl !== 0 ? Math.abs(yl) * 0.1 : 1); yl -= pad; yh += pad; }
  var yp = 0.04 * (yh - yl); yl -= yp; yh += yp;
  var px = function (x) { return L + (x - xl) / (xh - xl) * (W - R - L); };
  var py = function (y) { return H - B + ((log ? Math.log10(y) : y) - yl) / (yh - yl) * (T - (H - B)); };
  var xTicks = linearTicks(xl, xh, 6);
  var yTicks = log ? logTicks(Math.pow(10, yl), Math.pow(10, yh)) : linearTicks(yl, yh, 5);
  var xLargest = Math.max.apply(null, xTicks.map(Math.abs)), yLargest = Math.max.apply(null, yTicks.map(Math.abs));
  var s = '<svg class="plot" viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="' + esc(p.title) + '">' +
      '<text x="' + L + '" y="19" font-size="13" font-weight="600" fill="#222">' + esc(p.title) + "</text>";
  if (log) s += '<text x="' + (W - R) + '" y="19" font-size="10" fill="#888" text-anchor="end">log scale</text>';
  var grid = "", labels = "";
  yTicks.forEach(function (t) {
    var y = py(t).toFixed(1);
    grid += '<line x1="' + L + '" y1="' + y + '" x2="' + (W - R) + '" y2="' + y + '"/>';
    labels += '<text x="' + (L - 6) + '" y="' + (+y + 3.5) + '" text-anchor="end">' +
        tickLabel(t, log ? Math.abs(t) : yLargest) + "</text>";
  });
  xTicks.forEach(function (t) {
    var x = px(t).toFixed(1);
    grid += '<line x1="' + x + '" y1="' + T + '" x2="' + x + '" y2="' + (H - B) + '"/>';
    labels += '<text x="' + x + '" y="' + (H - B + 14) + '" text-anchor="middle">' + tickLabel(t, xLargest) + "</text>";
  });
  s += '<g stroke="#ececec">' + grid + '</g><rect x="' + L + '" y="' + T + '" width="' + (W - L - R) + '" height="' +
      (H - T - B) + '" fill="none" stroke="#bbb"/><g font-size="10" fill="#666">' + labels +
      '<text x="' + (L + W - R) / 2 + '" y="' + (H - 8) + '" text-anchor="middle" fill="#444">' +
      (state.x === "time" ? "wall time (" + data.time_name + ")" : "step") + "</text></g>";
  s += '<clipPath id="clip' + index + '"><rect x="' + L + '" y="' + T + '" width="' + (W - L - R) + '" height="' +
      (H - T - B) + '"/></clipPath><g clip-path="url(#clip' + index + ')">';
  var path = function (xs, ys, dots) {
    var d = "";
    for (var i = 0; i < xs.length; i++)
      d += (dots || i === 0 ? "M" : "L") + px(xs[i]).toFixed(1) + " " + py(ys[i]).toFixed(1) + (dots ? "h0" : "");
    return d;
  };
  curves.forEach(function (d) {
    if (d.y !== d.raw && d.x.length > 1)
      s += '<path d="' + path(d.x, d.raw) + '" fill="none" stroke="' + d.c.color + '" stroke-opacity="0.22"/>';
  });
  curves.forEach(function (d) {
    var title = "<title>" + esc(d.c.label) + "</title>";
    if (d.x.length > 1)
      s += '<path class="curve" data-run="' + d.c.run + '" d="' + path(d.x, d.y) + '" fill="none" stroke="' +
          d.c.color + '" stroke-width="1.6" stroke-linejoin="round">' + title + "</path>";
    if (d.x.length && d.x.length <= MARKED)
      s += '<path class="curve" data-run="' + d.c.run + '" d="' + path(d.x, d.y, true) + '" stroke="' + d.c.color +
          '" stroke-width="5" stroke-linecap="round">' + title + "</path>";
  });
  s += '</g><line class="cursor" y1="' + T + '" y2="' + (H - B) + '" stroke="#999" visibility="hidden"/>' +
      '<rect class="selection" y="' + T + '" height="' + (H - T - B) + '" fill="#4e79a7" fill-opacity="0.12" ' +
      'visibility="hidden"/></svg><div class="tip" hidden></div>';
  box.innerHTML = s;
  wirePlot(box, index, curves, px, xl, xh);
}

function nearest(xs, x) {
  var lo = 0, hi = xs.length - 1;
  while (hi - lo > 1) { var mid = (lo + hi) >> 1; if (xs[mid] < x) lo = mid; else hi = mid; }
  return Math.abs(xs[lo] - x) <= Math.abs(xs[hi] - x) ? lo : hi;
}

// Hover: every run's value at the nearest point. Drag: zoom into an x range; double click: back.
function wirePlot(box, index, curves, px, xl, xh) {
  var svg = box.querySelector("svg"), cursor = svg.querySelector(".cursor"), sel = svg.querySelector(".selection");
  var tip = box.querySelector(".tip"), dragFrom = null;
  var toSvgX = function (e) { var r = svg.getBoundingClientRect(); return (e.clientX - r.left) * W / r.width; };
  var toData = function (sx) { return xl + (sx - L) / (W - R - L) * (xh - xl); };
  svg.addEventListener("mousemove", function (e) {
    var sx = toSvgX(e);
    if (dragFrom !== null) {
      sel.setAttribute("x", Math.min(dragFrom, sx)); sel.setAttribute("width", Math.abs(sx - dragFrom));
      sel.setAttribute("visibility", "visible");
    }
    if (sx < L || sx > W - R || !curves.length) { cursor.setAttribute("visibility", "hidden"); tip.hidden = true; return; }
    var x = toData(sx), rows = "", at = null;
    curves.forEach(function (d) {
      if (!d.x.length) return;
      var i = nearest(d.x, x);
      if (at === null) at = d.x[i];
      rows += '<div><span class="swatch" style="background:' + d.c.color + '"></span>' + esc(d.c.label) + ": <b>" +
          fmt(d.y[i]) + "</b>" + (d.y !== d.raw ? " (raw " + fmt(d.raw[i]) + ")" : "") +
          ' <span class="at">@' + fmt(d.x[i]) + "</span></div>";
    });
    if (at === null) return;
    cursor.setAttribute("x1", px(at)); cursor.setAttribute("x2", px(at)); cursor.setAttribute("visibility", "visible");
    tip.innerHTML = "<div>" + (state.x === "time" ? data.time_name + " " : "step ") + fmt(at) + "</div>" + rows;
    tip.hidden = false;
    var r = svg.getBoundingClientRect();
    tip.style.left = Math.min(e.clientX - r.left + 14, r.width - tip.offsetWidth) + "px";
    tip.style.top = (e.clientY - r.top + 14) + "px";
  });
  svg.addEventListener("mouseleave", function () {
    cursor.setAttribute("visibility", "hidden"); tip.hidden = true;
    dragFrom = null; sel.setAttribute("visibility", "hidden");
  });
  svg.addEventListener("mousedown", function (e) { dragFrom = toSvgX(e); e.preventDefault(); });
  svg.addEventListener("mouseup", function (e) {
    if (dragFrom === null) return;
    var a = toData(Math.min(dragFrom, toSvgX(e))), b = toData(Math.max(dragFrom, toSvgX(e)));
    var moved = Math.abs(toSvgX(e) - dragFrom) > 5;
    dragFrom = null;
    if (moved) { state.zoom[index] = [a, b]; render(index); }
  });
  svg.addEventListener("dblclick", function () { delete state.zoom[index]; render(index); });
}

function renderAll() { for (var i = 0; i < data.plots.length; i++) render(i); }

function wireControls() {
  document.querySelectorAll("[data-control]").forEach(function (el) {
    var name = el.getAttribute("data-control"), out = document.querySelector('[data-shows="' + name + '"]');
    var apply = function () {
      state[name] = name === "smoothing" ? +el.value : el.value;
      if (out) out.textContent = el.value;
      if (name === "x") state.zoom = {};
      renderAll();
    };
    el.addEventListener("input", apply);
    el.addEventListener("change", apply);
  });
  document.querySelectorAll("[data-toggle]").forEach(function (el) {
    el.addEventListener("click", function () {
      var key = el.getAttribute("data-toggle");
      state.hidden[key] = !state.hidden[key];
      el.classList.toggle("off", state.hidden[key]);
      renderAll();
    });
  });
}

function wireSorting() {
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, column) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var down = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", down ? "ascending" : "descending");
        var key = function (row) {
          var cell = row.cells[column], v = cell.getAttribute("data-v");
          return v !== null ? +v : cell.textContent;
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return down ? c : -c;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
}

// Each figure shows its latest grid at or before the slider's step.
function wireSamples() {
  document.querySelectorAll("input[data-samples]").forEach(function (slider) {
    var group = slider.getAttribute("data-samples"), steps = JSON.parse(slider.getAttribute("data-steps"));
    var out = document.querySelector('[data-shows="samples-' + group + '"]');
    slider.addEventListener("input", function () {
      var step = steps[+slider.value];
      if (out) out.textContent = step;
      document.querySelectorAll('[data-grids="' + group + '"] figure').forEach(function (fig) {
        var shown = null;
        fig.querySelectorAll("img[data-step]").forEach(function (img) {
          if (+img.getAttribute("data-step") <= step) shown = img;
        });
        fig.querySelectorAll("img[data-step]").forEach(function (img) { img.hidden = img !== shown; });
        var at = fig.querySelector(".at-step");
        if (at) at.textContent = shown ? "step " + shown.getAttribute("data-step") : "no grid yet";
      });
    });
  });
  var overlay = document.getElementById("lightbox"), big = document.createElement("img");
  overlay.insertBefore(big, overlay.firstChild);
  document.querySelectorAll("img.zoomable").forEach(function (img) {
    img.addEventListener("click", function () {
      big.src = img.src;
      big.alt = img.alt;
      var scale = Math.max(1, Math.floor(Math.min(innerWidth * 0.94 / img.naturalWidth,
                                                  innerHeight * 0.9 / img.naturalHeight)));
      big.style.width = img.naturalWidth * scale + "px";
      overlay.querySelector(".caption").textContent = img.alt;
      overlay.hidden = false;
    });
  });
  overlay.addEventListener("click", function () { overlay.hidden = true; });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") overlay.hidden = true; });
}

function selfTest() {
  var drawn = function (selector) {
    return Array.prototype.map.call(document.querySelectorAll(selector || "[data-plot] path"), function (p) {
      return p.getAttribute("d");
    }).join("|");
  };
  // The plots whose every curve is too short to smooth: smoothing must leave them as they are.
  var short = data.plots.map(function (p, i) { return i; }).filter(function (i) {
    return data.plots[i].curves.every(function (c) { return c.y.length < MIN_SMOOTHED; });
  }).map(function (i) { return '[data-plot="' + i + '"] path'; }).join(",");
  var shortBefore = short ? drawn(short) : "";
  var results = [], before = drawn(), toggle = document.querySelector("[data-toggle]");
  if (toggle) {
    toggle.click();
    results.push("hide:" + (drawn() !== before ? "changed" : "same"));
    toggle.click();
    results.push("show:" + (drawn() === before ? "restored" : "different"));
  }
  var slider = document.querySelector('[data-control="smoothing"]');
  slider.value = 0.9;
  slider.dispatchEvent(new Event("input"));
  results.push("smooth:" + (drawn() !== before ? "changed" : "same"));
  results.push("short:" + (!short || drawn(short) === shortBefore ? "kept" : "distorted"));
  results.push("paths:" + document.querySelectorAll("[data-plot] path.curve").length);
  document.getElementById("selftest").textContent = results.join(" ");
}

try {
  wireControls();
  wireSorting();
  wireSamples();
  renderAll();
  if (location.hash === "#selftest") selfTest();
  document.documentElement.setAttribute("data-report", "ready");
} catch (e) {
  document.documentElement.setAttribute("data-report", "error: " + e);
  throw e;
}
})();
)js";

}  // namespace genbox::report
