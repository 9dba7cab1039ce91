// The data authority's compliance view (合规监督, 《政务数据共享条例》 art. 38–41): every clock of
// the sharing lifecycle that is running now, with whom it waits for and its last day (China
// time, overdue marked); the breaches not put right yet, each with its article and a link to its
// case; each department's figures; the trend of breaches over twelve months per kind and per
// department (charts.js); and the monthly report to file, printable on A4 and as a CSV. Every
// figure comes from /authority/compliance…; the page shows whatever the hub has on record.

import { api } from "./api.js";
import { stackedColumns } from "./charts.js";
import { cardTable, field, h, replace, select } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { localName } from "./names.js";
import { act, day, facts, link, loading, monthFrom, monthName, recentChinaMonths, saveCsv, section } from "./ui.js";

const MONTHS_SHOWN = 12;

/** Who a clock waits for, or whom a breach is charged to: a department's name, else the
 * authority, the common superior or the government. */
function who(item) {
  if (item.department) return h("span", { title: item.department }, localName(item.department_name, item.department));
  return label("comp.party", item.party);
}

function other(item) {
  if (!item.counterpart) return "—";
  return h("span", { title: item.counterpart }, localName(item.counterpart_name, item.counterpart));
}

/** The console page where the authority follows a case up, if it has one. */
const CASE_PAGES = {
  submission: () => "/authority/review",
  update_duty: () => "/authority/review",
  demand: () => "/authority/review",
  dispute: () => "/authority/disputes",
  application: () => "/authority/extensions",
  resource: (id) => `/catalogue/${encodeURIComponent(id)}`,
};

function caseCell(c) {
  const text = `${label("comp.case", c.kind)} ${c.id}`;
  const page = CASE_PAGES[c.kind];
  return h("span", { class: "case" }, page ? link(page(c.id), text, { title: c.id }) : h("code", {}, text));
}

function clockState(c) {
  if (c.overdue) return h("span", { class: "badge overdue" }, t("comp.overdue_days", { n: -c.working_days_left }));
  return h("span", { class: "badge due" }, t("comp.left_days", { n: c.working_days_left }));
}

function breachState(b) {
  if (b.due_on === null) return h("span", { class: "badge overdue" }, t("comp.no_notice"));
  const late = t("comp.late_days", { n: b.working_days_late });
  if (b.open) return h("span", { class: "badge overdue" }, t("comp.still_open", { late }));
  return h("span", { class: "badge" }, t("comp.put_right", { date: day(b.ended_on), late }));
}

function kindName(kind) {
  return label("comp.kind", kind);
}

function article(a) {
  return label("comp.article", String(a.number));
}

function departmentPicker(ctx, view) {
  const options = [["", t("comp.all_departments")]];
  view.registry.forEach((d) => options.push([d.code, localName(d.name, d.code)]));
  const chooser = select(options, view.department || "");
  chooser.addEventListener("change", () => ctx.navigate(`/authority/compliance${chooser.value ? `?department=${encodeURIComponent(chooser.value)}` : ""}`));
  return h("div", { class: "toolbar" }, field(t("comp.department"), chooser).row);
}

// -- the page ------------------------------------------------------------------------------------

export async function renderHome(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("comp.title")), loading());
  const department = new URLSearchParams(window.location.search).get("department") || undefined;
  const view = await api("/authority/compliance", { query: { department } });
  const overdue = view.clocks.filter((c) => c.overdue).length;
  const month = view.month;
  replace(
    main,
    h("h1", {}, t("comp.title")),
    h("p", { class: "hint" }, t("comp.intro")),
    departmentPicker(ctx, view),
    h("p", { class: "row-actions" }, link(`/authority/compliance/report/${month}`, t("comp.report_link", { month: monthName(month) }))),
    facts([
      [t("comp.running"), String(view.clocks.length)],
      [t("comp.overdue_now"), String(overdue)],
      [t("comp.open_breaches"), String(view.open_breaches.length)],
      [t("comp.this_month"), String(view.departments.reduce((n, d) => n + d.breaches_this_month, 0))],
    ]),
    section(t("comp.departments"), departmentTable(view.departments)),
    section(t("comp.trend"), trendCharts(view)),
    section(t("comp.open_title"), view.open_breaches.length ? breachTable(t("comp.open_title"), view.open_breaches) : h("p", {}, t("comp.no_breaches"))),
    section(t("comp.clocks"), view.clocks.length ? clockTable(view.clocks) : h("p", {}, t("comp.no_clocks"))),
    h("p", { class: "hint" }, t("comp.how")),
  );
}

function departmentTable(rows) {
  return cardTable(
    t("comp.departments"),
    [t("comp.department"), t("comp.running"), t("comp.overdue_now"), t("comp.open_breaches"), t("comp.this_month")],
    rows.map((r) => [
      r.department ? h("span", { title: r.department }, localName(r.name, r.department)) : label("comp.party", r.key),
      String(r.clocks),
      r.overdue_clocks ? h("span", { class: "badge overdue" }, String(r.overdue_clocks)) : "0",
      String(r.open_breaches),
      String(r.breaches_this_month),
    ]),
  );
}

