/* runner studio: the run page. Details, live status and log (Server-Sent Events),
 * metric charts, images, files, the snapshot tree, child runs and Cancel. */
"use strict";

(function () {
  const {el, clear} = Studio;
  /* Lines kept in the log view; older ones are dropped (the file has them all). */
  const LOG_LINES = 20000;

  Studio.pages.run = function (run) {
    const api = "/api/runs/" + Studio.enc(run.id);
    let current = run;
    let metricCounts = new Map();
    let metricsTimer = null;

    /* ------------------------------------------------------------- details */

    function showDetails(r) {
      current = r;
      document.getElementById("run-title").textContent = r.display_name || r.id;
      const crumbs = clear(document.getElementById("crumbs"));
      crumbs.append(el("a", {href: "/experiments/" + Studio.enc(r.experiment), text: r.experiment}),
        " / ", el("span", {class: "mono", text: r.id}));
      if (r.parent_id) {
        crumbs.append(" · child of ", el("a", {href: Studio.runUrl(r.parent_id), text: r.parent_id}));
      }
      const rows = [
        ["Status", Studio.status(r.status)],
        ["Type", r.type],
        ["Created", Studio.time(r.created)],
        ["Started", Studio.time(r.start_time)],
        ["Ended", Studio.time(r.end_time)],
        ["Duration", el("span", {id: "duration", text: Studio.duration(r.duration)})],
        ["Script", r.script ? el("code", {text: r.script}) : "–"],
        ["Arguments", r.arguments.length ? el("code", {text: r.arguments.join(" ")}) : "–"],
      ];
      if (r.command) rows.push(["Command", el("code", {text: [].concat(r.command).join(" ")})]);
      rows.push(["Environment", r.environment || (r.environment_definition ? "(unnamed)" : "this interpreter")]);
      rows.push(["Snapshot", r.snapshot_id ? el("code", {text: r.snapshot_id}) : "–"]);
      if (r.source_directory) rows.push(["Source", el("code", {text: r.source_directory})]);
      rows.push(["Exit code", r.exit_code === null || r.exit_code === undefined ? "–" : String(r.exit_code)]);
      if (r.gpus) rows.push(["GPUs", r.gpus.length ? r.gpus.join(", ") : "–"]);
      if ((r.models || []).length) {
        const span = el("span");
        for (const m of r.models) {
          span.append(el("a", {class: "tag", href: "/models#model-" + Studio.enc(m.name),
                               text: m.name + ":" + m.version}), " ");
        }
        rows.push(["Models", span]);
      }
      rows.push(["Tags", Studio.tags(r.tags)]);
      if (Object.keys(r.properties || {}).length) rows.push(["Properties", Studio.tags(r.properties)]);
      rows.push(["Folder", el("code", {text: r.folder})]);
      const dl = clear(document.getElementById("details"));
      for (const [label, value] of rows) dl.append(el("dt", {text: label}), el("dd", null, value));
      showStatus(r);
      showChildren(r.children || []);
      showDatasets(r.datasets || []);
    }

    function showStatus(s) {
      Object.assign(current, s);
      const badge = document.getElementById("run-status");
      badge.className = "status " + s.status;
      badge.textContent = s.status;
      for (const node of document.querySelectorAll("#details .status")) {
        node.className = "status " + s.status;
        node.textContent = s.status;
      }
      const duration = document.getElementById("duration");
      if (duration) duration.textContent = Studio.duration(s.duration);
      document.getElementById("cancel").hidden = !s.live || s.status === "CancelRequested";
      const box = document.getElementById("run-error");
      box.hidden = !s.error;
      if (s.error) {
        clear(box).append(el("strong", {text: s.error.message || "Error"}));
        if (s.error.details) box.append(el("pre", {text: s.error.details}));
      }
    }

    /* Duration ticks while the run goes on (the server sends status changes only). */
    setInterval(() => {
      if (!current.live || !current.start_time) return;
      const node = document.getElementById("duration");
      if (node) node.textContent = Studio.duration((Date.now() - Date.parse(current.start_time)) / 1000);
    }, 1000);

    function showDatasets(items) {
      document.getElementById("datasets-section").hidden = items.length === 0;
      const body = clear(document.querySelector("#datasets tbody"));
      for (const d of items) {
        body.append(el("tr", {dataset: {direction: d.direction}},
          el("td", {text: d.direction}), el("td", {class: "mono", text: d.name}),
          el("td", {text: d.dataset ? d.dataset + (d.version ? ":" + d.version : "") : "–"}),
          el("td", {text: d.mode || "–"}), el("td", {class: "mono clip", title: d.path || "", text: d.path || "–"})));
      }
    }

    function showChildren(children) {
      document.getElementById("children-section").hidden = children.length === 0;
      document.getElementById("sweep-link").href = "/sweep?parent=" + Studio.enc(run.id);
      const body = clear(document.querySelector("#children tbody"));
      for (const c of children) {
        body.append(el("tr", null,
          el("td", null, el("a", {href: Studio.runUrl(c.id), text: c.display_name || c.id})),
          el("td", null, Studio.status(c.status)),
          el("td", {class: "num", text: Studio.duration(c.duration)})));
      }
    }

    document.getElementById("cancel").addEventListener("click", async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      try {
        showStatus(await Studio.api(api + "/cancel", {method: "POST",
          headers: {"X-CSRF-Token": Studio.csrf(), "Accept": "application/json"}}));
      } catch (error) {
        alert("Cancel failed: " + error.message);
      } finally {
        button.disabled = false;
      }
    });

    /* ----------------------------------------------------------------- log */

    const log = document.getElementById("log");
    const logState = document.getElementById("log-state");
    const logEmpty = document.getElementById("log-empty");
    const follow = document.getElementById("log-follow");
    const search = document.getElementById("log-search");
    const searchCount = document.getElementById("log-matches");
    let lineCount = 0;
    let pending = null;  /* the unfinished last line (a progress bar), replaced as it moves */
    let matches = [], matchAt = -1;

    function atBottom() { return log.scrollTop + log.clientHeight >= log.scrollHeight - 8; }

    function shown() {
      logEmpty.hidden = lineCount > 0 || pending !== null;
      log.hidden = !logEmpty.hidden;
    }

    function line(text, cls) {
      const node = el("div", {class: cls || null});
      node.dataset.text = Terminal.render(node, text);
      return node;
    }

    function appendLines(lines, cls) {
      const stick = follow.checked || atBottom();
      if (pending) { pending.remove(); pending = null; }
      const chunk = document.createDocumentFragment();
      for (const text of lines) chunk.append(line(text, cls));
      log.append(chunk);
      lineCount += lines.length;
      while (lineCount > LOG_LINES && log.firstChild) { log.removeChild(log.firstChild); lineCount--; }
      if (search.value) mark(chunk, true);
      shown();
      if (stick && follow.checked) log.scrollTop = log.scrollHeight;
    }

    function setPartial(text) {
      if (!text) { if (pending) { pending.remove(); pending = null; } shown(); return; }
      if (!pending) { pending = el("div", {class: "pending"}); log.append(pending); }
      pending.dataset.text = Terminal.render(pending, text);
      shown();
      if (follow.checked) log.scrollTop = log.scrollHeight;
    }

    /* Search: matching lines are marked; Enter goes to the next one. */
    function mark() {
      const needle = search.value.toLowerCase();
      matches = [];
      for (const node of log.children) {
        const hit = !!needle && (node.dataset.text || "").toLowerCase().includes(needle);
        node.classList.toggle("match", hit);
        if (hit) matches.push(node);
      }
      searchCount.textContent = needle ? matches.length + " match" + (matches.length === 1 ? "" : "es") : "";
    }
    search.addEventListener("input", () => { matchAt = -1; mark(); });
    search.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || !matches.length) return;
      event.preventDefault();
      for (const node of matches) node.classList.remove("current");
      matchAt = (matchAt + (event.shiftKey ? matches.length - 1 : 1)) % matches.length;
      const node = matches[matchAt];
      node.classList.add("current");
      follow.checked = false;
      log.scrollTop = node.offsetTop - log.clientHeight / 2;
      searchCount.textContent = (matchAt + 1) + " of " + matches.length;
    });
    follow.addEventListener("change", () => { if (follow.checked) log.scrollTop = log.scrollHeight; });
    log.addEventListener("wheel", (event) => { if (event.deltaY < 0) follow.checked = false; });

    function followLog() {
      shown();
      const source = new EventSource(api + "/log/stream");
      source.addEventListener("log", (e) => appendLines(JSON.parse(e.data).lines));
      source.addEventListener("partial", (e) => setPartial(JSON.parse(e.data).text));
      source.addEventListener("notice", (e) => appendLines(["… " + JSON.parse(e.data).message], "notice"));
      source.addEventListener("status", (e) => {
        const s = JSON.parse(e.data);
        const changed = s.status !== current.status;
        showStatus(s);
        logState.textContent = s.live ? "live" : "";
        if (changed) s.live ? refreshDetails() : finished();
      });
      source.addEventListener("end", () => {
        source.close(); logState.textContent = "";
        logEmpty.textContent = "This run wrote no output.";
      });
      source.onerror = () => { logState.textContent = source.readyState === 2 ? "" : "reconnecting…"; };
    }

    /* A new status of a live run: its start time, exit code and files change too. */
    async function refreshDetails() {
      try {
        showDetails(await Studio.api(api));
      } catch (error) { /* keep what is shown */ }
      loadFiles();
    }

    /* Once the run has ended: details, metrics and files as they finally are. */
    async function finished() {
      try {
        showDetails(await Studio.api(api));
      } catch (error) { /* keep what is shown */ }
      loadMetrics();
      loadFiles();
    }

    /* ------------------------------------------------------------- metrics */

    async function loadMetrics() {
      clearTimeout(metricsTimer);
      let items = [];
      try { items = await Studio.api(api + "/metrics"); } catch (error) { items = []; }
      const box = document.getElementById("metrics");
      document.getElementById("no-metrics").hidden = items.length > 0;
      lineNames = items.filter((m) => m.chart === "line").map((m) => m.name);
      for (const m of items) {
        let card = box.querySelector('.card[data-metric="' + CSS.escape(m.name) + '"]');
        if (!card) {
          card = el("div", {class: "card", dataset: {metric: m.name, chart: m.chart}},
            el("h3", null, el("span", {text: m.name}), el("span", {class: "muted count"})),
            el("div", {class: m.chart === "xy" ? "plot" : "body"}));
          box.append(card);
        }
        card.querySelector(".count").textContent = m.chart === "value" ? "" : m.count + (m.chart === "xy" || m.chart === "table" ? " rows" : " values");
        if (metricCounts.get(m.name) === m.count && card.dataset.chart === m.chart) continue;
        metricCounts.set(m.name, m.count);
        card.dataset.chart = m.chart;
        drawMetric(card, m);
      }
      if (current.live) metricsTimer = setTimeout(loadMetrics, 2000);
    }

    let lineNames = [];

    async function drawMetric(card, m) {
      const target = card.querySelector(".plot, .body, .panel");
      if (m.chart === "line") {
        if (!card._panel) {
          clear(target).className = "panel";
          card._panel = Studio.panel(target, {
            sources: [{run: run.id, metric: m.name, label: m.name}], title: m.name,
            others: lineNames.filter((n) => n !== m.name),
            csv: api + "/series.csv?name=" + Studio.enc(m.name)});
        }
        await card._panel.draw();
      } else if (m.chart === "xy") {
        target.className = "plot";
        const s = await Studio.api(api + "/series?name=" + Studio.enc(m.name) + "&points=" + Studio.points(target));
        Studio.chart(target, {x: s.x, xName: s.x_name, lines: s.series});
        card.dataset.downsampled = s.downsampled ? "1" : "0";
      } else if (m.chart === "value" || m.chart === "text") {
        const last = m.chart === "value" ? m.value : m.values[m.values.length - 1];
        const doc = await Studio.v1Document(run.id, last);
        if (doc) {
          Studio.v1View(target, doc);
        } else if (m.chart === "value") {
          clear(target).append(el("div", {class: "value", text: Studio.value(m.value)}));
        } else {
          clear(target).append(Studio.columnsTable({[m.name]: m.values}));
        }
      } else if (m.chart === "table") {
        clear(target).append(m.rows ? Studio.columnsTable(m.rows) : el("p", {class: "muted", text: "Too many rows to show; see the API."}));
      } else if (m.chart === "image") {
        clear(target);
        for (const name of m.images.slice(-12)) {
          target.append(el("a", {href: Studio.fileUrl(run.id, name) + "?inline=1", target: "_blank"},
            el("img", {src: Studio.fileUrl(run.id, name) + "?inline=1", alt: name, title: name,
                       style: "max-width:100%;max-height:260px"})));
        }
      }
    }

    /* --------------------------------------------------------------- files */

    async function loadFiles() {
      let files = [];
      try { files = await Studio.api(api + "/files"); } catch (error) { files = []; }
      document.getElementById("no-files").hidden = files.length > 0;
      const body = clear(document.querySelector("#files tbody"));
      const images = clear(document.getElementById("images"));
      for (const f of files) {
        if (f.link !== undefined) {
          body.append(el("tr", {class: "link"},
            el("td", {class: "mono"}, f.name + " → " + f.link),
            el("td", {class: "num muted", text: "link"}),
            el("td", {class: "muted", text: "outside the run"})));
          continue;
        }
        const url = Studio.fileUrl(run.id, f.name);
        body.append(el("tr", null,
          el("td", {class: "mono"}, f.image ? el("a", {href: url + "?inline=1", target: "_blank", text: f.name}) : f.name),
          el("td", {class: "num", text: Studio.size(f.size)}),
          el("td", null, el("a", {href: url, download: f.name.split("/").pop(), text: "download"}))));
        if (f.image) {
          images.append(el("figure", null, el("img", {src: url + "?inline=1", alt: f.name}),
                           el("figcaption", {text: f.name})));
        }
      }
    }

    /* ------------------------------------------------------------ snapshot */

    async function loadSnapshot() {
      const tree = document.getElementById("snapshot-tree");
      if (!run.snapshot_id) { tree.textContent = "This run has no snapshot."; return; }
      let snap;
      try { snap = await Studio.api(api + "/snapshot"); } catch (error) {
        tree.textContent = error.message; return;
      }
      document.getElementById("snapshot-id").textContent =
        snap.id + " · " + (snap.files ?? snap.entries.length) + " files, " + Studio.size(snap.bytes);
      const root = {dirs: new Map(), files: []};
      for (const entry of snap.entries) {
        const parts = entry.path.split("/");
        let node = root;
        for (const part of parts.slice(0, -1)) {
          if (!node.dirs.has(part)) node.dirs.set(part, {dirs: new Map(), files: []});
          node = node.dirs.get(part);
        }
        if (entry.kind === "dir") {
          if (!node.dirs.has(parts[parts.length - 1])) node.dirs.set(parts[parts.length - 1], {dirs: new Map(), files: []});
        } else {
          node.files.push(Object.assign({name: parts[parts.length - 1]}, entry));
        }
      }
      clear(tree).append(treeList(root, 0));
    }

    function treeList(node, depth) {
      const list = el("ul");
      for (const [name, child] of [...node.dirs.entries()].sort()) {
        list.append(el("li", null, el("details", {open: depth < 1},
          el("summary", {text: name + "/"}), treeList(child, depth + 1))));
      }
      for (const f of node.files.sort((a, b) => a.name.localeCompare(b.name))) {
        if (f.kind === "link") {
          list.append(el("li", {class: "muted", text: f.name + " → " + f.target}));
          continue;
        }
        const link = el("a", {href: "#", text: f.name, title: Studio.size(f.size), dataset: {path: f.path}});
        link.addEventListener("click", (event) => { event.preventDefault(); viewFile(link, f); });
        list.append(el("li", null, link));
      }
      return list;
    }

    async function viewFile(link, f) {
      for (const node of document.querySelectorAll(".tree a.current")) node.classList.remove("current");
      link.classList.add("current");
      const url = api + "/snapshot/files/" + f.path.split("/").map(Studio.enc).join("/");
      const name = clear(document.getElementById("viewer-name"));
      name.append(el("code", {text: f.path}), " · ", Studio.size(f.size), " · ",
                  el("a", {href: url, text: "download"}));
      const viewer = document.getElementById("viewer");
      try {
        const body = await Studio.api(url + "?view=1");
        viewer.textContent = body.text === null ? "(binary or too large to show: download it)" : body.text;
      } catch (error) {
        viewer.textContent = error.message;
      }
    }

    /* ---------------------------------------------------------------- start */

    showDetails(run);
    followLog();
    loadMetrics();
    loadFiles();
    loadSnapshot();
  };
})();
