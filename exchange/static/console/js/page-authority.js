// The data authority's pages (主管部门, e.g. a 大数据局): the month's scorecards (共享评价,
// 《政务数据共享条例》 art. 38) per provider and consumer department and city-wide, with charts, a
// printable report and its CSV, and the ratings that concern one department. The home page is
// /authority; the later pages of the authority (catalogue review, disputes) hang off it.

import { api } from "./api.js";
import { bars, columns } from "./charts.js";
import { cardTable, h, replace, select, field } from "./dom.js";
import { percent, t, when } from "./i18n.js";
import { localName } from "./names.js";
import { act, facts, fill, link, loading, monthFrom, monthName, recentChinaMonths, saveCsv, section } from "./ui.js";

const MONTHS_SHOWN = 12;

const rate = (value) => (value === null || value === undefined ? "—" : percent(value));
const ms = (value) => (value === null || value === undefined ? "—" : t("auth.ms", { ms: value }));
const score = (value) => (value === null || value === undefined ? "—" : value.toFixed(1));
const name = (card) => h("span", { title: card.department }, localName(card.name, card.department));

/** Answered on time over both clocks (corrections and applications), or null. */
function onTime(card) {
  const answered = card.corrections.answered + card.applications.answered;
  return answered ? (card.corrections.on_time + card.applications.on_time) / answered : null;
}

function monthPicker(ctx, month, path) {
  const chooser = select(recentChinaMonths(MONTHS_SHOWN).map((m) => [m, monthName(m)]), month);
  chooser.addEventListener("change", () => ctx.navigate(`${path}/${chooser.value}`));
  return h("div", { class: "toolbar" }, field(t("auth.month"), chooser).row);
}

// -- the home page: the month's scorecards ------------------------------------------------------

export async function renderHome(ctx) {
  const { main } = ctx;
  const month = monthFrom(ctx);
  replace(main, h("h1", {}, t("auth.title")), loading());
  const cards = await api("/authority/scorecards", { query: { month } });
  const csv = h("button", { type: "button", class: "secondary" }, t("auth.csv"));
  const actions = h(
    "p",
    { class: "row-actions" },
    link(`/authority/report/${month}`, t("auth.report")),
    csv,
    h("a", { href: `/statistics?month=${month}` }, t("auth.public")),
  );
  csv.addEventListener("click", () => act(csv, actions, () => downloadCsv(month)));
  replace(
    main,
    h("h1", {}, t("auth.title")),
    h("p", { class: "hint" }, t("auth.intro")),
    monthPicker(ctx, month, "/authority"),
    h("p", { class: "meta" }, cards.complete ? t("auth.whole_month") : t("auth.until_now", { until: when(cards.until) })),
    actions,
    section(t("auth.city"), cityFacts(cards.city)),
    section(t("auth.charts"), charts(cards)),
    section(t("auth.providers"), providerTable(cards.providers, month)),
    section(t("auth.consumers"), consumerTable(cards.consumers)),
    h("p", { class: "hint" }, t("auth.how")),
  );
}

function cityFacts(city) {
  return facts([
    [t("auth.corrections_on_time"), `${rate(city.corrections.on_time_rate)} (${city.corrections.on_time}/${city.corrections.answered})`],
    [t("auth.applications_on_time"), `${rate(city.applications.on_time_rate)} (${city.applications.on_time}/${city.applications.answered})`],
    [t("auth.overdue_open"), String(city.corrections.overdue_open + city.applications.overdue_open)],
    [t("auth.availability"), rate(city.sources.availability)],
    [t("auth.latency"), `${ms(city.sources.latency_p50_ms)} / ${ms(city.sources.latency_p95_ms)}`],
    [t("auth.fresh"), `${rate(city.freshness.fresh_rate)} (${city.freshness.fresh}/${city.freshness.resources})`],
    [t("auth.disputed"), String(city.disputed_attributes)],
    [t("auth.accesses"), String(city.use.accesses)],
    [t("auth.within_purpose"), rate(city.use.within_purpose)],
    [t("auth.anomalies"), String(city.anomalies)],
    [t("auth.usage_records"), t("auth.not_built")],
    [t("auth.citizen_score"), `${score(city.citizen_ratings.mean_score)} (${t("auth.n_ratings", { n: city.citizen_ratings.count })})`],
    [t("auth.quality_score"), `${score(city.provider_ratings.mean_score)} (${t("auth.n_ratings", { n: city.provider_ratings.count })})`],
  ]);
}

function charts(cards) {
  const providers = cards.providers;
  const trendDays = cards.trend.map((m) => m.month);
  const byMonth = (pick) => Object.fromEntries(cards.trend.map((m) => [m.month, pick(m) ?? 0]));
  return h(
    "div",
    { class: "chart-grid" },
    rateBars(t("auth.chart_on_time"), providers, onTime),
    rateBars(t("auth.chart_availability"), providers, (p) => p.sources.availability),
    rateBars(t("auth.chart_within_purpose"), cards.consumers, (c) => c.use.within_purpose),
    bars({
      label: t("auth.chart_wrong"),
      items: providers.map((p) => ({ name: localName(p.name, p.department), value: p.ratings.wrong_marks + p.disputed_attributes.length })),
    }),
    columns({ label: t("auth.chart_trend_accesses"), days: trendDays, values: byMonth((m) => m.use.accesses) }),
    columns({ label: t("auth.chart_trend_on_time"), days: trendDays, values: byMonth((m) => m.corrections.on_time_rate), format: percent, max: 1 }),
  );
}

