// Auditor (审计员): search the log, read an entry and verify it in the browser against the
// signed checkpoint, and see the statistics and flagged anomalies of the last 30 days.
// The search is kept in memory (never in the console's URL): an ID number typed here goes to
// the API's query string only, as the contract defines. On a phone each table's row is a card
// of labelled lines (style.css, phone-cards) and the charts are drawn for the phone's width.

import { api, optional } from "./api.js";
import { bars, columns, stackedColumns } from "./charts.js";
import { cardTable, field, h, replace, select } from "./dom.js";
import { label, language, percent, t, when } from "./i18n.js";
import { departmentName, localName } from "./names.js";
import { act, badge, facts, link, liveRegion, loading, problemBox, refusalWords, section } from "./ui.js";
import { STEPS, verifyEntry } from "./verify.js";
import { auditorPolicy, loadWitnessGap, policyPanel, witnessGap, witnessStepWords } from "./witnesses.js";

const OUTCOMES = ["released", "partial", "denied", "unavailable", "withheld", "budget_exhausted"];
let lastSearch = {};
let departmentNames = null; // code → name in the page's language, read once per page

/** The departments' names by code (the catalogue's list; codes stand in when it fails). */
async function loadDepartmentNames() {
  const listed = await optional("/catalogue/departments");
  departmentNames = Object.fromEntries(((listed && listed.departments) || []).map((d) => [d.code, departmentName(d)]));
  return departmentNames;
}

function department(code) {
  const name = departmentNames && departmentNames[code];
  return name && name !== code ? h("span", { title: code }, name) : code;
}

export async function renderSearch(ctx) {
  const { main } = ctx;
  const results = liveRegion({ class: "results" }, h("p", { class: "hint" }, t("audit.results_hint")));
  const stats = h("div", { class: "stats" }, loading());
  replace(
    main,
    h("h1", {}, t("audit.title")),
    section(t("audit.search"), searchForm(ctx, results)),
    section(t("audit.results"), results),
    stats,
  );
  await loadDepartmentNames();
  if (Object.keys(lastSearch).length) await runSearch(lastSearch, results, ctx);
  await renderStats(stats);
}

function searchForm(ctx, results) {
  const inputs = {
    subject: h("input", { type: "text", inputmode: "text", autocomplete: "off", maxlength: 18, spellcheck: "false", value: lastSearch.subject || "" }),
    system: h("input", { type: "text", autocomplete: "off", value: lastSearch.system || "" }),
    department: h("input", { type: "text", autocomplete: "off", value: lastSearch.department || "" }),
    purpose: h("input", { type: "text", autocomplete: "off", value: lastSearch.purpose || "" }),
    outcome: select([["", t("audit.any")], ...OUTCOMES.map((o) => [o, label("outcome", o)])], lastSearch.outcome || ""),
    from: h("input", { type: "date", value: lastSearch.fromDay || "" }),
    to: h("input", { type: "date", value: lastSearch.toDay || "" }),
  };
  const submit = h("button", { type: "submit" }, t("audit.search_button"));
  const form = h(
    "form",
    { class: "card grid", role: "search" },
    field(t("audit.subject"), inputs.subject, t("audit.subject_hint")).row,
    field(t("audit.system"), inputs.system).row,
    field(t("audit.department"), inputs.department).row,
    field(t("audit.purpose"), inputs.purpose).row,
    field(t("audit.outcome"), inputs.outcome).row,
    field(t("audit.from"), inputs.from).row,
    field(t("audit.to"), inputs.to).row,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    lastSearch = Object.fromEntries(
      Object.entries(inputs).map(([k, input]) => [k === "from" || k === "to" ? `${k}Day` : k, input.value.trim()]),
    );
    await act(submit, form, () => runSearch(lastSearch, results, ctx));
  });
  return form;
}

async function runSearch(search, results, ctx) {
  replace(results, loading());
  const query = {
    subject: search.subject,
    system: search.system,
    department: search.department,
    purpose: search.purpose,
    outcome: search.outcome,
    // China days: from the start of the first to the end of the last.
    from: search.fromDay ? `${search.fromDay}T00:00:00+08:00` : "",
    to: search.toDay ? nextDay(search.toDay) : "",
    limit: 100,
  };
  try {
    const page = await api("/audit/entries", { query });
    const rows = page.entries.map((e) => [
      link(`/audit/entries/${e.index}`, `#${e.index}`, { "aria-label": t("audit.open_entry", { index: e.index }) }),
      when(e.recorded_at),
      coded(systemName(e.names.system, e.system), e.system),
      department(e.department),
      coded(purposeName(e.names.purpose, e.purpose), e.purpose),
      badge("outcome", e.outcome),
      Object.keys(e.attributes).length,
    ]);
    replace(
      results,
      h("p", {}, t("audit.found", { count: page.entries.length })),
      rows.length
        ? cardTable(t("audit.results"), [t("audit.index"), t("audit.when"), t("audit.system"), t("audit.department"), t("audit.purpose"), t("audit.outcome"), t("audit.fields")], rows)
        : null,
    );
    ctx.announce(t("audit.found", { count: page.entries.length }));
  } catch (error) {
    replace(results, problemBox(error));
  }
}

