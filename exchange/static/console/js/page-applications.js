// Applications for shared data and the replies to them (共享申请与答复, 《政务数据共享条例》
// art. 20-22), for a department's sharing officer (数据共享负责人): a new application (使用依据、
// 使用场景、使用范围、共享方式、使用时限; what is left out of the use is a missing material), the
// applications the department filed (with the provider's notice of missing materials to answer, an extension's
// reason and new last day) and those it received (send the one notice of missing materials, ask
// for an extension, approve, refuse with reasons, record the delivery), each with its clock in
// China time, overdue marked. The data authority's page decides the extensions asked for.

import { api } from "./api.js";
import { cardTable, field, h, replace, select } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { departmentName } from "./names.js";
import { act, badge, button, day, dialog, fill, liveRegion, loading, section } from "./ui.js";

const OFFICER = "/officer/applications";
const AUTHORITY = "/authority/extensions";
const MODES = ["interface", "batch", "file"];
const TEXT_MAX = 4000;

/** Names of departments, resources and fields, from the registry (codes where it has none). */
const names = { departments: {}, resources: {} };

async function loadNames(agreements) {
  const { departments } = await api("/catalogue/departments");
  names.departments = Object.fromEntries(departments.map((d) => [d.code, d]));
  const codes = [...new Set(agreements.map((a) => a.resource))].filter((c) => !(c in names.resources));
  if (!codes.length) return;
  const found = await Promise.all(codes.map((c) => api(`/catalogue/resources/${encodeURIComponent(c)}`).catch(() => null)));
  codes.forEach((c, i) => {
    const d = found[i]?.descriptor;
    names.resources[c] = d ? { name: d.name, fields: Object.fromEntries(d.fields.map((f) => [f.name, f.title])) } : { name: c, fields: {} };
  });
}

const department = (code) => departmentName(names.departments[code] || { code });
const resourceName = (code) => names.resources[code]?.name || code;
const fieldNames = (a) => a.fields.map((f) => names.resources[a.resource]?.fields[f] || f).join("、");

/** The clock an application is on: reply (or stopped for materials), delivery, or none. */
function clock(a) {
  if (a.status === "pending") {
    if (a.materials_notice && !a.materials_supplied_at) return h("span", { class: "badge due" }, t("app2.clock_stopped"));
    const date = day(a.due_by);
    if (a.overdue) return h("span", { class: "badge overdue" }, t("app2.reply_overdue", { date }));
    return h("span", { class: "badge due" }, t("app2.reply_by", { date }));
  }
  if (a.status === "approved" && a.delivery_due_by && !a.delivery) {
    const date = day(a.delivery_due_by);
    if (a.delivery_overdue) return h("span", { class: "badge overdue" }, t("app2.delivery_overdue", { date }));
    return h("span", { class: "badge due" }, t("app2.deliver_by", { date }));
  }
  if (a.delivery) return h("span", { class: "meta" }, t("app2.delivered", { channel: label("sharing_mode", a.delivery.channel), at: when(a.delivery.at) }));
  return h("span", { class: "meta" }, "—");
}

/** What the application asks for, in words: resource, fields, use. */
function request(a) {
  const use = a.use || {};
  const lines = [h("strong", { title: a.resource }, `${resourceName(a.resource)}：${fieldNames(a)}`)];
  if (use.scenario) lines.push(h("p", { class: "reason" }, t("app2.scenario_is", { text: use.scenario.description })));
  if (use.scope) lines.push(h("p", { class: "meta" }, t("app2.scope_is", { text: label("population", use.scope.population) + (use.scope.description ? `：${use.scope.description}` : "") })));
  if (use.sharing_modes) lines.push(h("p", { class: "meta" }, t("app2.modes_are", { modes: use.sharing_modes.map((m) => label("sharing_mode", m)).join("、") })));
  if (a.missing_materials.length) lines.push(h("p", { class: "badge overdue" }, t("app2.missing", { what: a.missing_materials.map((m) => label("material", m)).join("、") })));
  return lines;
}

