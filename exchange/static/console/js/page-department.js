// Department admin (部门管理员): the department's directory (resources, fields, sharing types,
// versions and their diffs, publishing a new version), applications for conditional sharing
// awaiting its decision with the 10-working-day clock, adapter health and data freshness.

import { api, optional } from "./api.js";
import { field, h, replace, table } from "./dom.js";
import { label, language, t, when } from "./i18n.js";
import { departmentName, localName } from "./names.js";
import { resourceView } from "./page-catalogue.js";
import { act, badge, day, facts, link, liveRegion, loading, problemBox, section } from "./ui.js";

async function ownResources(department) {
  const found = await api("/catalogue/resources", {
    query: { provider: department, include_deprecated: true, limit: 100 },
  });
  return found.results;
}

function resourceName(r) {
  return language() === "en" && r.name_en ? r.name_en : r.name;
}

/** A department by its name (its code when the catalogue has none). */
async function departmentOf(code) {
  return departmentName((await optional(`/catalogue/departments/${encodeURIComponent(code)}`)) || { code });
}

/** Names joined as the current language writes a list (、 in Chinese). */
function listed(names) {
  return names.join(t("catview.separator"));
}

/** A name in words, with the code it stands for as a tooltip. */
function coded(text, code) {
  return h("span", { title: code }, text);
}

// -- directory -----------------------------------------------------------------------------

export async function renderDirectory(ctx) {
  const { main, session } = ctx;
  replace(main, h("h1", {}, t("dept.directory", { department: session.department })), loading());
  const [resources, department] = await Promise.all([ownResources(session.department), departmentOf(session.department)]);
  replace(
    main,
    h("h1", {}, t("dept.directory", { department })),
    resources.length
      ? table(
          t("dept.resources"),
          [t("catalogue.code"), t("catalogue.name"), t("catalogue.version"), t("catalogue.sharing"), t("catalogue.field_list"), t("catalogue.published")],
          resources.map((r) => [
            link(`/department/resources/${r.code}`, r.code),
            resourceName(r),
            `v${r.version}`,
            badge("sharing", r.sharing_type),
            r.fields.map((f, i) => [i ? t("catview.separator") : "", coded(t("dept.field_sharing", { field: f.title || f.name, sharing: label("sharing", f.sharing) }), f.name)]),
            when(r.published_at),
          ]),
        )
      : h("p", {}, t("dept.no_resources")),
  );
}

// -- one resource: versions, diff, publish --------------------------------------------------

export async function renderResource(ctx) {
  const { main, params } = ctx;
  const code = params[0];
  replace(main, loading());
  const [resource, history, whole] = await Promise.all([
    api(`/catalogue/resources/${encodeURIComponent(code)}`),
    api(`/catalogue/resources/${encodeURIComponent(code)}/versions`),
    optional(`/catalogue/resources/${encodeURIComponent(code)}/descriptor`),
  ]);
  const provider = await departmentOf(resource.descriptor.provider);
  const versions = history.versions.map((v) => v.version);
  const diffOut = liveRegion({ class: "diff" });
  const from = versionSelect(versions, versions.length > 1 ? versions[versions.length - 2] : versions[0]);
  const to = versionSelect(versions, versions[versions.length - 1]);
  const compare = h("button", { type: "submit" }, t("dept.compare"));
  const diffForm = h("form", { class: "card inline" }, field(t("dept.from_version"), from).row, field(t("dept.to_version"), to).row, compare);
  diffForm.addEventListener("submit", (event) => {
    event.preventDefault();
    act(compare, diffForm, () => showDiff(code, Number(from.value), Number(to.value), diffOut));
  });
  replace(
    main,
    h("p", {}, link("/department", t("dept.back"))),
    resourceView(resource, provider),
    section(
      t("dept.versions"),
      table(
        t("dept.versions"),
        [t("catalogue.version"), t("catalogue.published"), t("dept.published_by"), t("dept.digest")],
        history.versions.map((v) => [`v${v.version}`, when(v.published_at), v.published_by, h("code", { class: "hash" }, v.digest.slice(0, 16))]),
      ),
      diffForm,
      diffOut,
    ),
    // The latest published descriptor whole (with its source), so that publishing it unchanged
    // works; another department's admin gets the public view (and the hub refuses the publish).
    section(t("dept.publish"), publishForm(code, whole || resource.descriptor, ctx)),
  );
}

