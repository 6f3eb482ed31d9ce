/* runner studio: views of Azure ML v1's metric kinds.
 *
 * log_confusion_matrix, log_accuracy_table, log_residuals and log_predictions take a
 * document {schema_type, schema_version, data}; v1 uploads it as an artifact named after
 * the metric and logs its aml://artifactId/... address. Whichever way a run stored it
 * (the document as the value, or that address of a file of the run), the card shows it
 * as what it is: a heat map, a table of thresholds, a histogram, or predicted against
 * true values by bin. Drawn with DOM tables and plain SVG (textContent only).
 */
"use strict";

(function () {
  const {el, clear} = Studio;
  const NS = "http://www.w3.org/2000/svg";
  const KINDS = new Set(["confusion_matrix", "accuracy_table", "residuals", "predictions"]);

  function svg(tag, attrs) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  /* The v1 document a metric's value stands for, or null (fetching the artifact if need be). */
  Studio.v1Document = async function (runId, value) {
    let doc = value;
    if (typeof doc === "string" && doc.startsWith("aml://artifactId/")) {
      const path = doc.replace(/^aml:\/\/artifactId\/ExperimentRun\/[^/]+\//, "");
      try {
        const response = await fetch(Studio.fileUrl(runId, path), {credentials: "same-origin"});
        if (!response.ok) return null;
        doc = JSON.parse(await response.text());
      } catch (error) { return null; }
    } else if (typeof doc === "string" && doc.trim().startsWith("{")) {
      try { doc = JSON.parse(doc); } catch (error) { return null; }
    }
    return doc && typeof doc === "object" && KINDS.has(doc.schema_type) && doc.data ? doc : null;
  };

  function heatmap(data) {
    const labels = (data.class_labels || []).map(String);
    const matrix = data.matrix || [];
    const max = Math.max(1, ...matrix.flat().filter((v) => typeof v === "number"));
    const table = el("table", {class: "grid heatmap"});
    table.append(el("thead", null, el("tr", null, el("th", {text: "true \\ predicted"}),
      ...labels.map((l) => el("th", {class: "num", text: l})))));
    const body = el("tbody");
    matrix.forEach((row, i) => {
      body.append(el("tr", null, el("th", {text: labels[i] ?? String(i)}), ...row.map((v) => {
        const td = el("td", {class: "num", text: Studio.value(v)});
        const t = typeof v === "number" ? v / max : 0;
        td.style.backgroundColor = "rgba(11, 97, 164, " + (0.08 + 0.8 * t).toFixed(3) + ")";
        if (t > 0.55) td.style.color = "#fff";
        return td;
      })));
    });
    table.append(body);
    return el("div", {class: "table-wrap"}, table);
  }

  function accuracyTable(data) {
    const thresholds = data.probability_thresholds || [];
    const tables = data.probability_tables || [];
    const labels = (data.class_labels || tables.map((_, i) => String(i))).map(String);
    const columns = {threshold: thresholds};
    tables.forEach((perClass, c) => {
      for (const [k, name] of ["TP", "FP", "TN", "FN"].entries()) {
        columns[labels[c] + " " + name] = perClass.map((cells) => (cells || [])[k]);
      }
    });
    return Studio.columnsTable(columns);
  }

  function bars(edges, heights, extra) {
    const width = 420, height = 200, left = 44, bottom = 24, top = 8;
    const root = svg("svg", {width: width, height: height, class: "bars",
                             viewBox: "0 0 " + width + " " + height, role: "img"});
    const lo = edges[0], hi = edges[edges.length - 1];
    const values = heights.concat(extra ? extra.flat() : []).filter((v) => typeof v === "number");
    const top_ = Math.max(0, ...values), bottomValue = Math.min(0, ...values);
    const X = (v) => left + (v - lo) / ((hi - lo) || 1) * (width - left - 8);
    const Y = (v) => top + (1 - (v - bottomValue) / ((top_ - bottomValue) || 1)) * (height - top - bottom);
    heights.forEach((h, i) => {
      if (typeof h !== "number") return;
      root.append(Object.assign(svg("rect", {x: X(edges[i]) + 0.5, y: Math.min(Y(h), Y(0)),
        width: Math.max(1, X(edges[i + 1]) - X(edges[i]) - 1), height: Math.abs(Y(0) - Y(h)),
        fill: "#0b61a4", "fill-opacity": "0.75", class: "bar"})));
    });
    for (const v of [lo, hi]) {
      const t = svg("text", {x: X(v), y: height - 6, "text-anchor": "middle", class: "pc-tick"});
      t.textContent = Studio.compact(v);
      root.append(t);
    }
    for (const v of [bottomValue, top_]) {
      const t = svg("text", {x: left - 4, y: Y(v) + 4, "text-anchor": "end", class: "pc-tick"});
      t.textContent = Studio.compact(v);
      root.append(t);
    }
    return root;
  }

  /* Fill target with the view of a v1 document. */
  Studio.v1View = function (target, doc) {
    const d = doc.data;
    clear(target);
    target.dataset.v1 = doc.schema_type;
    if (doc.schema_type === "confusion_matrix") target.append(heatmap(d));
    else if (doc.schema_type === "accuracy_table") target.append(accuracyTable(d));
    else if (doc.schema_type === "residuals") {
      target.append(el("div", {class: "muted", text: "residuals: count per bin"}),
                    bars(d.bin_edges || [], d.bin_counts || []));
    } else {
      target.append(el("div", {class: "muted", text: "predictions: mean predicted value per bin of true values"}),
                    bars(d.bin_edges || [], d.bin_averages || []),
                    Studio.columnsTable({"bin from": (d.bin_edges || []).slice(0, -1),
                                         mean: d.bin_averages || [], error: d.bin_errors || [],
                                         count: d.bin_counts || []}));
    }
  };
})();