/** The notice of missing materials, the extension and the decision, as the other side sees them. */
function replies(a) {
  const shown = [];
  const notice = a.materials_notice;
  if (notice)
    shown.push(
      h("p", { class: "meta" }, t("app2.notice_sent", { at: when(notice.at) })),
      h("ul", { class: "plain" }, notice.items.map((i) => h("li", {}, `${label("material", i.material)}：${i.detail}`))),
    );
  const ext = a.extension;
  if (ext) {
    const words = ext.status === "approved" ? t("app2.extended", { days: ext.days, from: day(ext.due_before), to: day(ext.due_after) }) : t(`app2.extension_${ext.status}`, { days: ext.days });
    shown.push(h("p", { class: "meta" }, words), h("p", { class: "reason" }, t("app2.extension_reason", { text: ext.reason })));
  }
  if (a.decision && a.decision.decision === "refuse") shown.push(h("p", { class: "reason" }, t("app2.refused_because", { text: a.decision.reason })));
  return shown.length ? shown : "—";
}

const text = (required = true) => h("textarea", { rows: 3, required, minlength: required ? 1 : 0, maxlength: TEXT_MAX });
const check = () => h("input", { type: "checkbox" });

function providerActions(a, ctx) {
  const where = h("div", { class: "row-actions" });
  const path = `/agreements/${encodeURIComponent(a.id)}`;
  const done = (message) => {
    ctx.announce(message);
    ctx.navigate(OFFICER, { replace: true });
  };
  if (a.status === "pending" && !(a.materials_notice && !a.materials_supplied_at)) {
    if (!a.materials_notice)
      where.append(
        button(t("app2.do_notice"), "secondary", (b) => {
          const wanted = [...a.missing_materials, ...["legal_basis", "other"].filter((m) => !a.missing_materials.includes(m))];
          const rows = wanted.map((m) => [m, label("material", m), text(a.missing_materials.includes(m)), a.missing_materials.includes(m) ? t("app2.notice_required") : t("app2.notice_optional")]);
          dialog(t("app2.do_notice"), rows, t("app2.send"), b, async (v) => {
            const items = wanted.filter((m) => v[m]).map((m) => ({ material: m, detail: v[m] }));
            await api(`${path}/materials-notice`, { method: "POST", body: { items } });
            done(t("app2.done_notice"));
          });
        }),
      );
    if (!a.extension && a.reply_working_days > 1)
      where.append(
        button(t("app2.do_extension"), "secondary", (b) => {
          const days = h("input", { type: "number", min: 1, max: 10, value: 5, required: true });
          dialog(t("app2.do_extension"), [["days", t("app2.days"), days, t("app2.days_hint")], ["reason", t("app2.reason"), text(), t("app2.extension_hint")]], t("app2.send"), b, async (v) => {
            await api(`${path}/extension`, { method: "POST", body: { days: Number(v.days), reason: v.reason } });
            done(t("app2.done_extension"));
          });
        }),
      );
    if (!a.missing_materials.length) {
      where.append(
        button(t("app2.do_approve"), "", (b) =>
          act(b, where, async () => {
            await api(`${path}/decision`, { method: "POST", body: { decision: "approve", fields: a.fields } });
            done(t("app2.done_approve"));
          }),
        ),
        button(t("app2.do_refuse"), "danger", (b) =>
          dialog(t("app2.do_refuse"), [["reason", t("app2.reason"), text(), t("app2.refuse_hint")]], t("app2.do_refuse"), b, async (v) => {
            await api(`${path}/decision`, { method: "POST", body: { decision: "refuse", reason: v.reason } });
            done(t("app2.done_refuse"));
          }),
        ),
      );
    }
  }
  if (a.status === "approved" && !a.delivery && a.use) {
    const channel = select(a.use.sharing_modes.map((m) => [m, label("sharing_mode", m)]), a.use.sharing_modes[0]);
    where.append(
      button(t("app2.do_deliver"), "", (b) =>
        dialog(t("app2.do_deliver"), [["channel", t("app2.channel"), channel, t("app2.deliver_hint")]], t("app2.record"), b, async (v) => {
          await api(`${path}/delivery`, { method: "POST", body: { channel: v.channel } });
          done(t("app2.done_deliver"));
        }),
      ),
    );
  }
  return where.childNodes.length ? where : "—";
}

