// Charts as inline SVG drawn here (no library). Each chart is an <svg role="img"> with a
// text alternative, a <title> per mark for pointer users, and the figures also given as a
// table right after it for screen readers and keyboard users.

import { h, svg } from "./dom.js";

const PALETTE = ["#1f5fa8", "#c0392b", "#2e8b57", "#b8860b", "#6a3d9a", "#008b8b", "#8b4513"];
const W = 640;
const H = 220;
const PAD = { top: 12, right: 12, bottom: 40, left: 44 };

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

function axis(max, height, format = String) {
  const ticks = [0, max / 2, max];
  return ticks.map((v) => {
    const y = PAD.top + height - (max ? (v / max) * height : 0);
    return svg(
      "g",
      {},
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }),
      svg("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, format(v)),
    );
  });
}

/** Stacked columns: days × series; values[day][series] counts. */
export function stackedColumns({ label, days, series, values, format = String }) {
  const height = H - PAD.top - PAD.bottom;
  const width = W - PAD.left - PAD.right;
  const totals = days.map((d) => series.reduce((n, s) => n + (values[d]?.[s] || 0), 0));
  const max = niceMax(Math.max(1, ...totals));
  const step = width / Math.max(1, days.length);
  const bar = Math.max(2, step * 0.7);
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
          svg("title", {}, `${day} · ${name}: ${format(v)}`),
        ),
      );
    });
  });
  const labels = days.map((day, i) =>
    i % Math.ceil(days.length / 8) === 0
      ? svg(
          "text",
          { x: PAD.left + i * step + step / 2, y: H - PAD.bottom + 16, "text-anchor": "middle", class: "tick" },
          day.slice(5),
        )
      : null,
  );
  return figure(label, svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label }, axis(max, height), marks, labels.filter(Boolean)), series);
}

/** Columns of one value per day (e.g. a rate between 0 and 1). */
export function columns({ label, days, values, format = String, max }) {
  const data = {};
  days.forEach((d) => {
    data[d] = { [label]: values[d] || 0 };
  });
  const top = max ?? niceMax(Math.max(0, ...days.map((d) => values[d] || 0)));
  const height = H - PAD.top - PAD.bottom;
  const width = W - PAD.left - PAD.right;
  const step = width / Math.max(1, days.length);
  const bar = Math.max(2, step * 0.7);
  const marks = days.map((day, i) => {
    const v = values[day] || 0;
    const hgt = top ? (v / top) * height : 0;
    return svg(
      "rect",
      { x: PAD.left + i * step + (step - bar) / 2, y: PAD.top + height - hgt, width: bar, height: hgt, fill: colour(1) },
      svg("title", {}, `${day}: ${format(v)}`),
    );
  });
  const labels = days
    .map((day, i) =>
      i % Math.ceil(days.length / 8) === 0
        ? svg("text", { x: PAD.left + i * step + step / 2, y: H - PAD.bottom + 16, "text-anchor": "middle", class: "tick" }, day.slice(5))
        : null,
    )
    .filter(Boolean);
  return figure(label, svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label }, axis(top, height, format), marks, labels));
}

/** Horizontal bars: [{name, value}]. */
export function bars({ label, items, format = String }) {
  const BW = 460;
  const rowH = 26;
  const height = items.length * rowH + 8;
  const max = Math.max(1, ...items.map((i) => i.value));
  const nameW = 170;
  const marks = items.map((item, i) =>
    svg(
      "g",
      {},
      svg("text", { x: nameW - 8, y: i * rowH + 18, "text-anchor": "end", class: "tick" }, item.name),
      svg(
        "rect",
        { x: nameW, y: i * rowH + 5, height: rowH - 10, width: ((BW - nameW - 50) * item.value) / max, fill: colour(i) },
        svg("title", {}, `${item.name}: ${format(item.value)}`),
      ),
      svg("text", { x: nameW + ((BW - nameW - 50) * item.value) / max + 6, y: i * rowH + 18, class: "tick" }, format(item.value)),
    ),
  );
  return figure(label, svg("svg", { viewBox: `0 0 ${BW} ${height}`, role: "img", "aria-label": label }, marks));
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