function versionSelect(versions, value) {
  return h("select", {}, versions.map((v) => h("option", { value: String(v), selected: v === value }, `v${v}`)));
}

async function showDiff(code, a, b, out) {
  const [old, fresh] = await Promise.all([
    api(`/catalogue/resources/${encodeURIComponent(code)}`, { query: { version: a } }),
    api(`/catalogue/resources/${encodeURIComponent(code)}`, { query: { version: b } }),
  ]);
  const diff = descriptorDiff(old.descriptor, fresh.descriptor);
  const before = Object.fromEntries((old.descriptor.fields || []).map((f) => [f.name, f]));
  const after = Object.fromEntries((fresh.descriptor.fields || []).map((f) => [f.name, f]));
  const list = (title, items) =>
    h("div", {}, h("h3", {}, title), items.length ? h("ul", { class: "changes" }, items.map((i) => h("li", {}, i))) : h("p", {}, "—"));
  const fieldName = (f) => (f && f.title ? [f.title, " ", h("code", {}, f.name)] : h("code", {}, f?.name ?? ""));
  replace(
    out,
    h("p", {}, t("dept.diff_between", { a, b })),
    list(t("dept.fields_added"), diff.added.map((n) => fieldName(after[n]))),
    list(t("dept.fields_removed"), diff.removed.map((n) => fieldName(before[n]))),
    list(
      t("dept.fields_changed"),
      diff.changed.map(([name, keys]) => [
        fieldName(after[name]),
        h("ul", {}, keys.map((k) => h("li", {}, change(k, before[name][k], after[name][k])))),
      ]),
    ),
    list(t("dept.metadata_changed"), diff.metadata.map((k) => change(k, old.descriptor[k], fresh.descriptor[k]))),
  );
}

const SHORT = 80;

/** One changed member: its name in words, then the old value → the new one. */
function change(member, from, to) {
  return [
    h("span", { class: "member" }, label("dept.member", member)),
    "：",
    h("span", { class: "from" }, shown(from)),
    " → ",
    h("span", { class: "to" }, shown(to)),
  ];
}

/** A value in a line: text as is, anything else as compact JSON; a long one cut short, the
 * whole of it a click away. */
function shown(value) {
  if (value === undefined || value === null) return h("em", {}, t("dept.absent"));
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text.length <= SHORT) return text;
  return h("details", { class: "whole" }, h("summary", {}, `${text.slice(0, SHORT)}…`), h("div", {}, text));
}

/** Fields added, removed and changed (with the keys that changed) between two descriptors. */
export function descriptorDiff(old, fresh) {
  const byName = (d) => Object.fromEntries((d.fields || []).map((f) => [f.name, f]));
  const a = byName(old);
  const b = byName(fresh);
  const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);
  const changed = Object.keys(b)
    .filter((n) => n in a)
    .map((n) => [n, [...new Set([...Object.keys(a[n]), ...Object.keys(b[n])])].filter((k) => !same(a[n][k], b[n][k]))])
    .filter(([, keys]) => keys.length);
  const meta = [...new Set([...Object.keys(old), ...Object.keys(fresh)])].filter((k) => k !== "fields" && !same(old[k], fresh[k]));
  return {
    added: Object.keys(b).filter((n) => !(n in a)),
    removed: Object.keys(a).filter((n) => !(n in b)),
    changed,
    metadata: meta,
  };
}