function nextDay(day) {
  const date = new Date(`${day}T00:00:00+08:00`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString();
}

// -- statistics ----------------------------------------------------------------------------

async function renderStats(where) {
  let stats;
  try {
    stats = await api("/audit/stats");
  } catch (error) {
    replace(where, problemBox(error));
    return;
  }
  const departments = [...new Set(stats.per_day_department.map((r) => r.department))].sort();
  const perDay = {};
  for (const r of stats.per_day_department) {
    perDay[r.day] = perDay[r.day] || {};
    perDay[r.day][r.department] = r.count;
  }
  const denialRate = Object.fromEntries(stats.denials.per_day.map((r) => [r.day, r.rate]));
  replace(
    where,
    section(t("audit.anomalies"), anomalies(stats)),
    section(
      t("audit.charts"),
      h("p", { class: "hint" }, t("audit.range", { since: when(stats.since), until: when(stats.until) })),
      h(
        "div",
        { class: "chart-grid" },
        stackedColumns({ label: t("audit.per_day_department"), days: stats.days, series: departments, values: perDay, names: departmentNames || {} }),
        columns({ label: t("audit.denial_rate_per_day"), days: stats.days, values: denialRate, format: percent }),
        stats.top_purposes.length
          ? bars({ label: t("audit.top_purposes"), items: stats.top_purposes.map((p) => ({ name: purposeName(stats.names.purposes[p.purpose], p.purpose), value: p.count })) })
          : h("p", {}, t("audit.no_data")),
      ),
      h("h3", {}, t("audit.denial_per_system")),
      stats.denials.per_system.length
        ? cardTable(
            t("audit.denial_per_system"),
            [t("audit.system"), t("audit.total"), t("audit.denied"), t("audit.rate")],
            stats.denials.per_system.map((r) => [systemName(stats.names.systems[r.system], r.system), r.total, r.denied, percent(r.rate)]),
          )
        : null,
    ),
  );
}

function anomalies(stats) {
  if (!stats.anomalies.length) {
    return h("p", { class: "ok" }, t("audit.no_anomalies"));
  }
  return h(
    "ul",
    { class: "anomalies" },
    stats.anomalies.map((a) =>
      h(
        "li",
        { class: "anomaly" },
        h("strong", {}, t(`anomaly.${a.kind}`)),
        " ",
        anomalyDetail(a, stats),
      ),
    ),
  );
}

function anomalyDetail(a, stats) {
  const day = chinaDay(a.day);
  const system = systemName(stats.names.systems[a.system], a.system);
  if (a.kind === "volume_spike") {
    return t("anomaly.volume_detail", { system, day, count: a.count, mean: a.baseline_mean, threshold: a.threshold });
  }
  if (a.kind === "budget_exhausted") {
    return t("anomaly.budget_detail", { system, day, count: a.count });
  }
  return t("anomaly.night_detail", { system, day, count: a.count, threshold: a.threshold });
}

/** A case system by its registered name (*name*, as the API gives it), else its code. */
function systemName(name, code) {
  return localName(name || null, code);
}

/** A purpose by its name ({name, name_en}: its service item's), else its code. */
function purposeName(named, code) {
  return localName(named && named.name, code, named && named.name_en);
}

/** *text* with the *code* it names as its tooltip. */
function coded(text, code) {
  return h("span", { title: code }, text);
}

/** A China day (YYYY-MM-DD) as the page's language writes a date: 2026年11月27日, 27 Nov 2026. */
function chinaDay(day) {
  const date = new Date(`${day}T12:00:00+08:00`);
  if (Number.isNaN(date.getTime())) return day;
  return new Intl.DateTimeFormat(language() === "zh" ? "zh-CN" : "en-GB", { timeZone: "Asia/Shanghai", dateStyle: "long" }).format(date);
}

// -- one entry, and its verification ---------------------------------------------------------

export async function renderEntry(ctx) {
  const { main, params } = ctx;
  const index = Number(params[0]);
  replace(main, h("h1", {}, t("entry.title", { index })), loading());
  const [entry, witnesses] = await Promise.all([api(`/audit/entries/${index}`), loadWitnessGap(), departmentNames || loadDepartmentNames()]);
  const e = entry.entry;
  const steps = h("ol", { class: "steps" }, STEPS.map((id) => h("li", { "data-step": id, class: "pending" }, t(`verify.${id}`))));
  const verdict = liveRegion({ class: "verdict" });
  const button = h("button", { type: "button" }, t("verify.button"));
  const gap = h("div", { class: "witness-gap" }, witnessGap(witnesses));
  button.addEventListener("click", () =>
    act(button, verdict, async () => {
      await runVerify(entry, steps, verdict, ctx);
      replace(gap, witnessGap(await loadWitnessGap())); // verifying may have signed a checkpoint
    }),
  );
  replace(
    main,
    h("p", {}, link("/audit", t("entry.back"))),
    h("h1", {}, t("entry.title", { index })),
    facts([
      [t("audit.when"), when(e.at || entry.recorded_at)],
      [t("audit.system"), coded(systemName(entry.names.system, e.system), e.system)],
      [t("audit.department"), department(e.department)],
      [t("entry.officer"), e.officer || "—"],
      [t("audit.purpose"), coded(purposeName(entry.names.purpose, e.purpose), e.purpose)],
      [t("entry.service_item"), e.service_item || "—"],
      [t("audit.outcome"), badge("outcome", e.outcome)],
      [t("entry.consent"), e.consent || "—"],
      [t("entry.subject"), h("code", { class: "hash" }, e.subject)],
      [t("entry.leaf_hash"), h("code", { class: "hash" }, entry.leaf_hash)],
    ]),
    section(
      t("entry.fields"),
      cardTable(
        t("entry.fields"),
        [t("entry.attribute"), t("audit.outcome"), t("entry.release"), t("entry.reason"), t("entry.basis")],
        Object.entries(e.attributes || {}).map(([name, a]) => [
          h("code", {}, breakable(name)),
          badge("outcome", a.outcome),
          a.release ? label("release", a.release) : "—",
          a.reason ? label("reason", a.reason) : "—",
          a.agreement || a.consent || a.legal_basis || "—",
        ]),
      ),
    ),
    section(
      t("verify.title"),
      h("p", {}, t("verify.explain")),
      policyPanel(),
      button,
      steps,
      verdict,
      h("h3", {}, t("witness.gap_title")),
      gap,
    ),
    h("details", {}, h("summary", {}, t("entry.canonical")), h("pre", { class: "canonical" }, entry.canonical)),
  );
}

/** An attribute's name (resource.field) that may wrap after its dots on a narrow screen. */
function breakable(name) {
  return name.split(".").flatMap((part, i) => (i ? [".", h("wbr"), part] : [part]));
}

async function runVerify(entry, steps, verdict, ctx) {
  steps.querySelectorAll("li").forEach((li) => {
    li.className = "pending";
    li.querySelector(".detail")?.remove();
  });
  replace(verdict, t("verify.running"));
  const fetchers = {
    checkpoint: () => api("/audit/checkpoint", { as: "text", auth: false }),
    signCheckpoint: () => api("/audit/checkpoint", { method: "POST", as: "text" }),
    vkey: () => api("/audit/checkpoint/key", { as: "text", auth: false }),
    proof: (index, size) => api("/audit/proof/inclusion", { query: { index, size } }),
    policy: auditorPolicy,
    witnessed: () =>
      api("/audit/checkpoint", { query: { witnessed: "true" }, as: "text", auth: false }).catch((error) => {
        if (error.status === 404) return null; // no checkpoint meets the hub's policy yet
        throw error;
      }),
    gap: () => optional("/audit/witnesses", { auth: false }),
  };
  let failed = null;
  let witnesses = null;
  const ok = await verifyEntry(entry, fetchers, ({ id, ok: passed, detail }) => {
    const li = steps.querySelector(`[data-step="${id}"]`);
    li.className = passed ? "pass" : "fail";
    if (!passed) failed = id;
    if (id === "witnesses" && detail && detail.outcome) witnesses = detail;
    const words = stepWords(id, detail);
    li.append(h("span", { class: "detail" }, ` ${passed ? t("verify.pass") : t("verify.fail")}${words ? ` — ${words}` : ""}`));
  });
  steps.querySelectorAll("li.pending").forEach((li) => {
    li.className = "skipped";
  });
  const message = ok ? t("verify.ok") : failed === "witnesses" ? t("verify.failed_witnesses") : t("verify.failed");
  replace(
    verdict,
    h("p", { class: ok ? "ok" : "problem", role: ok ? null : "alert" }, message),
    ok && witnesses && witnesses.outcome === "none" ? h("p", { class: "notice" }, t("witness.nobody_vouches")) : null,
  );
  ctx.announce(message);
}

function stepWords(id, detail) {
  if (id === "witnesses" && detail && detail.outcome) return witnessStepWords(detail);
  if (detail instanceof Error) return refusalWords(detail);
  return detail;
}