function consumerActions(a, ctx) {
  if (!(a.status === "pending" && a.materials_notice && !a.materials_supplied_at)) return "—";
  const where = h("div", { class: "row-actions" });
  const listed = a.materials_notice.items.map((i) => i.material);
  where.append(
    button(t("app2.do_supply"), "", (b) => {
      const rows = [];
      const modes = MODES.map((m) => [m, check()]);
      if (listed.includes("scenario")) rows.push(["scenario", label("material", "scenario"), text(), t("app2.scenario_hint")]);
      if (listed.includes("scope")) rows.push(["scope", label("material", "scope"), text(), t("app2.scope_hint")]);
      if (listed.includes("sharing_modes")) modes.forEach(([m, box]) => rows.push([`mode_${m}`, label("sharing_mode", m), box]));
      if (listed.includes("legal_basis")) rows.push(["legal_basis", label("material", "legal_basis"), h("input", { type: "text", required: true, maxlength: 500 })]);
      if (listed.includes("other")) rows.push(["other", label("material", "other"), text(), t("app2.other_hint")]);
      dialog(t("app2.do_supply"), rows, t("app2.send"), b, async (v) => {
        const use = {};
        if (v.scenario) use.scenario = { description: v.scenario };
        if (v.scope) use.scope = { population: "named", description: v.scope };
        const chosen = MODES.filter((m) => v[`mode_${m}`]);
        if (listed.includes("sharing_modes")) use.sharing_modes = chosen;
        const body = { use };
        if (v.legal_basis) body.legal_basis = v.legal_basis;
        if (v.other) body.other = v.other;
        await api(`/agreements/${encodeURIComponent(a.id)}/materials`, { method: "POST", body });
        ctx.announce(t("app2.done_supply"));
        ctx.navigate(OFFICER, { replace: true });
      });
    }),
  );
  return where;
}

function applicationTable(title, items, other, actions) {
  const headings = [t("app2.application"), t("app2.request"), t("app2.other_side"), t("app2.state"), t("app2.clock"), t("app2.replies"), t("app2.action")];
  return cardTable(
    title,
    headings,
    items.map((a) => [h("span", { title: a.id }, a.id), request(a), department(other(a)), badge("status", a.status), clock(a), replies(a), actions(a)]),
  );
}

async function officerLists(ctx) {
  const [sent, received] = await Promise.all([api("/agreements?role=consumer&limit=100"), api("/agreements?role=provider&limit=100")]);
  const only = (list) => list.agreements.filter((a) => a.form === "2025");
  const mine = only(sent);
  const theirs = only(received);
  await loadNames([...mine, ...theirs]);
  return h(
    "div",
    {},
    section(t("app2.received"), theirs.length ? applicationTable(t("app2.received"), theirs, (a) => a.consumer.department, (a) => providerActions(a, ctx)) : h("p", {}, t("app2.none"))),
    section(t("app2.sent"), mine.length ? applicationTable(t("app2.sent"), mine, (a) => a.provider, (a) => consumerActions(a, ctx)) : h("p", {}, t("app2.none"))),
  );
}

// -- the sharing officer files an application ------------------------------------------------

