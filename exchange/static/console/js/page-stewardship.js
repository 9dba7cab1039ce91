// Use, disposal and suspension of shared data (数据使用、销毁与暂停共享, 《政务数据共享条例》
// art. 25, 27, 29). A department's page (its admin or sharing officer) lists the agreements the
// department is party to. As the consumer it files usage records (使用场景、使用过程、应用成效、
// 存储情况、销毁情况; a record is never changed, an amendment is a new record naming the old one)
// and attests disposal once the agreement is no longer in force. As the provider it inspects the
// consumer's records, suspends an agreement for misuse with a remedy deadline, reinstates it once
// remedied or terminates it once the deadline passed, and announces, with its reason, that it
// stops or changes a resource's service. The data authority's page opens one agreement by its
// number, inspects the same records and suspends, reinstates or terminates. Every time is China
// time.

import { api } from "./api.js";
import { cardTable, field, h, replace, select } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { departmentName } from "./names.js";
import { act, badge, button, day, dialog, fill, liveRegion, loading, section } from "./ui.js";

const DEPARTMENT = "/department/stewardship";
const AUTHORITY = "/authority/stewardship";
const TEXT_MAX = 4000;
const USAGE = ["scenario", "process", "effect", "storage", "disposal"];
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,47}$/;

const names = { departments: {}, resources: {} };

async function loadNames(codes) {
  if (!Object.keys(names.departments).length) {
    const { departments } = await api("/catalogue/departments");
    names.departments = Object.fromEntries(departments.map((d) => [d.code, d]));
  }
  const wanted = [...new Set(codes)].filter((c) => !(c in names.resources));
  const found = await Promise.all(wanted.map((c) => api(`/catalogue/resources/${encodeURIComponent(c)}`).catch(() => null)));
  wanted.forEach((c, i) => {
    const d = found[i]?.descriptor;
    names.resources[c] = d ? { name: d.name, fields: d.fields.map((f) => [f.name, f.title]) } : { name: c, fields: [] };
  });
}

const department = (code) => departmentName(names.departments[code] || { code });
const resourceName = (code) => names.resources[code]?.name || code;
/** A field's title in the resource's latest version; a field that version no longer has (the
 * provider dropped it) keeps its code, marked as gone from the catalogue. */
function fieldTitle(resource, name) {
  const known = names.resources[resource];
  const found = known?.fields.find(([n]) => n === name);
  if (found) return found[1];
  return known && known.fields.length ? `${name}（${t("stw.field_gone")}）` : name;
}

