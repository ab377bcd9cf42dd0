/* Draws the course's explorers (dlopt.explorers) with D3.
 *
 * Each explorer on a page is a <div class="dlopt-explorer"> holding its data as JSON:
 * controls, precomputed cases (arrays in base64 float32, scalars as numbers) and the
 * description of its panels. This script computes nothing about the optimization: it
 * looks up the case that the controls select and draws its arrays and numbers.
 * It may be loaded more than once on a page (once per explorer); it initializes each
 * explorer once.
 */
(function () {
  "use strict";
  if (window.dloptExplorers) {
    window.dloptExplorers.initAll();
    return;
  }
  var counter = 0;

  function decode(base64) {
    var bytes = atob(base64);
    var buffer = new ArrayBuffer(bytes.length);
    var view = new Uint8Array(buffer);
    for (var i = 0; i < bytes.length; i++) view[i] = bytes.charCodeAt(i);
    return new Float32Array(buffer);
  }

  function el(tag, attrs, parent, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function formatNumber(value, spec, none) {
    if (value === null || value === undefined || !isFinite(value)) return none || "none";
    if (spec === "d") return String(Math.round(value));
    return d3.format(spec || ".3~g")(value);
  }

  // powers of ten on a log axis: 0.01 ... 1000 as decimals, smaller and larger as 1e-6
  function logTick(v) {
    var k = Math.round(Math.log10(v));
    if (Math.abs(v / Math.pow(10, k) - 1) > 1e-6) return "";
    return k >= -2 && k <= 3 ? d3.format("~g")(v) : "1e" + k;
  }

  function Explorer(root) {
    this.root = root;
    this.spec = JSON.parse(root.querySelector("script.dlopt-explorer-data").textContent);
    this.uid = "dlopt-ex-" + this.spec.name + "-" + (++counter);
    this.state = this.spec.controls.map(function (c) { return c.initial; });
    var arrays = {};
    var specArrays = this.spec.arrays;
    Object.keys(specArrays).forEach(function (key) {
      var a = specArrays[key];
      var size = a.shape.reduce(function (p, n) { return p * n; }, 1);
      arrays[key] = { data: decode(a.data), size: size, shape: a.shape };
    });
    this.arrays = arrays;
    this.build();
    this.update();
    root.setAttribute("data-ready", "true");
  }

  Explorer.prototype.caseIndex = function (override) {
    var controls = this.spec.controls;
    var state = this.state.slice();
    Object.keys(override || {}).forEach(function (name) {
      controls.forEach(function (c, i) {
        if (c.name === name) {
          var j = c.values.indexOf(override[name]);
          if (j >= 0) state[i] = j;
        }
      });
    });
    var index = 0;
    controls.forEach(function (c, i) { index = index * c.values.length + state[i]; });
    return index;
  };

  Explorer.prototype.array = function (key, override) {
    var a = this.arrays[key];
    var start = this.caseIndex(override) * a.size;
    return a.data.subarray(start, start + a.size);
  };

  Explorer.prototype.scalar = function (key, override) {
    return this.spec.scalars[key][this.caseIndex(override)];
  };

  Explorer.prototype.build = function () {
    var self = this;
    var root = this.root;
    var fallback = root.querySelector(".dlopt-explorer-fallback");
    if (fallback) fallback.remove();
    var form = el("form", { class: "dlopt-explorer-controls", "aria-label": "settings" }, root);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    this.inputs = [];
    this.outputs = [];
    this.markBoxes = {};
    this.spec.controls.forEach(function (c, i) {
      var id = self.uid + "-" + c.name;
      if (c.kind === "range") {
        var box = el("div", { class: "dlopt-control dlopt-range" }, form);
        var label = el("label", { for: id }, box, c.label + ": ");
        var output = el("output", { for: id, id: id + "-value" }, label, c.labels[c.initial]);
        var input = el("input", {
          type: "range", id: id, name: c.name, min: 0, max: c.values.length - 1, step: 1,
          value: c.initial, "aria-valuetext": c.labels[c.initial]
        }, box);
        input.addEventListener("input", function () {
          self.state[i] = Number(input.value);
          self.update();
        });
        self.inputs.push(input);
        self.outputs.push(output);
        if (self.spec.marks[c.name]) {
          var marks = el("div", { class: "dlopt-marks", "aria-hidden": "true" }, box);
          var text = el("p", { class: "dlopt-marks-text", id: id + "-marks" }, box);
          input.setAttribute("aria-describedby", id + "-marks");
          self.markBoxes[c.name] = { bar: marks, text: text, control: c };
        }
      } else {
        var fieldset = el("fieldset", { class: "dlopt-control dlopt-choice" }, form);
        el("legend", {}, fieldset, c.label);
        var radios = c.labels.map(function (text, j) {
          var span = el("span", { class: "dlopt-radio" }, fieldset);
          var radio = el("input", {
            type: "radio", name: self.uid + "-" + c.name, id: id + "-" + j, value: j
          }, span);
          if (j === c.initial) radio.checked = true;
          el("label", { for: id + "-" + j }, span, text);
          radio.addEventListener("change", function () {
            if (radio.checked) {
              self.state[i] = j;
              self.update();
            }
          });
          return radio;
        });
        self.inputs.push(radios);
        self.outputs.push(null);
      }
    });
    var panels = el("div", { class: "dlopt-explorer-panels" }, root);
    this.panels = this.spec.panels.map(function (p, k) { return self.buildPanel(p, k, panels); });
    this.readouts = el("dl", { class: "dlopt-readouts" }, root);
    this.readoutValues = this.spec.readouts.map(function (r) {
      el("dt", {}, self.readouts, r.label);
      return el("dd", { "data-readout": r.scalar }, self.readouts);
    });
    this.status = el("p", { class: "dlopt-explorer-status", role: "status",
                             "aria-live": "polite" }, root);
  };

  Explorer.prototype.buildPanel = function (p, k, parent) {
    var figure = el("figure", { class: "dlopt-panel" }, parent);
    var width = 360, margin = { top: 10, right: 12, bottom: 40, left: 56 };
    var plotW = width - margin.left - margin.right;
    var plotH = 200;
    var xd = p.x.domain, yd = p.y.domain;
    if (p.aspect === "equal") plotH = plotW * (yd[1] - yd[0]) / (xd[1] - xd[0]);
    var height = plotH + margin.top + margin.bottom;
    var scaleOf = function (axis, range) {
      var s = axis.scale === "log" ? d3.scaleLog() : d3.scaleLinear();
      return s.domain(axis.domain).range(range);
    };
    var x = scaleOf(p.x, [0, plotW]);
    var y = scaleOf(p.y, [plotH, 0]);
    var svg = d3.select(figure).append("svg")
      .attr("viewBox", "0 0 " + width + " " + height)
      .attr("role", "img")
      .attr("aria-labelledby", this.uid + "-panel-" + k + "-caption");
    var clipId = this.uid + "-clip-" + k;
    svg.append("clipPath").attr("id", clipId).append("rect")
      .attr("width", plotW).attr("height", plotH);
    var g = svg.append("g").attr("transform", "translate(" + margin.left + "," + margin.top + ")");
    var xTicks = p.x.scale === "log" ? 4 : 5;
    var xAxis = p.x.scale === "log" ? d3.axisBottom(x).ticks(xTicks, "~s") : d3.axisBottom(x).ticks(xTicks);
    var yAxis = d3.axisLeft(y).ticks(5);
    if (p.y.scale === "log") yAxis = d3.axisLeft(y).ticks(5, "~g").tickFormat(logTick);
    g.append("g").attr("class", "dlopt-axis").attr("transform", "translate(0," + plotH + ")")
      .call(xAxis);
    g.append("g").attr("class", "dlopt-axis").call(yAxis);
    g.append("text").attr("class", "dlopt-axis-label")
      .attr("x", plotW / 2).attr("y", plotH + 34).attr("text-anchor", "middle").text(p.x.label);
    g.append("text").attr("class", "dlopt-axis-label")
      .attr("transform", "rotate(-90)").attr("x", -plotH / 2).attr("y", -44)
      .attr("text-anchor", "middle").text(p.y.label);
    var plot = g.append("g").attr("clip-path", "url(#" + clipId + ")");
    var pairs = d3.line()
      .defined(function (d) { return isFinite(d[0]) && isFinite(d[1]); })
      .x(function (d) { return x(d[0]); }).y(function (d) { return y(d[1]); });
    (p.background || []).forEach(function (line) {
      var pts = [];
      for (var i = 0; i + 1 < line.points.length; i += 2) pts.push([line.points[i], line.points[i + 1]]);
      plot.append("path").attr("class", "dlopt-contour").attr("d", pairs(pts));
    });
    (p.hlines || []).forEach(function (h) {
      plot.append("line").attr("class", "dlopt-hline")
        .attr("x1", 0).attr("x2", plotW).attr("y1", y(h.y)).attr("y2", y(h.y));
      plot.append("text").attr("class", "dlopt-hline-label")
        .attr("x", plotW - 4).attr("y", y(h.y) + (h.below ? 13 : -4)).attr("text-anchor", "end")
        .text(h.label);
    });
    (p.points || []).forEach(function (pt) {
      plot.append("path").attr("class", "dlopt-point")
        .attr("d", d3.symbol(d3.symbolStar, 60)())
        .attr("transform", "translate(" + x(pt.x) + "," + y(pt.y) + ")")
        .append("title").text(pt.label);
    });
    var series = p.series.map(function (s, j) {
      var path = plot.append("path").attr("class", "dlopt-series")
        .attr("data-series", String(j)).attr("stroke", s.color)
        .attr("stroke-dasharray", s.dash ? "5,4" : null);
      var markers = s.markers ? plot.append("g").attr("fill", s.color) : null;
      return { spec: s, path: path, markers: markers };
    });
    var dots = (p.dots || []).map(function (d) {
      var circle = plot.append("circle").attr("class", "dlopt-dot").attr("r", 4.5)
        .attr("cx", x(d.x));
      var label = plot.append("text").attr("class", "dlopt-dot-label")
        .attr("x", x(d.x) + (d.anchor === "end" ? -6 : 6))
        .attr("text-anchor", d.anchor === "end" ? "end" : "start");
      return { spec: d, circle: circle, label: label };
    });
    var legend = el("ul", { class: "dlopt-legend" }, figure);
    p.series.forEach(function (s) {
      var item = el("li", {}, legend);
      el("span", { class: "dlopt-swatch" + (s.dash ? " dlopt-swatch-dash" : ""),
                   style: "border-color:" + s.color }, item);
      item.appendChild(document.createTextNode(s.label));
    });
    var caption = el("figcaption", { id: this.uid + "-panel-" + k + "-caption" }, figure, p.title);
    return { spec: p, x: x, y: y, pairs: pairs, series: series, dots: dots, caption: caption,
             xValues: p.x.values };
  };

  Explorer.prototype.drawPanel = function (panel) {
    var self = this;
    panel.series.forEach(function (s) {
      var values = self.array(s.spec.array, s.spec.override);
      var pts = [];
      if (panel.spec.kind === "xy") {
        for (var i = 0; i + 1 < values.length; i += 2) pts.push([values[i], values[i + 1]]);
      } else {
        for (var t = 0; t < values.length; t++) {
          var xv = panel.xValues ? panel.xValues[t] : t;
          var yv = values[t];
          if (panel.spec.y.scale === "log" && !(yv > 0)) yv = NaN;
          pts.push([xv, yv]);
        }
      }
      s.path.attr("d", panel.pairs(pts) || "");
      if (s.markers) {
        var finite = pts.filter(function (d) { return isFinite(d[0]) && isFinite(d[1]); });
        s.markers.selectAll("circle").data(finite).join("circle").attr("r", 2)
          .attr("cx", function (d) { return panel.x(d[0]); })
          .attr("cy", function (d) { return panel.y(d[1]); });
      }
    });
    panel.dots.forEach(function (d) {
      var v = self.scalar(d.spec.scalar);
      var shown = v === null ? NaN : Math.min(v, panel.y.domain()[1]);
      d.circle.attr("cy", panel.y(shown)).attr("display", isFinite(shown) ? null : "none");
      d.label.attr("y", panel.y(shown) + 16).text(d.spec.label + ": " + formatNumber(v, ".3f"));
    });
  };

  Explorer.prototype.drawMarks = function (name) {
    var box = this.markBoxes[name];
    var self = this;
    var values = box.control.values;
    var n = values.length;
    box.bar.textContent = "";
    var sentences = [];
    this.spec.marks[name].forEach(function (m, j) {
      var v = self.scalar(m.scalar);
      if (v === null) return;
      if (m.hidden && !(v < values[n - 1])) return;
      if (!m.hidden && v > values[n - 1]) {
        sentences.push(m.label + " " + formatNumber(v, ".4~f") + " (beyond the slider)");
        return;
      }
      if (!m.hidden) sentences.push(m.label + " " + formatNumber(v, ".4~f"));
      var pos;
      if (v <= values[0]) pos = 0;
      else {
        var i = 0;
        while (values[i + 1] < v) i++;
        pos = (i + (v - values[i]) / (values[i + 1] - values[i])) / (n - 1);
      }
      var left = "calc(8px + (100% - 16px) * " + pos.toFixed(4) + ")";
      if (m.zone && v < values[n - 1]) {
        el("span", { class: "dlopt-zone", style: "left:" + left }, box.bar);
      }
      if (m.hidden) return;
      var mark = el("span", { class: "dlopt-mark dlopt-mark-" + j, style: "left:" + left }, box.bar);
      // labels near an end of the slider grow inwards, so they never stick out
      var shift = pos > 0.75 ? "-100%" : pos < 0.25 ? "0" : "-50%";
      el("span", { class: "dlopt-mark-label", style: "transform:translateX(" + shift + ")" },
         mark, m.label);
    });
    var zone = this.spec.marks[name].filter(function (m) { return m.zone; })[0];
    box.text.textContent = "Marked on the slider: " + sentences.join("; ") + "." +
      (zone ? " " + zone.zone : "");
  };

  Explorer.prototype.update = function () {
    var self = this;
    var parts = [];
    this.spec.controls.forEach(function (c, i) {
      var label = c.labels[self.state[i]];
      if (c.kind === "range") {
        self.outputs[i].textContent = label;
        self.inputs[i].setAttribute("aria-valuetext", label);
        if (Number(self.inputs[i].value) !== self.state[i]) self.inputs[i].value = self.state[i];
      }
      parts.push(c.label + " " + label);
    });
    Object.keys(this.markBoxes).forEach(function (name) { self.drawMarks(name); });
    this.panels.forEach(function (p) { self.drawPanel(p); });
    var results = this.spec.readouts.map(function (r, k) {
      var text = formatNumber(self.scalar(r.scalar), r.format, r.none);
      self.readoutValues[k].textContent = text;
      return r.label + ": " + text;
    });
    var sentence = "Settings: " + parts.join(", ") + ". " + results.join("; ") + ".";
    this.status.textContent = sentence;
    this.root.setAttribute("data-case", String(this.caseIndex()));
  };

  function initAll() {
    if (typeof d3 === "undefined") return;
    document.querySelectorAll(".dlopt-explorer:not([data-ready])").forEach(function (root) {
      try {
        root.dloptExplorer = new Explorer(root);
      } catch (error) {
        root.setAttribute("data-ready", "failed");
        throw error;
      }
    });
  }

  window.dloptExplorers = { initAll: initAll, Explorer: Explorer, decode: decode };
  initAll();
})();