/** Today in China plus *days*, as YYYY-MM-DD. */
function chinaDay(days = 0) {
  const moment = new Date(Date.now() + days * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" }).format(moment);
}

/** The case systems and purposes the department has applied with before (the registry has no
 * list of a department's systems for staff), offered as suggestions; any may be typed. */
function suggestions(agreements) {
  const systems = new Map();
  const purposes = new Map();
  agreements.forEach((a) => {
    systems.set(a.consumer.system, a.names?.system?.name || a.consumer.system);
    (a.names?.purposes || a.purposes.map((code) => ({ code }))).forEach((p) => purposes.set(p.code, p.name || p.code));
  });
  return { systems: [...systems], purposes: [...purposes] };
}

function datalist(id, pairs) {
  return h("datalist", { id }, pairs.map(([value, name]) => h("option", { value }, name)));
}

/** The application form (使用依据、使用场景、使用范围、共享方式、使用时限): what is left empty of
 * the use is a missing material the provider lists in its one notice. */
async function applicationForm(ctx, agreements, opener) {
  const me = ctx.session.department;
  const { results } = await api("/catalogue/resources?limit=100");
  const offered = results.filter((r) => r.provider !== me && !r.deprecated && r.fields.some((f) => f.sharing !== "not_shared"));
  await loadNames([]);
  offered.forEach((r) => {
    names.resources[r.code] = { name: r.name, fields: Object.fromEntries(r.fields.map((f) => [f.name, f.title])) };
  });
  const known = suggestions(agreements);
  const resource = select(offered.map((r) => [r.code, `${r.name}（${department(r.provider)}）`]), offered[0]?.code);
  const fieldBox = h("fieldset", { class: "choices" }, h("legend", {}, t("app2.f_fields")));
  const showFields = () => {
    const chosen = offered.find((r) => r.code === resource.value);
    replace(
      fieldBox,
      h("legend", {}, t("app2.f_fields")),
      (chosen?.fields || [])
        .filter((f) => f.sharing !== "not_shared")
        .map((f) => h("label", { class: "choice" }, h("input", { type: "checkbox", name: "field", value: f.name }), ` ${f.title}`, h("span", { class: "meta" }, `（${label("sharing", f.sharing)}）`))),
    );
  };
  resource.addEventListener("change", showFields);
  showFields();
  const system = h("input", { type: "text", required: true, list: "app2-systems", maxlength: 64, autocomplete: "off", value: known.systems[0]?.[0] || "" });
  const purpose = h("input", { type: "text", required: true, list: "app2-purposes", maxlength: 64, autocomplete: "off", value: known.purposes[0]?.[0] || "" });
  const basis = h("input", { type: "text", required: true, maxlength: 500, value: "" });
  const why = h("textarea", { rows: 2, required: true, maxlength: TEXT_MAX });
  const scenario = h("textarea", { rows: 2, maxlength: 2000 });
  const population = select([["", t("app2.f_scope_later")], ["named", label("population", "named")], ["division", label("population", "division")]], "");
  const scope = h("textarea", { rows: 2, maxlength: 2000 });
  const divisions = h("input", { type: "text", maxlength: 600, inputmode: "numeric", autocomplete: "off" });
  const modes = MODES.map((m) => [m, h("input", { type: "checkbox", name: "mode", value: m })]);
  const modeBox = h("fieldset", { class: "choices" }, h("legend", {}, label("material", "sharing_modes")), modes.map(([m, box]) => h("label", { class: "choice" }, box, ` ${label("sharing_mode", m)}`)));
  const until = h("input", { type: "date", required: true, min: chinaDay(1), value: chinaDay(365) });
  const ok = h("button", { type: "submit" }, t("app2.f_file"));
  const cancel = h("button", { type: "button", class: "secondary" }, t("app.cancel"));
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", {}, t("app2.do_apply")),
    h("p", { class: "hint" }, t("app2.f_hint")),
    field(t("app2.f_resource"), resource).row,
    fieldBox,
    field(t("app2.f_system"), system, t("app2.f_system_hint")).row,
    field(t("app2.f_purpose"), purpose, t("app2.f_purpose_hint")).row,
    field(label("material", "legal_basis"), basis, t("app2.f_basis_hint")).row,
    field(t("app2.f_why"), why).row,
    field(label("material", "scenario"), scenario, t("app2.scenario_hint")).row,
    field(label("material", "scope"), population, t("app2.f_scope_hint")).row,
    field(t("app2.f_scope_text"), scope).row,
    field(t("app2.f_divisions"), divisions, t("app2.f_divisions_hint")).row,
    modeBox,
    field(t("app2.f_until"), until, t("app2.f_until_hint")).row,
    datalist("app2-systems", known.systems),
    datalist("app2-purposes", known.purposes),
    h("div", { class: "actions" }, ok, cancel),
  );
  const box = h("dialog", { "aria-label": t("app2.do_apply"), class: "wide" }, form);
  cancel.addEventListener("click", () => box.close());
  box.addEventListener("close", () => {
    box.remove();
    opener.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const use = {};
    if (scenario.value.trim()) use.scenario = { description: scenario.value.trim() };
    if (population.value) {
      use.scope = { population: population.value };
      if (scope.value.trim()) use.scope.description = scope.value.trim();
      const codes = divisions.value.split(/[、,，\s]+/).filter(Boolean);
      if (population.value === "division") use.scope.divisions = codes;
    }
    const chosen = modes.filter(([, b]) => b.checked).map(([m]) => m);
    if (chosen.length) use.sharing_modes = chosen;
    const body = {
      system: system.value.trim(),
      resource: resource.value,
      fields: [...fieldBox.querySelectorAll("input[name=field]:checked")].map((b) => b.value),
      purpose: purpose.value.trim(),
      legal_basis: basis.value.trim(),
      justification: why.value.trim(),
      valid_until: until.value,
      use,
    };
    act(ok, form, async () => {
      const made = await api("/agreements", { method: "POST", body });
      box.close();
      ctx.announce(t("app2.done_apply", { id: made.id }));
      ctx.navigate(OFFICER, { replace: true });
    });
  });
  document.body.append(box);
  box.showModal();
}