function clockTable(clocks) {
  return cardTable(
    t("comp.clocks"),
    [t("comp.clock"), t("comp.waits_for"), t("comp.counterpart"), t("comp.case"), t("comp.due_on"), t("comp.state")],
    clocks.map((c) => [label("comp.clock", c.kind), who(c), other(c), caseCell(c.case), day(c.due_on), clockState(c)]),
  );
}

function breachTable(caption, breaches, { links = true } = {}) {
  return cardTable(
    caption,
    [t("comp.occurred_on"), t("comp.breach"), t("comp.article"), t("comp.charged_to"), t("comp.case"), t("comp.state")],
    breaches.map((b) => [
      day(b.occurred_on),
      kindName(b.kind),
      article(b.article),
      who(b),
      links ? caseCell(b.case) : h("code", {}, `${label("comp.case", b.case.kind)} ${b.case.id}`),
      breachState(b),
    ]),
  );
}

function trendCharts(view) {
  const months = view.trend.months;
  const byKind = Object.fromEntries(view.trend.by_kind.map((p) => [p.month, p.counts]));
  const kinds = view.kinds.map((k) => k.kind).filter((k) => months.some((m) => byKind[m][k]));
  const byDepartment = Object.fromEntries(view.trend.by_department.map((p) => [p.month, p.counts]));
  const keys = [...new Set(view.trend.by_department.flatMap((p) => Object.keys(p.counts)))].sort();
  const names = Object.fromEntries(view.departments.map((d) => [d.key, d.department ? localName(d.name, d.department) : label("comp.party", d.key)]));
  keys.forEach((k) => {
    if (!names[k]) names[k] = label("comp.party", k);
  });
  const kindNames = Object.fromEntries(kinds.map((k) => [k, kindName(k)]));
  if (!kinds.length) return h("p", {}, t("comp.no_trend"));
  return h(
    "div",
    { class: "chart-grid" },
    stackedColumns({ label: t("comp.chart_kinds"), days: months, series: kinds, values: byKind, names: kindNames }),
    stackedColumns({ label: t("comp.chart_departments"), days: months, series: keys, values: byDepartment, names }),
  );
}

// -- the monthly report ----------------------------------------------------------------------------

async function downloadCsv(month) {
  const text = await api("/authority/compliance/report", { query: { month, format: "csv" }, as: "text" });
  saveCsv(text, `tongban-compliance-${month}.csv`);
}

export async function renderReport(ctx) {
  const { main } = ctx;
  const month = monthFrom(ctx);
  const title = t("comp.report_title", { month: monthName(month) });
  replace(main, h("h1", {}, title), loading());
  const report = await api("/authority/compliance/report", { query: { month } });
  const chooser = select(recentChinaMonths(MONTHS_SHOWN).map((m) => [m, monthName(m)]), month);
  chooser.addEventListener("change", () => ctx.navigate(`/authority/compliance/report/${chooser.value}`));
  const print = h("button", { type: "button", onclick: () => window.print() }, t("auth.print"));
  const csv = h("button", { type: "button", class: "secondary" }, t("comp.csv"));
  const actions = h("p", { class: "row-actions no-print" }, print, csv, link("/authority/compliance", t("comp.back")));
  csv.addEventListener("click", () => act(csv, actions, () => downloadCsv(month)));
  const articles = report.articles.map((a) => a.number);
  replace(
    main,
    h(
      "div",
      { class: "report compliance-report" },
      h("div", { class: "toolbar no-print" }, field(t("auth.month"), chooser).row),
      h("h1", {}, title),
      h(
        "p",
        { class: "meta" },
        t("comp.report_made", { at: when(report.made_at) }),
        " · ",
        report.complete ? t("auth.whole_month") : t("auth.until_now", { until: when(report.until) }),
      ),
      actions,
      h("p", { class: "hint" }, t("comp.report_intro")),
      h("h2", {}, t("comp.by_article")),
      cardTable(
        t("comp.by_article"),
        [t("comp.article"), t("comp.breaches_of"), t("comp.count")],
        report.articles.map((a) => [article(a), a.kinds.map(kindName).join("、"), String(a.count)]),
      ),
      h("h2", {}, t("comp.by_department")),
      cardTable(
        t("comp.by_department"),
        [t("comp.department"), ...articles.map((n) => label("comp.article", String(n))), t("comp.total"), t("comp.unresolved")],
        [...report.rows, report.total].map((r) => [
          r.department ? h("span", { title: r.department }, localName(r.name, r.department)) : label("comp.party", r.key),
          ...articles.map((n) => String(r.by_article[String(n)])),
          h("strong", {}, String(r.total)),
          String(r.unresolved_at_end),
        ]),
      ),
      h("h2", {}, t("comp.by_kind")),
      cardTable(
        t("comp.by_kind"),
        [t("comp.breach"), t("comp.article"), t("comp.count")],
        report.kinds.map((k) => [kindName(k.kind), article(k.article), String(report.total.by_kind[k.kind])]),
      ),
      h("h2", {}, t("comp.month_breaches")),
      report.breaches.length ? breachTable(t("comp.month_breaches"), report.breaches, { links: false }) : h("p", {}, t("comp.no_breaches_month")),
      h("p", { class: "hint" }, t("comp.how")),
    ),
  );
}
