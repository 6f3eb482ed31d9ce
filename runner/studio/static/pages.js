/* runner studio: the experiments, runs and compare pages. */
"use strict";

(function () {
  const {el, clear} = Studio;

  /* ------------------------------------------------------------ experiments */

  Studio.pages.experiments = function (data) {
    const body = document.querySelector("#experiments tbody");
    const items = data.experiments || [];
    document.getElementById("no-experiments").hidden = items.length > 0;
    for (const e of items) {
      const statuses = el("span");
      for (const [status, n] of Object.entries(e.statuses).sort()) {
        statuses.append(el("span", {class: "status " + status, text: n + " " + status}), " ");
      }
      body.append(el("tr", null,
        el("td", null, el("a", {href: "/experiments/" + Studio.enc(e.name), text: e.name})),
        el("td", {class: "num", text: e.runs}),
        el("td", null, statuses),
        el("td", {text: Studio.time(e.last_activity)})));
    }
  };

  /* ----------------------------------------------------------------- models */

  /* Each model's latest version; a click shows its older versions under it. */
  Studio.pages.models = function (data) {
    const body = document.querySelector("#models tbody");
    const items = data.models || [];
    document.getElementById("no-models").hidden = items.length > 0;
    const row = (v, older) => el("tr", {id: older ? null : "model-" + v.name, class: older ? "child" : null,
                                        dataset: {model: v.name, version: String(v.version)}},
      el("td", null, older ? el("span", {class: "indent", text: "↳ "}) : null, v.name),
      el("td", {class: "num", text: String(v.version)}),
      el("td", {text: [v.framework, v.frameworkVersion].filter(Boolean).join(" ") || "–"}),
      el("td", {class: "mono"}, v.runId ? el("a", {href: Studio.runUrl(v.runId), text: v.runId}) : "–"),
      el("td", {text: Studio.time(v.createdTime)}),
      el("td", null, Studio.tags(v.tags)),
      el("td", {class: "mono clip", title: (v.files || []).join("\n"),
                text: (v.files || []).length + " file" + ((v.files || []).length === 1 ? "" : "s")}));
    for (const m of items) {
      const [latest, ...older] = m.versions;
      const tr = row(latest, false);
      if (older.length) {
        const toggle = el("button", {type: "button", class: "expand", text: "▸ " + older.length + " older",
                                     "aria-expanded": "false"});
        toggle.addEventListener("click", () => {
          const open = toggle.getAttribute("aria-expanded") === "true";
          toggle.setAttribute("aria-expanded", open ? "false" : "true");
          toggle.textContent = (open ? "▸ " : "▾ ") + older.length + " older";
          for (const node of body.querySelectorAll('tr.child[data-model="' + CSS.escape(m.name) + '"]')) node.hidden = open;
        });
        tr.cells[1].append(" ", toggle);
      }
      body.append(tr);
      for (const v of older) { const o = row(v, true); o.hidden = true; body.append(o); }
    }
  };

  /* ------------------------------------------------------------------- runs */

  /* Columns: [key, label, sort key, cell(run)]. "sel", "id", "name" and "status" are
   * frozen (they stay in view while the table scrolls sideways); the rest can be hidden
   * with the column chooser, whose choice is remembered per experiment. */
  function baseColumns(query) {
    const cols = [
      ["experiment", "Experiment", "experiment", (r) => el("td", null, el("a", {
        href: "/experiments/" + Studio.enc(r.experiment), text: r.experiment}))],
      ["started", "Started", "start", (r) => el("td", {text: Studio.time(r.start_time)})],
      ["duration", "Duration", "duration", (r) => el("td", {class: "num", text: Studio.duration(r.duration)})],
      ["children", "Children", null, childrenCell],
      ["gpus", "GPUs", null, (r) => el("td", {class: "mono", text: (r.gpus || []).join(", ")})],
      ["script", "Script", null, (r) => el("td", {class: "mono clip", title: r.script || "", text: r.script || ""})],
      ["tags", "Tags", null, (r) => el("td", {class: "clip"}, Studio.tags(r.tags))],
    ];
    return query.experiment ? cols.slice(1) : cols;
  }

  function childrenCell(r) {
    const td = el("td", {class: "children"});
    if (!r.children) return td;
    const a = r.aggregate;
    td.append(el("a", {href: "/sweep?parent=" + Studio.enc(r.id), title: "sweep view",
                       text: r.children + " runs"}));
    if (a && a.best !== null) {
      td.append(el("span", {class: "muted agg", text: " · " + a.metric + " best " +
        Studio.value(a.best) + ", mean " + Studio.value(a.mean)}));
    }
    return td;
  }

  Studio.pages.runs = function (data) {
    const query = data.query;
    const form = document.getElementById("filters");
    const selected = new Set();
    const compareButton = document.getElementById("compare");
    const sweepButton = document.getElementById("sweep");
    const filterError = document.getElementById("filter-error");
    const storeKey = "runner.columns." + (query.experiment || "*");
    let hidden = new Set();
    try { hidden = new Set(JSON.parse(localStorage.getItem(storeKey) || "[]")); } catch (e) { hidden = new Set(); }
    let lastResult = data.result;
    form.status.value = query.status || "";
    form.tag.value = (query.tags || []).join(" ");
    form.q.value = query.text || "";
    form.filter.value = query.filter || "";
    form.children.checked = !!query.children;
    showFilterError(query.filter_error || null);

    function showFilterError(message) {
      filterError.hidden = !message;
      filterError.textContent = message || "";
      form.filter.classList.toggle("bad", !!message);
    }

    function params() {
      const p = new URLSearchParams();
      if (query.experiment) p.set("experiment", query.experiment);
      if (query.status) p.set("status", query.status);
      for (const t of query.tags || []) p.append("tag", t);
      if (query.text) p.set("q", query.text);
      if (query.filter) p.set("filter", query.filter);
      if (query.children) p.set("children", "1");
      if (query.sort !== "created") p.set("sort", query.sort);
      if (query.order !== "desc") p.set("order", query.order);
      if (query.page > 1) p.set("page", query.page);
      if (query.per_page !== 50) p.set("per_page", query.per_page);
      return p;
    }

    async function load() {
      if (query.filter) {
        const check = await Studio.api("/api/filter?filter=" + Studio.enc(query.filter));
        if (!check.ok) { showFilterError(check.message); return; }
      }
      const p = params();
      const shown = new URLSearchParams(p);
      shown.delete("experiment");
      const text = shown.toString();
      history.replaceState(null, "", location.pathname + (text ? "?" + text : ""));
      try {
        render(await Studio.api("/api/runs?" + p.toString()));
        showFilterError(null);
      } catch (error) {
        if (query.filter && /filter/.test(error.message)) showFilterError(error.message);
        else document.getElementById("range").textContent = "Error: " + error.message;
      }
    }

    function allColumns(result) {
      return baseColumns(query)
        .concat(result.param_names.map((n) => ["param:" + n, n, "param:" + n,
          (r) => el("td", {class: "num param", title: r.params[n] ?? null,
                           text: n in r.params ? Studio.param(r.params[n]) : "–"})]))
        .concat(result.metric_names.map((n) => ["metric:" + n, n, "metric:" + n,
          (r) => el("td", {class: "num", text: Studio.value(r.metrics[n])})]));
    }

    function sortable(th, key) {
      if (key === query.sort) {
        th.classList.add("sorted");
        if (query.order === "asc") th.classList.add("asc");
      }
      th.classList.add("sortable");
      th.addEventListener("click", () => {
        query.order = query.sort === key && query.order === "desc" ? "asc" : "desc";
        query.sort = key;
        query.page = 1;
        load();
      });
    }

    function header(columns) {
      const row = el("tr");
      row.append(el("th", {class: "frozen f0"}));
      for (const [label, key, cls] of [["Run", "id", "f1"], ["Name", "name", "f2"], ["Status", "status", "f3"]]) {
        const th = el("th", {class: "frozen " + cls, text: label});
        sortable(th, key);
        row.append(th);
      }
      for (const [key, label, sort] of columns) {
        if (hidden.has(key)) continue;
        const th = el("th", {text: label, dataset: {column: key}});
        if (key.startsWith("param:")) th.append(el("span", {class: "kind", text: " param"}));
        if (key.startsWith("param:") || key.startsWith("metric:")) th.classList.add("num");
        if (sort) sortable(th, sort);
        row.append(th);
      }
      return row;
    }

    function chooser(columns) {
      const box = Studio.clear(document.getElementById("column-list"));
      for (const [key, label] of columns) {
        const check = el("input", {type: "checkbox", checked: !hidden.has(key), dataset: {column: key}});
        check.addEventListener("change", () => {
          if (check.checked) hidden.delete(key); else hidden.add(key);
          localStorage.setItem(storeKey, JSON.stringify([...hidden]));
          render(lastResult);
        });
        const kind = key.startsWith("param:") ? " (param)" : key.startsWith("metric:") ? " (metric)" : "";
        box.append(el("label", null, check, " " + label + kind));
      }
    }

    function runRow(run, columns, depth) {
      const box = el("input", {type: "checkbox", "aria-label": "select " + run.id,
                               checked: selected.has(run.id)});
      box.addEventListener("change", () => {
        if (box.checked) selected.add(run.id); else selected.delete(run.id);
        compareButton.disabled = selected.size < 1 || selected.size > 20;
        sweepButton.disabled = selected.size < 2;
      });
      const first = el("td", {class: "frozen f0"}, box);
      const idCell = el("td", {class: "mono frozen f1"});
      if (depth) idCell.append(el("span", {class: "indent", text: "↳ "}));
      if (run.children) {
        const toggle = el("button", {type: "button", class: "expand", "aria-expanded": "false",
                                     title: "show child runs", text: "▸"});
        toggle.addEventListener("click", () => expand(toggle, run, columns, depth));
        idCell.append(toggle, " ");
      }
      idCell.append(el("a", {href: Studio.runUrl(run.id), text: run.id}));
      const cells = [first, idCell,
        el("td", {class: "frozen f2 clip", title: run.display_name || "", text: run.display_name || ""}),
        el("td", {class: "frozen f3"}, Studio.status(run.status))];
      for (const [key, , , cell] of columns) if (!hidden.has(key)) cells.push(cell(run));
      return el("tr", {dataset: {run: run.id, depth: String(depth)}, class: depth ? "child" : null}, ...cells);
    }

    async function expand(toggle, run, columns, depth) {
      const row = toggle.closest("tr");
      if (toggle.getAttribute("aria-expanded") === "true") {
        let next = row.nextSibling;
        while (next && Number(next.dataset.depth) > depth) { const gone = next; next = next.nextSibling; gone.remove(); }
        toggle.setAttribute("aria-expanded", "false");
        toggle.textContent = "▸";
        return;
      }
      toggle.setAttribute("aria-expanded", "true");
      toggle.textContent = "▾";
      const page = await Studio.api("/api/runs?parent=" + Studio.enc(run.id) + "&per_page=500&sort=created&order=asc");
      let after = row;
      for (const child of page.runs) {
        const tr = runRow(child, columns, depth + 1);
        after.after(tr);
        after = tr;
      }
      freeze(document.getElementById("runs"));
    }

    /* Sticky offsets of the frozen columns: each starts where the previous one ends. */
    function freeze(table) {
      let left = 0;
      for (const cls of ["f0", "f1", "f2", "f3"]) {
        const th = table.tHead.querySelector("th." + cls);
        if (!th) continue;
        for (const cell of table.querySelectorAll("." + cls)) cell.style.left = left + "px";
        left += th.getBoundingClientRect().width;
      }
    }

    function render(result) {
      lastResult = result;
      const table = document.getElementById("runs");
      const columns = allColumns(result);
      chooser(columns);
      clear(table.tHead).append(header(columns));
      const body = clear(table.tBodies[0]);
      for (const run of result.runs) body.append(runRow(run, columns, 0));
      freeze(table);
      document.getElementById("no-runs").hidden = result.runs.length > 0;
      const first = (result.page - 1) * result.per_page;
      const last = first + result.runs.length;
      const total = result.total === null ? (result.has_more ? "more" : last) : result.total;
      document.getElementById("range").textContent =
        result.runs.length ? (first + 1) + "–" + last + " of " + total : "";
      document.getElementById("prev").disabled = result.page <= 1;
      document.getElementById("next").disabled = !result.has_more;
      clearTimeout(render.timer);
      if (result.runs.some((r) => !Studio.TERMINAL.has(r.status))) {
        render.timer = setTimeout(load, 5000);  // live runs on the page: keep it current
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      query.status = form.status.value || null;
      query.tags = form.tag.value.split(/\s+/).filter(Boolean);
      query.text = form.q.value.trim() || null;
      query.filter = form.filter.value.trim() || null;
      query.children = form.children.checked;
      query.page = 1;
      load();
    });
    document.getElementById("prev").addEventListener("click", () => { query.page--; load(); });
    document.getElementById("next").addEventListener("click", () => { query.page++; load(); });
    compareButton.addEventListener("click", () => {
      location.href = "/compare?runs=" + [...selected].map(Studio.enc).join(",");
    });
    sweepButton.addEventListener("click", () => {
      location.href = "/sweep?runs=" + [...selected].map(Studio.enc).join(",");
    });
    render(data.result);
  };

  /* ---------------------------------------------------------------- compare */

  Studio.pages.compare = function (data) {
    const table = document.getElementById("compare-table");
    const runs = data.runs;
    table.tHead.append(el("tr", null, el("th", {text: ""}),
      ...runs.map((r) => el("th", null, el("a", {href: Studio.runUrl(r.id),
                                                 text: r.display_name || r.id})))));
    const body = table.tBodies[0];
    const row = (label, cells, cls) => body.append(el("tr", {class: cls || null},
      el("th", {text: label}), ...cells));
    const differs = new Set(data.param_differs || []);
    for (const name of data.param_names || []) {
      row("param " + name, runs.map((r) => el("td", {class: "num", title: r.params[name] ?? null,
        text: name in r.params ? Studio.param(r.params[name]) : "–"})), differs.has(name) ? "differs" : "same");
      body.lastChild.dataset.param = name;
    }
    row("Experiment", runs.map((r) => el("td", {text: r.experiment})));
    row("Status", runs.map((r) => el("td", null, Studio.status(r.status))));
    row("Duration", runs.map((r) => el("td", {class: "num", text: Studio.duration(r.duration)})));
    row("Script", runs.map((r) => el("td", {class: "mono", text: r.script || "–"})));
    row("Arguments", runs.map((r) => el("td", {class: "mono", text: r.arguments.join(" ") || "–"})));
    for (const tag of data.tag_names) {
      row("tag " + tag, runs.map((r) => el("td", {text: tag in r.tags ? (r.tags[tag] ?? "✓") : "–"})));
    }
    for (const name of data.metric_names) {
      const values = runs.map((r) => r.metrics[name]);
      const numbers = values.filter((v) => typeof v === "number");
      row(name, values.map((v) => el("td", {class: "num", text: Studio.value(v)})));
      if (numbers.length > 1) body.lastChild.dataset.metric = name;
    }
    const charts = document.getElementById("compare-charts");
    document.getElementById("no-charts").hidden = data.charts.length > 0;
    for (const chart of data.charts) {
      const card = el("div", {class: "card", dataset: {metric: chart.name}}, el("h3", {text: chart.name}));
      charts.append(card);
      if (chart.chart === "line") {
        Studio.panel(card, {title: chart.name, sources: runs.map((r) =>
          ({run: r.id, metric: chart.name, label: r.display_name || r.id}))}).draw();
      } else {
        const plot = el("div", {class: "plot"});
        card.append(plot);
        overlay(plot, chart.name, runs);
      }
    }
  };

  /* Every run's curve of one metric on a shared x axis (gaps where a run has no point). */
  async function overlay(plot, name, runs) {
    const points = Studio.points(plot);
    const results = await Promise.all(runs.map((r) =>
      Studio.api("/api/runs/" + Studio.enc(r.id) + "/series?name=" + Studio.enc(name) +
                 "&points=" + points).catch(() => null)));
    const curves = [];
    results.forEach((s, i) => {
      if (!s) return;
      const y = s.kind === "table" ? (s.series[0] || {}).y : s.y;
      if (y) curves.push({name: runs[i].display_name || runs[i].id, x: s.x, y: y});
    });
    const xs = [...new Set(curves.flatMap((c) => c.x.filter((v) => v !== null)))]
      .sort((a, b) => a - b);
    const index = new Map(xs.map((v, i) => [v, i]));
    const lines = curves.map((c) => {
      const y = new Array(xs.length).fill(null);
      c.x.forEach((xv, i) => { if (index.has(xv)) y[index.get(xv)] = c.y[i]; });
      return {name: c.name, y: y};
    });
    Studio.chart(plot, {x: xs, xName: (results.find((s) => s) || {}).x_name || "x", lines: lines,
                        spanGaps: true});
  }
})();