export async function renderOfficer(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("app2.title")), loading());
  const list = liveRegion({}, loading());
  const apply = h("button", { type: "button" }, t("app2.do_apply"));
  const bar = h("div", { class: "row-actions" }, apply);
  apply.addEventListener("click", () =>
    act(apply, bar, async () => {
      const { agreements } = await api("/agreements?role=consumer&limit=100");
      await applicationForm(ctx, agreements, apply);
    }),
  );
  replace(main, h("h1", {}, t("app2.title")), h("p", { class: "hint" }, t("app2.officer_hint")), bar, list);
  await fill(list, () => officerLists(ctx));
}

// -- the data authority: extensions ---------------------------------------------------------

function extensionActions(a, ctx) {
  const where = h("div", { class: "row-actions" });
  const path = `/agreements/${encodeURIComponent(a.id)}/extension/decision`;
  const done = (message) => {
    ctx.announce(message);
    ctx.navigate(AUTHORITY, { replace: true });
  };
  where.append(
    button(t("app2.do_grant"), "", (b) =>
      act(b, where, async () => {
        await api(path, { method: "POST", body: { decision: "approve" } });
        done(t("app2.done_grant"));
      }),
    ),
    button(t("app2.do_deny"), "danger", (b) =>
      dialog(t("app2.do_deny"), [["reason", t("app2.reason"), text(), t("app2.deny_hint")]], t("app2.do_deny"), b, async (v) => {
        await api(path, { method: "POST", body: { decision: "refuse", reason: v.reason } });
        done(t("app2.done_deny"));
      }),
    ),
  );
  return where;
}

async function extensionList(ctx) {
  const { agreements } = await api("/agreements/extension-requests");
  if (!agreements.length) return h("p", {}, t("app2.no_extensions"));
  await loadNames(agreements);
  const headings = [t("app2.application"), t("app2.parties"), t("app2.asked"), t("app2.clock"), t("app2.action")];
  return cardTable(
    t("app2.extensions"),
    headings,
    agreements.map((a) => [
      [h("span", { title: a.id }, a.id), h("p", { class: "meta" }, `${resourceName(a.resource)}：${fieldNames(a)}`)],
      h("ul", { class: "plain" }, h("li", {}, t("app2.provider_is", { who: department(a.provider) })), h("li", {}, t("app2.consumer_is", { who: department(a.consumer.department) }))),
      [h("p", {}, t("app2.asked_days", { days: a.extension.days, at: when(a.extension.requested_at) })), h("p", { class: "reason" }, a.extension.reason)],
      clock(a),
      extensionActions(a, ctx),
    ]),
  );
}

export async function renderExtensions(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("app2.extensions")), loading());
  const list = liveRegion({}, loading());
  replace(main, h("h1", {}, t("app2.extensions")), h("p", { class: "hint" }, t("app2.authority_hint")), list);
  await fill(list, () => extensionList(ctx));
}