function publishForm(code, descriptor, ctx) {
  const text = h("textarea", { rows: 18, spellcheck: "false", class: "code" });
  text.value = JSON.stringify(descriptor, null, 2);
  const file = h("input", { type: "file", accept: ".json,.yaml,.yml,application/json,application/yaml" });
  file.addEventListener("change", async () => {
    if (file.files[0]) text.value = await file.files[0].text();
  });
  const out = liveRegion();
  const submit = h("button", { type: "submit" }, t("dept.publish_button"));
  const form = h(
    "form",
    { class: "card" },
    h("p", { class: "hint" }, t("dept.publish_hint")),
    field(t("dept.descriptor"), text).row,
    field(t("dept.upload"), file).row,
    submit,
    out,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(submit, form, async () => {
      replace(out);
      let contentType = "application/json";
      try {
        JSON.parse(text.value);
      } catch {
        contentType = "application/yaml";
      }
      let outcome;
      try {
        outcome = await api(`/catalogue/resources/${encodeURIComponent(code)}`, { method: "PUT", body: text.value, contentType });
      } catch (error) {
        if (!error?.problem?.errors?.length) throw error;
        replace(out, refusal(t("dept.publish_refused"), error.problem));
        return;
      }
      const message = outcome.created ? t("dept.published", { version: outcome.version }) : t("dept.unchanged");
      replace(out, h("p", { class: "ok" }, message));
      ctx.announce(message);
    });
  });
  return form;
}

/** A refused publish or decision in words: one line per problem, naming the member it is about (its
 * pointer too) and what is wrong with it; the hub's own English is kept as a tooltip. */
function refusal(heading, problem) {
  return h(
    "div",
    { class: "problem", role: "alert" },
    heading,
    h(
      "ul",
      {},
      problem.errors.map((e) =>
        h("li", { title: e.detail || "" }, h("strong", {}, memberOf(e.pointer)), " ", h("code", {}, e.pointer || "/"), "：", rule(e.detail)),
      ),
    ),
  );
}

/** "/fields/2/sharing" → 第 3 个信息项的共享方式; "/source" → 数据来源. */
function memberOf(pointer) {
  const parts = String(pointer || "").split("/").filter(Boolean);
  if (!parts.length) return t("dept.member.whole");
  if (parts[0] === "fields" && /^\d+$/.test(parts[1] || "")) {
    const nth = t("dept.nth_field", { n: Number(parts[1]) + 1 });
    return parts[2] ? `${nth}${t("dept.of")}${label("dept.member", parts[2])}` : nth;
  }
  return label("dept.member", parts[parts.length - 1]);
}

/** What a schema check said, in words (the common cases; else a general sentence). */
function rule(detail) {
  const text = String(detail || "");
  if (/is a required property|is required/.test(text)) return t("dept.rule_required");
  if (/is not one of|is not valid under any/.test(text)) return t("dept.rule_choice");
  if (/is not of type/.test(text)) return t("dept.rule_type");
  if (/does not match|pattern/.test(text)) return t("dept.rule_pattern");
  if (/is too long|is too short|non-empty|expected/.test(text)) return t("dept.rule_length");
  return t("dept.rule_other");
}

// -- applications ---------------------------------------------------------------------------

/** The 10-working-day clock: the last day to answer, and how many calendar days remain (only
 * the day once the application is answered). */
function clock(agreement) {
  if (!agreement.due_by) return "—";
  const days = Math.round((Date.parse(agreement.due_by) - Date.parse(chinaDate(new Date()))) / 86400000);
  const date = day(agreement.due_by);
  if (agreement.status !== "pending") return date;
  if (agreement.overdue) return h("span", { class: "badge overdue" }, t("dept.overdue", { date }));
  return h("span", { class: days <= 2 ? "badge soon" : "badge due" }, t("dept.due", { date, days }));
}