/** Today in China, as YYYY-MM-DD (what the hub's date fields take). */
function chinaToday(offsetDays = 0) {
  const moment = new Date(Date.now() + offsetDays * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" }).format(moment);
}

const text = () => h("textarea", { rows: 3, required: true, minlength: 1, maxlength: TEXT_MAX });
const line = () => h("input", { type: "text", required: true, maxlength: 200, autocomplete: "off" });
const date = (min, value) => h("input", { type: "date", required: true, min, value });

/** The suspension in effect, if any (the last one still ``suspended``). */
const openSuspension = (records) => records.suspensions.filter((s) => s.status === "suspended").at(-1) || null;

/** Where an agreement stands for its stewardship: status, suspension, disposal. */
function standing(a, records) {
  const shown = a.status ? [badge("status", a.status)] : [];
  const open = openSuspension(records);
  if (open) {
    const overdue = chinaToday() > open.remedy_by;
    shown.push(" ", h("span", { class: `badge ${overdue ? "overdue" : "due"}` }, overdue ? t("stw.remedy_passed", { date: day(open.remedy_by) }) : t("stw.suspended_until", { date: day(open.remedy_by) })));
    shown.push(h("p", { class: "reason" }, t("stw.suspended_because", { text: open.reasons })));
  } else if (records.suspensions.some((s) => s.status === "terminated")) {
    shown.push(" ", h("span", { class: "badge overdue" }, t("stw.terminated")));
  }
  if (records.disposals.length) shown.push(h("p", { class: "meta" }, t("stw.disposed_on", { date: day(records.disposals.at(-1).disposed_on) })));
  else if (a.status && a.status !== "approved" && a.status !== "pending" && a.status !== "refused") shown.push(h("p", { class: "badge overdue" }, t("stw.not_disposed")));
  return shown;
}

/** The usage records, disposals and suspensions of one agreement, folded. */
function recordsView(records) {
  const usage = records.usage_records.map((r) =>
    h(
      "li",
      { class: "usage" },
      h("p", { class: "meta" }, t("stw.filed", { at: when(r.filed_at), by: r.filed_by, until: day(r.retain_until) }), r.amends ? ` · ${t("stw.amends", { id: r.amends })}` : ""),
      h("dl", { class: "facts" }, USAGE.map((k) => [h("dt", {}, label("usage", k)), h("dd", {}, r[k])])),
    ),
  );
  const disposals = records.disposals.map((d) =>
    h("li", {}, h("strong", {}, t("stw.disposal_line", { date: day(d.disposed_on), who: d.who })), h("p", {}, `${d.what}（${d.how}）`), h("p", { class: "meta" }, t("stw.attested", { at: when(d.filed_at) }))),
  );
  const suspensions = records.suspensions.map((s) =>
    h(
      "li",
      {},
      h("strong", {}, label("suspension", s.status)),
      ` · ${t("stw.suspended_at", { at: when(s.suspended_at), date: day(s.remedy_by) })}`,
      h("p", { class: "reason" }, s.reasons),
      s.ended_at ? h("p", { class: "meta" }, t("stw.ended", { at: when(s.ended_at), note: s.ended_note })) : null,
    ),
  );
  return h(
    "details",
    {},
    h("summary", {}, t("stw.records", { n: usage.length, d: disposals.length, s: suspensions.length })),
    usage.length ? h("ol", { class: "plain" }, usage) : h("p", { class: "meta" }, t("stw.no_usage")),
    disposals.length ? [h("h3", {}, t("stw.disposals")), h("ul", { class: "plain" }, disposals)] : null,
    suspensions.length ? [h("h3", {}, t("stw.suspensions")), h("ul", { class: "plain" }, suspensions)] : null,
  );
}

function usageDialog(path, opener, done, last) {
  const rows = USAGE.map((k) => [k, label("usage", k), text(), t(`stw.hint_${k}`)]);
  if (last) {
    const amends = h("input", { type: "checkbox" });
    rows.push(["amends", t("stw.amend_last"), amends, t("stw.amend_hint")]);
  }
  dialog(t("stw.do_usage"), rows, t("stw.file"), opener, async (v) => {
    const body = Object.fromEntries(USAGE.map((k) => [k, v[k]]));
    if (v.amends) body.amends = last.id;
    await api(`${path}/usage-records`, { method: "POST", body });
    done(t("stw.done_usage"));
  });
}

function disposalDialog(path, opener, done) {
  const rows = [
    ["what", t("stw.what"), text(), t("stw.what_hint")],
    ["how", t("stw.how"), text(), t("stw.how_hint")],
    ["disposed_on", t("stw.disposed_day"), date(undefined, chinaToday()), null],
    ["who", t("stw.who"), line(), t("stw.who_hint")],
  ];
  dialog(t("stw.do_disposal"), rows, t("stw.attest"), opener, async (v) => {
    await api(`${path}/disposal`, { method: "POST", body: v });
    done(t("stw.done_disposal"));
  });
}

/** The provider's (or the authority's) steps: suspend, reinstate, terminate. */
function suspensionActions(a, records, base, done, where) {
  const open = openSuspension(records);
  const terminated = records.suspensions.some((s) => s.status === "terminated");
  if (!open && a.status === "approved" && !terminated)
    where.append(
      button(t("stw.do_suspend"), "danger", (b) =>
        dialog(t("stw.do_suspend"), [["reasons", t("stw.reasons"), text(), t("stw.reasons_hint")], ["remedy_by", t("stw.remedy_by"), date(chinaToday(1), chinaToday(15)), t("stw.remedy_hint")]], t("stw.suspend"), b, async (v) => {
          await api(`${base}/suspension`, { method: "POST", body: v });
          done(t("stw.done_suspend"));
        }),
      ),
    );
  if (open) {
    const reinstatePath = `/department/agreements/${encodeURIComponent(a.id)}/suspension`;
    where.append(
      button(t("stw.do_reinstate"), "", (b) =>
        dialog(t("stw.do_reinstate"), [["note", t("stw.note"), text(), t("stw.reinstate_hint")]], t("stw.reinstate"), b, async (v) => {
          await api(`${reinstatePath}/reinstate`, { method: "POST", body: v });
          done(t("stw.done_reinstate"));
        }),
      ),
    );
    if (chinaToday() > open.remedy_by)
      where.append(
        button(t("stw.do_terminate"), "danger", (b) =>
          dialog(t("stw.do_terminate"), [["note", t("stw.note"), text(), t("stw.terminate_hint")]], t("stw.terminate"), b, async (v) => {
            await api(`${reinstatePath}/terminate`, { method: "POST", body: v });
            done(t("stw.done_terminate"));
          }),
        ),
      );
    else where.append(h("p", { class: "meta" }, t("stw.terminate_later", { date: day(open.remedy_by) })));
  }
}

function departmentActions(a, records, side, ctx) {
  const where = h("div", { class: "row-actions" });
  const path = `/department/agreements/${encodeURIComponent(a.id)}`;
  const done = (message) => {
    ctx.announce(message);
    ctx.navigate(ctx.here, { replace: true });
  };
  if (side === "consumer") {
    if (a.status !== "pending" && a.status !== "refused") where.append(button(t("stw.do_usage"), "", (b) => usageDialog(path, b, done, records.usage_records.at(-1))));
    const inForce = a.status === "approved" && !openSuspension(records);
    if (!inForce && a.status !== "pending" && a.status !== "refused" && !records.disposals.length) where.append(button(t("stw.do_disposal"), "secondary", (b) => disposalDialog(path, b, done)));
  } else {
    suspensionActions(a, records, path, done, where);
  }
  return where.childNodes.length ? where : "—";
}

function agreementCell(a) {
  return [
    h("span", { title: a.id }, a.id),
    h("p", { class: "meta" }, `${resourceName(a.resource)}：${a.fields.map((f) => fieldTitle(a.resource, f)).join("、")}`),
    a.decision?.valid_until ? h("p", { class: "meta" }, t("stw.valid_until", { date: day(a.decision.valid_until) })) : null,
  ];
}

const EMPTY = { usage_records: [], disposals: [], suspensions: [] };

async function recordsOf(agreements) {
  return Promise.all(
    agreements.map((a) =>
      a.status === "pending" || a.status === "refused" ? EMPTY : api(`/department/agreements/${encodeURIComponent(a.id)}/usage-records`).catch(() => EMPTY),
    ),
  );
}

function agreementTable(title, items, records, side, ctx) {
  const other = side === "consumer" ? (a) => a.provider : (a) => a.consumer.department;
  const headings = [t("stw.agreement"), t("stw.other_side"), t("stw.standing"), t("stw.usage"), t("stw.action")];
  return cardTable(
    title,
    headings,
    items.map((a, i) => [agreementCell(a), department(other(a)), standing(a, records[i]), recordsView(records[i]), departmentActions(a, records[i], side, ctx)]),
  );
}

/** The service changes announced to or by the department, and (as a provider) the form. */
function changesView(changes, provided, ctx) {
  const list = changes.length
    ? cardTable(
        t("stw.changes"),
        [t("stw.resource"), t("stw.change"), t("stw.effective"), t("stw.reason")],
        changes.map((c) => [
          [h("strong", { title: c.resource }, resourceName(c.resource)), h("p", { class: "meta" }, department(c.provider))],
          [label("service_change", c.change), h("p", { class: "meta" }, c.fields.length ? c.fields.map((f) => fieldTitle(c.resource, f)).join("、") : t("stw.all_fields"))],
          [day(c.effective_on), h("p", { class: "meta" }, t("stw.announced", { at: when(c.filed_at) }))],
          h("p", { class: "reason" }, c.reason),
        ]),
      )
    : h("p", {}, t("stw.no_changes"));
  if (!provided.length) return list;
  const where = h("div", { class: "row-actions" });
  where.append(
    button(t("stw.do_change"), "secondary", (b) => {
      const resource = select(provided.map((c) => [c, resourceName(c)]), provided[0]);
      const kind = select(["stop", "change"].map((k) => [k, label("service_change", k)]), "change");
      const fields = h("input", { type: "text", maxlength: 2000, autocomplete: "off", required: false });
      const rows = [
        ["resource", t("stw.resource"), resource, null],
        ["change", t("stw.change"), kind, null],
        ["fields", t("stw.fields"), fields, t("stw.fields_hint")],
        ["effective_on", t("stw.effective"), date(chinaToday(1), chinaToday(10)), t("stw.effective_hint")],
        ["reason", t("stw.reason"), text(), t("stw.change_reason_hint")],
      ];
      dialog(t("stw.do_change"), rows, t("stw.announce"), b, async (v) => {
        const titles = names.resources[v.resource]?.fields || [];
        const chosen = v.fields
          .split(/[、,，\s]+/)
          .filter(Boolean)
          .map((w) => (titles.find(([n, title]) => n === w || title === w) || [w])[0]);
        const body = { change: v.change, fields: chosen, effective_on: v.effective_on, reason: v.reason };
        await api(`/department/resources/${encodeURIComponent(v.resource)}/service-changes`, { method: "POST", body });
        ctx.announce(t("stw.done_change"));
        ctx.navigate(ctx.here, { replace: true });
      });
    }),
  );
  return [where, list];
}

async function departmentLists(ctx) {
  const me = ctx.session.department;
  const [consumed, provided, changes, resources] = await Promise.all([
    api("/agreements?role=consumer&limit=100"),
    api("/agreements?role=provider&limit=100"),
    api("/department/service-changes"),
    api(`/catalogue/resources?provider=${encodeURIComponent(me)}`).catch(() => ({ results: [] })),
  ]);
  const live = (list) => list.agreements.filter((a) => a.status !== "pending" && a.status !== "refused");
  const mine = live(consumed);
  const theirs = live(provided);
  const own = (resources.results || resources.resources || []).map((r) => r.code).filter(Boolean);
  await loadNames([...mine, ...theirs].map((a) => a.resource).concat(changes.service_changes.map((c) => c.resource), own));
  const [mineRecords, theirRecords] = await Promise.all([recordsOf(mine), recordsOf(theirs)]);
  return h(
    "div",
    {},
    section(t("stw.as_consumer"), mine.length ? agreementTable(t("stw.as_consumer"), mine, mineRecords, "consumer", ctx) : h("p", {}, t("stw.none"))),
    section(t("stw.as_provider"), theirs.length ? agreementTable(t("stw.as_provider"), theirs, theirRecords, "provider", ctx) : h("p", {}, t("stw.none"))),
    section(t("stw.changes"), changesView(changes.service_changes, own, ctx)),
  );
}

export async function renderDepartment(ctx) {
  const { main } = ctx;
  ctx.here = DEPARTMENT;
  const list = liveRegion({}, loading());
  replace(main, h("h1", {}, t("stw.title")), h("p", { class: "hint" }, t("stw.department_hint")), list);
  await fill(list, () => departmentLists(ctx));
}

// -- the data authority ---------------------------------------------------------------------

async function authorityView(ctx, id) {
  const records = await api(`/authority/agreements/${encodeURIComponent(id)}/usage-records`);
  await loadNames([]);
  const where = h("div", { class: "row-actions" });
  const done = (message) => {
    ctx.announce(message);
    ctx.navigate(`${AUTHORITY}/${encodeURIComponent(id)}`, { replace: true });
  };
  // The authority's view has no agreement status of its own: it may suspend what is in force,
  // and the hub refuses (agreement_halted) what is not.
  suspensionActions({ id, status: "approved" }, records, `/authority/agreements/${encodeURIComponent(id)}`, done, where);
  return h(
    "div",
    {},
    section(
      t("stw.agreement_is", { id }),
      h("ul", { class: "plain" }, h("li", {}, t("stw.consumer_is", { who: department(records.consumer) })), h("li", {}, t("stw.provider_is", { who: department(records.provider) }))),
      standing({ id, status: null }, records),
      where,
      recordsView(records),
    ),
  );
}

/** The agreements the compliance view has a clock or an open breach on (delivery, usage
 * records, disposal, a remedy deadline), each a link to open it here. */
async function attention() {
  const [{ clocks }, { breaches }] = await Promise.all([api("/authority/compliance/clocks"), api("/authority/compliance/breaches")]);
  const rows = new Map();
  const add = (item, what, date, overdue) => {
    if (item.case?.kind !== "agreement" || rows.has(item.case.id)) return;
    rows.set(item.case.id, [
      h("a", { href: `/console${AUTHORITY}/${encodeURIComponent(item.case.id)}`, "data-link": "" }, item.case.id),
      what,
      h("ul", { class: "plain" }, h("li", {}, item.department_name || item.department || "—"), item.counterpart ? h("li", { class: "meta" }, item.counterpart_name || item.counterpart) : null),
      h("span", { class: `badge ${overdue ? "overdue" : "due"}` }, date),
    ]);
  };
  breaches.filter((b) => b.open).forEach((b) => add(b, [b.name || b.kind, h("p", { class: "meta" }, b.article?.title || "")], t("stw.breach_since", { date: day(b.occurred_on) }), true));
  clocks.forEach((c) => add(c, label("comp.clock", c.kind), c.overdue ? t("stw.clock_overdue", { date: day(c.due_on) }) : t("stw.clock_due", { date: day(c.due_on) }), c.overdue));
  if (!rows.size) return h("p", { class: "meta" }, t("stw.authority_empty"));
  return cardTable(t("stw.attention"), [t("stw.agreement"), t("stw.matter"), t("stw.parties"), t("stw.when")], [...rows.values()]);
}

export async function renderAuthority(ctx) {
  const { main } = ctx;
  const id = ctx.params[0] || "";
  const input = h("input", { type: "text", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._:\\-]{0,47}", maxlength: 48, value: id, autocomplete: "off", spellcheck: "false" });
  const go = h("button", { type: "submit" }, t("stw.open"));
  const form = h("form", { class: "inline" }, field(t("stw.agreement_no"), input, t("stw.agreement_no_hint")).row, go);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const wanted = input.value.trim();
    if (ID.test(wanted)) ctx.navigate(`${AUTHORITY}/${encodeURIComponent(wanted)}`);
  });
  const shown = liveRegion({}, loading());
  replace(main, h("h1", {}, t("stw.title")), h("p", { class: "hint" }, t("stw.authority_hint")), form, shown);
  if (id) await fill(shown, () => authorityView(ctx, id));
  else await fill(shown, async () => section(t("stw.attention"), await attention()));
}
