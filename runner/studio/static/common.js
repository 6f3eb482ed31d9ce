/* runner studio: helpers every page uses (the charts are in charts.js).
 *
 * Each page script registers itself in Studio.pages[<data-page of body>];
 * the page's first data is embedded as JSON in #page-data.
 */
"use strict";

const Studio = {pages: {}};

Studio.data = function () {
  const node = document.getElementById("page-data");
  return node ? JSON.parse(node.textContent || "null") : null;
};

Studio.csrf = function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
};

/* GET (or POST with options) a JSON document from the studio's API. */
Studio.api = async function (path, options) {
  const response = await fetch(path, Object.assign({credentials: "same-origin",
    headers: {"Accept": "application/json"}}, options || {}));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const message = body && body.message ? body.message : response.status + " " + response.statusText;
    throw new Error(message);
  }
  return body;
};

/* el("a", {href: "/x", class: "y"}, "text", otherNode) */
Studio.el = function (tag, attrs) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (let i = 2; i < arguments.length; i++) {
    const child = arguments[i];
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
};

Studio.clear = function (node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
};

Studio.enc = encodeURIComponent;
Studio.runUrl = (id) => "/runs/" + encodeURIComponent(id);
Studio.fileUrl = (id, name) => "/api/runs/" + encodeURIComponent(id) + "/files/" +
  name.split("/").map(encodeURIComponent).join("/");

Studio.time = function (iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
};

Studio.duration = function (seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.floor(seconds);
  if (s < 60) return (seconds < 10 ? seconds.toFixed(1) : s) + "s";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? h + "h " : "") + m + "m " + String(r).padStart(2, "0") + "s";
};

Studio.value = function (v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return (a !== 0 && (a < 1e-3 || a >= 1e6)) ? v.toExponential(4) : String(+v.toPrecision(6));
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
};

/* A parameter (stored as text): numbers shortened like metrics, other text as it is. */
Studio.param = function (v) {
  if (typeof v !== "string" || v.trim() === "") return Studio.value(v);
  const n = Number(v);
  return isFinite(n) ? Studio.value(n) : v;
};

Studio.size = function (bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0, n = bytes;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
};

Studio.status = (status) => Studio.el("span", {class: "status " + status, text: status});

Studio.tags = function (tags) {
  const span = Studio.el("span");
  for (const [k, v] of Object.entries(tags || {})) {
    span.append(Studio.el("span", {class: "tag", text: v === null ? k : k + "=" + v}));
  }
  return span;
};

Studio.TERMINAL = new Set(["Completed", "Failed", "Canceled"]);

/* ------------------------------------------------------------------ charts */

Studio.COLORS = ["#0b61a4", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#1098ad",
                 "#5f3dc4", "#e67700", "#495057", "#087f5b"];

/* Points to ask the server for: two per pixel column (a minimum and a maximum). */
Studio.points = function (container) {
  const width = Math.max(200, container.clientWidth || 440);
  return Math.min(20000, Math.round(width * 2 * Math.min(2, window.devicePixelRatio || 1)));
};

/* A table from {column: [values]}. */
Studio.columnsTable = function (columns) {
  const names = Object.keys(columns);
  const rows = names.length ? columns[names[0]].length : 0;
  const table = Studio.el("table", {class: "grid"});
  table.append(Studio.el("thead", null,
    Studio.el("tr", null, ...names.map((n) => Studio.el("th", {text: n})))));
  const body = Studio.el("tbody");
  for (let i = 0; i < rows; i++) {
    body.append(Studio.el("tr", null, ...names.map((n) =>
      Studio.el("td", {class: typeof columns[n][i] === "number" ? "num" : null,
                       text: Studio.value(columns[n][i])}))));
  }
  table.append(body);
  return Studio.el("div", {class: "table-wrap"}, table);
};

document.addEventListener("DOMContentLoaded", () => {
  const page = Studio.pages[document.body.dataset.page];
  if (page) page(Studio.data());
});