/** The applicant: its department's name and its case system's (the codes as a tooltip). */
function applicant(agreement) {
  const { system, department } = agreement.consumer;
  const names = agreement.names || {};
  const text = `${departmentName({ code: department, ...names.consumer_department })} · ${localName(names.system, system)}`;
  return coded(text, `${department} · ${system}`);
}

/** The purposes applied for, each by its name in the registry (the codes as a tooltip). */
function purposes(agreement) {
  const named = (agreement.names && agreement.names.purposes) || agreement.purposes.map((code) => ({ code }));
  return coded(listed(named.map((p) => localName(p.name, p.code, p.name_en))), agreement.purposes.join(", "));
}

export async function renderApplications(ctx) {
  const { main, session } = ctx;
  replace(main, h("h1", {}, t("dept.applications")), loading());
  const [pending, all, resources] = await Promise.all([
    api("/agreements", { query: { role: "provider", status: "pending", limit: 100 } }),
    api("/agreements", { query: { role: "provider", limit: 50 } }),
    ownResources(session.department),
  ]);
  // Applications are for the department's own resources: their names and field titles.
  const byCode = Object.fromEntries(resources.map((r) => [r.code, r]));
  const resource = (a) => coded(byCode[a.resource] ? resourceName(byCode[a.resource]) : a.resource, a.resource);
  const titles = (a) => Object.fromEntries(((byCode[a.resource] || {}).fields || []).map((f) => [f.name, f.title]));
  const fields = (a) => coded(listed(a.fields.map((name) => titles(a)[name] || name)), a.fields.join(", "));
  replace(
    main,
    h("h1", {}, t("dept.applications")),
    h("p", { class: "hint" }, t("dept.clock_hint")),
    section(
      t("dept.pending"),
      pending.agreements.length
        ? table(
            t("dept.pending"),
            [t("dept.application"), t("dept.consumer"), t("dept.resource"), t("dept.fields"), t("dept.submitted"), t("dept.answer_by")],
            pending.agreements.map((a) => [
              link(`/department/applications/${a.id}`, a.id),
              applicant(a),
              resource(a),
              fields(a),
              when(a.submitted_at),
              clock(a),
            ]),
          )
        : h("p", {}, t("dept.no_pending")),
    ),
    section(
      t("dept.all_agreements"),
      table(
        t("dept.all_agreements"),
        [t("dept.application"), t("dept.consumer"), t("dept.resource"), t("dept.status")],
        all.agreements.map((a) => [link(`/department/applications/${a.id}`, a.id), applicant(a), resource(a), badge("status", a.status)]),
      ),
    ),
  );
}

export async function renderApplication(ctx) {
  const { main, params } = ctx;
  replace(main, loading());
  const agreement = await api(`/agreements/${encodeURIComponent(params[0])}`);
  const resource = await optional(`/catalogue/resources/${encodeURIComponent(agreement.resource)}`, {
    query: { version: agreement.resource_version ?? undefined },
  });
  const fields = (resource && resource.descriptor.fields) || [];
  const titles = Object.fromEntries(fields.map((f) => [f.name, f.title]));
  const named = (name) => titles[name] || name; // a field by its title (its name as a tooltip)
  const decided = agreement.decision;
  const decision = h("div", {});
  replace(
    main,
    h("p", {}, link("/department/applications", t("dept.back_applications"))),
    h("h1", {}, t("dept.application_title", { id: agreement.id })),
    facts([
      [t("dept.status"), badge("status", agreement.status)],
      [t("dept.consumer"), applicant(agreement)],
      [t("dept.resource"), `${resource ? resourceName(resource.descriptor) : agreement.resource} v${agreement.resource_version ?? "—"}`],
      [t("dept.fields"), coded(listed(agreement.fields.map(named)), agreement.fields.join(", "))],
      [t("dept.purposes"), purposes(agreement)],
      [t("dept.legal_basis"), agreement.legal_basis],
      [t("dept.justification"), agreement.justification],
      [t("dept.validity"), period(agreement.requested_validity.from, agreement.requested_validity.until)],
      [t("dept.submitted"), when(agreement.submitted_at)],
      [t("dept.answer_by"), clock(agreement)],
      decided ? [t("dept.decision"), `${label("decision", decided.decision)} · ${when(decided.at)}${decided.reason ? ` · ${decided.reason}` : ""}`] : null,
    ]),
    decided && decided.decision === "approve" ? grantedTerms(decided, named) : null,
    decision,
  );
  if (agreement.status === "pending" && agreement.provider === ctx.session.department) {
    replace(decision, decisionForm(agreement, fields, named, ctx));
  }
}

