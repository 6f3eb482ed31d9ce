/* runner studio: a log line as a terminal shows it.
 *
 * A small renderer of our own rather than a library (ansi_up and the like turn ANSI
 * colours into HTML but leave carriage returns alone, and return HTML strings): one
 * pass over the line keeps a row of cells, so that
 *   - "\r" moves back to column 0 and what follows overwrites (a tqdm bar written 31
 *     times shows once, in its last state; shorter text leaves the rest, as a terminal),
 *   - "\b" steps back one cell, "ESC[K" erases to the end of the line,
 *   - SGR codes (ESC[...m) set bold, dim, italic, underline, inverse, the 16 colours,
 *     the 256-colour palette and 24-bit colours, for foreground and background;
 *   - every other escape (cursor movement, titles) is dropped, never shown raw.
 * The result is DOM nodes built with textContent and style properties: nothing from
 * the log is ever parsed as HTML.
 */
"use strict";

const Terminal = (function () {
  const BASIC = ["#1d2329", "#e5534b", "#57ab5a", "#c69026", "#539bf5", "#b083f0",
                 "#39c5cf", "#d6dde4"];
  const BRIGHT = ["#768390", "#ff938a", "#6bc46d", "#daaa3f", "#6cb6ff", "#dcbdfb",
                  "#56d4dd", "#ffffff"];

  function palette(n) {
    if (n < 8) return BASIC[n];
    if (n < 16) return BRIGHT[n - 8];
    if (n < 232) {
      const v = n - 16, c = [Math.floor(v / 36), Math.floor(v / 6) % 6, v % 6];
      return "rgb(" + c.map((x) => (x ? 55 + x * 40 : 0)).join(",") + ")";
    }
    const g = 8 + (n - 232) * 10;
    return "rgb(" + g + "," + g + "," + g + ")";
  }

  /* Apply one SGR parameter list to a style (a fresh object is returned). */
  function sgr(style, params) {
    const s = Object.assign({}, style);
    const p = params.length ? params : [0];
    for (let i = 0; i < p.length; i++) {
      const code = p[i];
      if (code === 0) { for (const k of Object.keys(s)) delete s[k]; }
      else if (code === 1) s.bold = true;
      else if (code === 2) s.dim = true;
      else if (code === 3) s.italic = true;
      else if (code === 4) s.underline = true;
      else if (code === 7) s.inverse = true;
      else if (code === 22) { delete s.bold; delete s.dim; }
      else if (code === 23) delete s.italic;
      else if (code === 24) delete s.underline;
      else if (code === 27) delete s.inverse;
      else if (code >= 30 && code <= 37) s.fg = BASIC[code - 30];
      else if (code >= 90 && code <= 97) s.fg = BRIGHT[code - 90];
      else if (code === 39) delete s.fg;
      else if (code >= 40 && code <= 47) s.bg = BASIC[code - 40];
      else if (code >= 100 && code <= 107) s.bg = BRIGHT[code - 100];
      else if (code === 49) delete s.bg;
      else if (code === 38 || code === 48) {
        const key = code === 38 ? "fg" : "bg";
        if (p[i + 1] === 5 && p[i + 2] !== undefined) { s[key] = palette(p[i + 2] & 255); i += 2; }
        else if (p[i + 1] === 2 && p[i + 4] !== undefined) {
          s[key] = "rgb(" + [p[i + 2], p[i + 3], p[i + 4]].map((x) => x & 255).join(",") + ")";
          i += 4;
        }
      }
    }
    return s;
  }

  /* The cells of one line: [{ch, style}], after \r, \b and escapes. */
  function cells(text) {
    const row = [];
    let cursor = 0, style = {};
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch === "\x1b") {
        const next = text[i + 1];
        if (next === "[") {
          let j = i + 2;
          while (j < text.length && !/[@-~]/.test(text[j])) j++;
          const body = text.slice(i + 2, j), final = text[j];
          if (final === "m") {
            style = sgr(style, body.split(/[;:]/).filter((x) => x !== "").map(Number));
          } else if (final === "K") {
            const mode = Number(body || 0);
            if (mode === 0) row.length = Math.min(row.length, cursor);
            else if (mode === 2) row.length = 0;
          } else if (final === "G") {
            cursor = Math.max(0, Number(body || 1) - 1);
          }
          i = j;
        } else if (next === "]") {  // OSC: up to BEL or ESC \
          let j = i + 2;
          while (j < text.length && text[j] !== "\x07" && !(text[j] === "\x1b" && text[j + 1] === "\\")) j++;
          i = text[j] === "\x1b" ? j + 1 : j;
        } else {
          i += 1;
        }
        continue;
      }
      if (ch === "\r") { cursor = 0; continue; }
      if (ch === "\b") { cursor = Math.max(0, cursor - 1); continue; }
      if (ch < " " && ch !== "\t") continue;
      while (row.length < cursor) row.push({ch: " ", style: {}});
      row[cursor++] = {ch: ch, style: style};
    }
    return row;
  }

  function apply(node, s) {
    let fg = s.fg, bg = s.bg;
    if (s.inverse) { fg = s.bg || "#0f1419"; bg = s.fg || "#d6dde4"; }
    if (fg) node.style.color = fg;
    if (bg) node.style.backgroundColor = bg;
    if (s.bold) node.style.fontWeight = "bold";
    if (s.dim) node.style.opacity = "0.7";
    if (s.italic) node.style.fontStyle = "italic";
    if (s.underline) node.style.textDecoration = "underline";
  }

  /* Fill node with the line as the terminal shows it; returns its plain text. */
  function render(node, text) {
    while (node.firstChild) node.removeChild(node.firstChild);
    if (text.indexOf("\x1b") < 0 && text.indexOf("\r") < 0 && text.indexOf("\b") < 0) {
      node.textContent = text || "\u200b";
      return text;
    }
    const row = cells(text);
    let plain = "";
    let i = 0;
    while (i < row.length) {
      const style = row[i].style;
      let j = i, part = "";
      while (j < row.length && row[j].style === style) { part += row[j].ch; j++; }
      plain += part;
      if (Object.keys(style).length) {
        const span = document.createElement("span");
        apply(span, style);
        span.textContent = part;
        node.append(span);
      } else {
        node.append(part);
      }
      i = j;
    }
    if (!row.length) node.textContent = "\u200b";
    return plain;
  }

  return {render: render, cells: cells};
})();
