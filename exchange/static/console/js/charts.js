// Charts as inline SVG drawn here (no library). Each chart is an <svg role="img"> with a
// text alternative, a <title> per mark for pointer users, and the figures also given as a
// table right after it for screen readers and keyboard users.
//
// A chart is drawn for the screen it is shown on: up to 640 units wide, and on a phone as wide
// as the phone, so that its viewBox scales by about 1 there (a desktop chart shrunk to half
// would have labels 5 px tall); a wide chart, shrunk a little into its column, has larger
// labels to make up for it. The days along the axis are labelled only as often as their labels
// have room, counted back from the last day, so a month of days and a nearly empty month alike
// keep their labels apart and show today's.

import { h, svg } from "./dom.js";

const PALETTE = ["#1f5fa8", "#c0392b", "#2e8b57", "#b8860b", "#6a3d9a", "#008b8b", "#8b4513"];
const WIDEST = 640;
const NARROWEST = 260;
const H = 220;
const PAD = { top: 12, right: 12, bottom: 40, left: 48 };
const NAME_ROOM = 200; // the bar chart's names beside their bars, when the chart is wide

/** A round axis maximum at or above value (2, 4, 6, 10, 20…; 0.1, 0.2… for rates). */
function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 4, 5, 10].find((m) => m * power >= value);
  return step * power;
}

export function colour(i) {
  return PALETTE[i % PALETTE.length];
}

/** The chart's width in units: the screen's, less the page's and the figure's margins; and
 * the size of its labels in the same units. */
function drawingWidth() {
  const screen = document.documentElement.clientWidth || WIDEST;
  const width = Math.round(Math.min(WIDEST, Math.max(NARROWEST, screen - 64)));
  return { width, font: width >= 560 ? 13 : 11 };
}

/** The room a label needs, roughly: a CJK character is as wide as the font is high, another
 * a little over half as wide. */
function textWidth(text, font) {
  return [...text].reduce((n, c) => n + (c.codePointAt(0) >= 0x2e80 ? font : 0.6 * font), 0);
}

/** text, cut with "…" to fit room (the whole text stays in the mark's title). */
function fitted(text, room, font) {
  if (textWidth(text, font) <= room) return text;
  let cut = [...text];
  while (cut.length > 1 && textWidth(`${cut.join("")}…`, font) > room) cut = cut.slice(0, -1);
  return `${cut.join("")}…`;
}

