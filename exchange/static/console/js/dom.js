// Building DOM from text nodes only (no HTML parsing): every text goes in as text, so nothing from the API can
// ever become markup.

/** An element: h("button", {class: "x", onclick: fn, "aria-label": "…"}, "text", child…). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = value;
    } else if (key === "value" || key === "checked" || key === "disabled" || key === "selected") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An SVG element (charts). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Replace the children of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let counter = 0;
/** A fresh id for label/for and aria-describedby pairs. */
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled form control: returns {row, input}. */
export function field(label, control, hint) {
  control.id = control.id || uid();
  const row = h("div", { class: "field" }, h("label", { for: control.id, text: label }), control);
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    row.append(h("small", { id: hintId, class: "hint", text: hint }));
  }
  return { row, input: control };
}

/** A <select> of [value, label] pairs. */
export function select(options, value) {
  return h(
    "select",
    {},
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

/** A table from column headings and rows of cells; caption names it for screen readers. */
export function table(caption, headings, rows) {
  return h(
    "table",
    {},
    h("caption", { text: caption }),
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))),
  );
}

/** A table whose rows are cards on a phone: each cell a line of its column's heading and its
 * value (held in one box, so the value wraps beside the heading, not under it). */
export function cardTable(caption, headings, rows) {
  const shown = table(caption, headings, rows);
  shown.classList.add("phone-cards", "compact");
  [...shown.tBodies[0].rows].forEach((row) =>
    [...row.cells].forEach((cell, column) => {
      cell.setAttribute("data-label", headings[column]);
      cell.replaceChildren(h("div", {}, [...cell.childNodes]));
    }),
  );
  return shown;
}
