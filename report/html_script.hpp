// The report's one inline script: it redraws the plots from the data the page carries, so that
// smoothing, axes, hidden runs and zoom change in the browser, offline, without a server.
#pragma once

namespace genbox::report {

// Reads the JSON in <script id="report-data">: {"smoothing", "x": "step"|"time", "time_unit",
// "time_name", "plots": [{"group", "title", "log", "curves": [{"run", "label", "color", "step",
// "time", "y"}]}]}; plot i is drawn into the element with data-plot="i", replacing the SVG the
// page was written with. Controls and elements it wires up, by attribute: data-control="smoothing|
// x|y", data-toggle="GROUP:RUN" (legend entries), table.sortable, data-samples="GROUP" (step
// sliders over figures whose <img>s carry data-step), img.zoomable (opens full size).
// When it has run without an exception it sets data-report="ready" on <html> (else "error: ...");
// with #selftest in the URL it checks that hiding a run and smoothing change the drawing, that
// smoothing leaves plots of only short curves as they were, and writes the outcome into
// <pre id="selftest"> ("hide:changed show:restored smooth:changed short:kept paths:N").
extern const char* const kReportScript;

}  // namespace genbox::report