/** A validity from its first to its last whole day, China time ("—" when open-ended). */
function period(from, until) {
  return t("dept.period", { from: from ? day(from) : t("dept.open_start"), until: until ? day(lastDay(until)) : "—" });
}

/** What an approval granted: the fields (with how each is released), the daily quota, the
 * row condition, whether the citizen's consent is needed, and the validity. */
function grantedTerms(decided, named) {
  const granted = Object.entries(decided.fields || {});
  const condition = decided.row_condition;
  return section(
    t("dept.granted"),
    facts([
      [t("dept.granted_fields"), h("ul", { class: "plain" }, granted.map(([name, release]) => h("li", {}, coded(named(name), name), release ? ` · ${label("release", release)}` : "")))],
      [t("dept.quota"), decided.daily_quota ? t("dept.quota_value", { n: decided.daily_quota }) : t("dept.no_quota")],
      [t("dept.row_condition"), condition ? t("dept.condition_value", { field: named(condition.field), prefix: condition.prefix }) : t("dept.no_condition")],
      [t("dept.consent"), decided.requires_consent ? t("dept.consent_yes") : t("dept.consent_no")],
      [t("dept.granted_validity"), period(decided.valid_from, decided.valid_until)],
    ]),
  );
}

/** The day (China time) of an instant as YYYY-MM-DD, the value of a date input. */
function chinaDate(instant) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(instant);
}

/** The last whole day (China time) of a validity that ends at *until* (the start of the next). */
function lastDay(until) {
  return until ? chinaDate(new Date(Date.parse(until) - 1000)) : "";
}

function decisionForm(agreement, fields, named, ctx) {
  const boxes = agreement.fields.map((name) => h("input", { type: "checkbox", value: name, checked: true, id: `grant-${name}` }));
  const quota = h("input", { type: "number", min: 1, max: 100000000, step: 1, inputmode: "numeric" });
  const conditionField = h(
    "select",
    {},
    h("option", { value: "" }, t("dept.no_condition")),
    fields.map((f) => h("option", { value: f.name, title: f.name }, named(f.name))),
  );
  const prefix = h("input", { type: "text", maxlength: 64 });
  const consent = h("input", { type: "checkbox", id: "grant-consent" });
  const latest = lastDay(agreement.requested_validity.until);
  const until = h("input", { type: "date", min: chinaDate(new Date()), max: latest || null, value: latest });
  const approve = h("button", { type: "submit" }, t("dept.approve"));
  const refuse = h("button", { type: "button", class: "danger" }, t("dept.refuse"));
  const form = h(
    "form",
    { class: "card decision" },
    h("fieldset", {}, h("legend", {}, t("dept.grant_fields")), h("ul", { class: "checks" }, boxes.map((b) => h("li", {}, b, h("label", { for: b.id, title: b.value }, named(b.value)))))),
    field(t("dept.quota"), quota, t("dept.quota_hint")).row,
    h(
      "fieldset",
      {},
      h("legend", {}, t("dept.row_condition")),
      field(t("dept.condition_field"), conditionField).row,
      field(t("dept.condition_prefix"), prefix, t("dept.condition_hint")).row,
    ),
    h("div", { class: "field check" }, consent, h("label", { for: consent.id }, t("dept.consent_required")), h("small", { class: "hint" }, t("dept.consent_hint"))),
    field(t("dept.valid_until"), until, t("dept.valid_until_hint", { date: day(latest) })).row,
    h("div", { class: "actions" }, approve, refuse),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(approve, form, async () => {
      const body = { decision: "approve", fields: boxes.filter((b) => b.checked).map((b) => b.value) };
      if (quota.value) body.daily_quota = Number(quota.value);
      if (conditionField.value) body.row_condition = { field: conditionField.value, prefix: prefix.value.trim() };
      if (consent.checked) body.requires_consent = true;
      if (until.value) body.valid_until = until.value; // a whole day, China time (the hub's rule)
      try {
        await api(`/agreements/${encodeURIComponent(agreement.id)}/decision`, { method: "POST", body });
      } catch (error) {
        if (!error?.problem?.errors?.length) throw error;
        form.append(refusal(t("dept.decision_refused"), error.problem));
        return;
      }
      ctx.announce(t("dept.approved"));
      ctx.navigate(`/department/applications/${agreement.id}`, { replace: true });
    });
  });
  refuse.addEventListener("click", () => refuseDialog(agreement, ctx, refuse));
  return form;
}