/** Bars of a rate per department; a department with nothing to measure has no bar (not 0 %). */
function rateBars(label, cards, rateOf) {
  const items = cards
    .filter((card) => rateOf(card) !== null && rateOf(card) !== undefined)
    .map((card) => ({ name: localName(card.name, card.department), value: rateOf(card) }));
  if (!items.length) return h("figure", { class: "chart" }, h("figcaption", { text: label }), h("p", { class: "hint" }, t("auth.nothing_to_measure")));
  return bars({ label, items, format: percent });
}

function clockCell(c) {
  return `${c.on_time}/${c.answered} · ${t("auth.received_n", { n: c.received })}${c.overdue_open ? ` · ${t("auth.overdue_n", { n: c.overdue_open })}` : ""}`;
}

/** The providers' table; *month* adds a column of links to each provider's ratings (not in
 * the printed report). */
function providerTable(providers, month = null) {
  const headings = [t("auth.department"), t("auth.corrections"), t("auth.applications"), t("auth.availability"), t("auth.latency"), t("auth.fresh"), t("auth.disputed"), t("auth.quality")];
  return cardTable(
    t("auth.providers"),
    month ? [...headings, t("auth.feedback")] : headings,
    providers.map((p) => [
      name(p),
      clockCell(p.corrections),
      clockCell(p.applications),
      `${rate(p.sources.availability)} · ${t("auth.fetch_ok", { rate: rate(p.sources.fetch_success_rate) })}`,
      `${ms(p.sources.latency_p50_ms)} / ${ms(p.sources.latency_p95_ms)}`,
      `${p.freshness.fresh}/${p.freshness.resources}`,
      String(p.disputed_attributes.length),
      `${score(p.ratings.mean_score)} · ${t("auth.wrong_n", { n: p.ratings.wrong_marks })} · ${t("auth.asked_n", { n: p.ratings.asked_again })}`,
      month ? link(`/authority/feedback/${encodeURIComponent(p.department)}/${month}`, t("auth.see_feedback")) : null,
    ].filter((cell) => cell !== null)),
  );
}

function consumerTable(consumers) {
  return cardTable(
    t("auth.consumers"),
    [t("auth.department"), t("auth.accesses"), t("auth.within_purpose"), t("auth.anomalies"), t("auth.usage_records"), t("auth.citizen_score")],
    consumers.map((c) => [
      name(c),
      String(c.use.accesses),
      `${rate(c.use.within_purpose)}${c.use.outside_purpose ? ` · ${t("auth.outside_n", { n: c.use.outside_purpose })}` : ""}`,
      String(c.anomalies.total),
      h("span", { class: "badge overdue" }, t("auth.not_built")),
      `${score(c.ratings.mean_score)} (${t("auth.n_ratings", { n: c.ratings.count })})`,
    ]),
  );
}

/** The CSV, fetched with the ID token and handed to the browser as a file. */
async function downloadCsv(month) {
  const text = await api("/authority/scorecards.csv", { query: { month }, as: "text" });
  saveCsv(text, `tongban-scorecards-${month}.csv`);
}

// -- the printable report -------------------------------------------------------------------------

export async function renderReport(ctx) {
  const { main } = ctx;
  const month = monthFrom(ctx);
  replace(main, h("h1", {}, t("auth.report_title", { month: monthName(month) })), loading());
  const cards = await api("/authority/scorecards", { query: { month } });
  const print = h("button", { type: "button", onclick: () => window.print() }, t("auth.print"));
  replace(
    main,
    h("div", { class: "report" },
      h("h1", {}, t("auth.report_title", { month: monthName(month) })),
      h("p", { class: "meta" }, t("auth.report_made", { at: when(new Date().toISOString()) }), " · ", cards.complete ? t("auth.whole_month") : t("auth.until_now", { until: when(cards.until) })),
      h("p", { class: "row-actions no-print" }, print, link(`/authority/${month}`, t("auth.back"))),
      h("h2", {}, t("auth.city")),
      cityFacts(cards.city),
      h("h2", {}, t("auth.providers")),
      providerTable(cards.providers),
      h("h2", {}, t("auth.consumers")),
      consumerTable(cards.consumers),
      h("p", { class: "hint" }, t("auth.how")),
    ),
  );
}

// -- the ratings about one department -------------------------------------------------------------

export async function renderFeedback(ctx) {
  const { main } = ctx;
  const [department] = ctx.params;
  const month = monthFrom(ctx);
  replace(main, h("h1", {}, t("auth.feedback_title", { department })), loading());
  const where = h("div");
  replace(
    main,
    h("h1", {}, t("auth.feedback_title", { department })),
    monthPicker(ctx, month, `/authority/feedback/${encodeURIComponent(department)}`),
    h("p", { class: "hint" }, t("auth.feedback_hint")),
    where,
    h("p", {}, link(`/authority/${month}`, t("auth.back"))),
  );
  await fill(where, async () => {
    const answer = await api("/authority/feedback", { query: { department, month } });
    if (!answer.ratings.length) return h("p", {}, t("auth.no_feedback"));
    return cardTable(
      t("auth.feedback_title", { department }),
      [t("auth.rated_at"), t("auth.rater"), t("auth.about"), t("auth.score"), t("auth.wrong"), t("auth.asked_again"), t("auth.comment")],
      answer.ratings.map((r) => [
        when(r.rated_at),
        r.rater === "citizen" ? t("auth.rater_citizen") : t("auth.rater_department", { department: r.department }),
        r.rater === "citizen" ? r.service_item : r.resource,
        String(r.score),
        r.wrong.join("、") || "—",
        r.asked_again.join("、") || "—",
        r.comment || "—",
      ]),
    );
  });
}