function axis(max, height, width, format = String) {
  const ticks = [0, max / 2, max];
  return ticks.map((v) => {
    const y = PAD.top + height - (max ? (v / max) * height : 0);
    return svg(
      "g",
      {},
      svg("line", { x1: PAD.left, x2: width - PAD.right, y1: y, y2: y, class: "grid" }),
      svg("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, format(v)),
    );
  });
}

/** The days' labels under the columns: every nth day, n as the labels' room asks, the last
 * day always among them, none reaching left under the axis's own figures. */
function dayLabels(days, step, bottom, font) {
  const room = 4 * font; // "MM-DD" and a space
  const every = Math.max(1, Math.ceil(room / step));
  return days
    .map((day, i) => [day, PAD.left + i * step + step / 2, (days.length - 1 - i) % every === 0])
    .filter(([, x, labelled]) => labelled && x - room / 2 >= PAD.left - 6)
    .map(([day, x]) => svg("text", { x, y: bottom + 18, "text-anchor": "middle", class: "tick" }, day.slice(5)));
}

/** The frame of a chart of one column per day: its plot's size and each day's step. */
function dayFrame(days) {
  const { width, font } = drawingWidth();
  const plotWidth = width - PAD.left - PAD.right;
  const step = plotWidth / Math.max(1, days.length);
  return { width, font, height: H - PAD.top - PAD.bottom, step, bar: Math.max(2, step * 0.7) };
}

/** Stacked columns: days × series; values[day][series] counts; names[series] the legend's
 * words for a series (its code when absent). */
export function stackedColumns({ label, days, series, values, format = String, names = {} }) {
  const { width, font, height, step, bar } = dayFrame(days);
  const totals = days.map((d) => series.reduce((n, s) => n + (values[d]?.[s] || 0), 0));
  const max = niceMax(Math.max(2, ...totals)); // counts: whole numbers on the axis
  const named = (s) => names[s] || s;
  const marks = [];
  days.forEach((day, i) => {
    let y = PAD.top + height;
    series.forEach((name, j) => {
      const v = values[day]?.[name] || 0;
      if (!v) return;
      const hgt = (v / max) * height;
      y -= hgt;
      marks.push(
        svg(
          "rect",
          { x: PAD.left + i * step + (step - bar) / 2, y, width: bar, height: hgt, fill: colour(j) },
          svg("title", {}, `${day} · ${named(name)}: ${format(v)}`),
        ),
      );
    });
  });
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${width} ${H}`, role: "img", "aria-label": label, "font-size": font },
    axis(max, height, width),
    marks,
    dayLabels(days, step, PAD.top + height, font),
  );
  return figure(label, chart, series.map(named));
}

/** Columns of one value per day (e.g. a rate between 0 and 1). */
export function columns({ label, days, values, format = String, max }) {
  const { width, font, height, step, bar } = dayFrame(days);
  const top = max ?? niceMax(Math.max(0, ...days.map((d) => values[d] || 0)));
  const marks = days.map((day, i) => {
    const v = values[day] || 0;
    const hgt = top ? (v / top) * height : 0;
    return svg(
      "rect",
      { x: PAD.left + i * step + (step - bar) / 2, y: PAD.top + height - hgt, width: bar, height: hgt, fill: colour(1) },
      svg("title", {}, `${day}: ${format(v)}`),
    );
  });
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${width} ${H}`, role: "img", "aria-label": label, "font-size": font },
    axis(top, height, width, format),
    marks,
    dayLabels(days, step, PAD.top + height, font),
  );
  return figure(label, chart);
}

/** Horizontal bars: [{name, value}]. On a wide chart each name stands left of its bar; on a
 * narrow one above it, so that a long name never pushes the bars off the chart. */
export function bars({ label, items, format = String }) {
  const { width, font } = drawingWidth();
  const beside = width >= 2.5 * NAME_ROOM;
  const rowH = beside ? 28 : 40;
  const start = beside ? NAME_ROOM : 0;
  const room = width - start - 56; // the longest bar leaves room for its figure
  const max = Math.max(1, ...items.map((i) => i.value));
  const marks = items.map((item, i) => {
    const top = i * rowH + (beside ? 6 : 21);
    const length = (room * item.value) / max;
    const name = beside
      ? svg("text", { x: start - 8, y: i * rowH + 19, "text-anchor": "end", class: "tick" }, fitted(item.name, start - 12, font))
      : svg("text", { x: 0, y: i * rowH + 15, class: "tick" }, fitted(item.name, width - 4, font));
    return svg(
      "g",
      {},
      name,
      svg(
        "rect",
        { x: start, y: top, height: 16, width: length, fill: colour(i) },
        svg("title", {}, `${item.name}: ${format(item.value)}`),
      ),
      svg("text", { x: start + length + 6, y: top + 12, class: "tick" }, format(item.value)),
    );
  });
  const height = items.length * rowH + 8;
  return figure(label, svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, "font-size": font }, marks));
}

function figure(label, chart, legend) {
  return h(
    "figure",
    { class: "chart" },
    h("figcaption", { text: label }),
    chart,
    legend
      ? h(
          "ul",
          { class: "legend" },
          legend.map((name, i) =>
            h("li", {}, h("span", { class: "swatch", "data-colour": String(i % PALETTE.length) }), name),
          ),
        )
      : null,
  );
}