function refuseDialog(agreement, ctx, opener) {
  const reason = h("textarea", { rows: 4, required: true, maxlength: 4000 });
  const send = h("button", { type: "submit", class: "danger" }, t("dept.refuse"));
  const cancel = h("button", { type: "button", class: "secondary" }, t("app.cancel"));
  const form = h("form", { method: "dialog" }, h("h2", {}, t("dept.refuse_title")), field(t("dept.reason"), reason, t("dept.reason_hint")).row, h("div", { class: "actions" }, send, cancel));
  const dialog = h("dialog", { "aria-label": t("dept.refuse_title") }, form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    opener.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(send, form, async () => {
      await api(`/agreements/${encodeURIComponent(agreement.id)}/decision`, {
        method: "POST",
        body: { decision: "refuse", reason: reason.value.trim() },
      });
      dialog.close();
      ctx.announce(t("dept.refused"));
      ctx.navigate(`/department/applications/${agreement.id}`, { replace: true });
    });
  });
  document.body.append(dialog);
  dialog.showModal();
  reason.focus();
}

// -- health and freshness ---------------------------------------------------------------------

export async function renderHealth(ctx) {
  const { main, session } = ctx;
  replace(main, h("h1", {}, t("dept.health")), loading());
  const resources = await ownResources(session.department);
  const mine = Object.fromEntries(resources.map((r) => [r.code, r]));
  const ready = await optional("/readyz");
  const freshness = await optional("/catalogue/freshness");
  const fresh = Object.fromEntries(((freshness && freshness.resources) || []).map((f) => [f.resource, f]));
  const sources = (ready && ready.checks && ready.checks.sources) || {};
  replace(
    main,
    h("h1", {}, t("dept.health")),
    ready ? null : problemBox({ status: 503 }),
    table(
      t("dept.health"),
      [t("dept.resource"), t("dept.adapter"), t("dept.latency"), t("catalogue.update_frequency"), t("dept.last_refreshed"), t("dept.fresh_due")],
      Object.keys(mine).sort().map((code) => {
        const s = sources[code];
        const f = fresh[code];
        return [
          coded(resourceName(mine[code]), code),
          s ? badge("health", s.status) : "—",
          s && s.latency_ms != null ? `${s.latency_ms} ms` : "—",
          f ? label("frequency", f.update_frequency) : "—",
          f ? when(f.last_refreshed) : "—",
          f ? (f.overdue ? h("span", { class: "badge overdue" }, t("dept.stale", { date: when(f.due_by) })) : when(f.due_by)) : "—",
        ];
      }),
    ),
    freshness ? null : h("p", { class: "hint" }, t("dept.no_freshness")),
  );
}
