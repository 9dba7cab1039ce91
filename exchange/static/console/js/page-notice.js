// Notice without consent (PIPL art. 35, docs/notice.md). On the citizen's access list: the kind
// of legal basis of each access (法定职责 / 本人同意 / 其他) and, for an access whose notice was
// deferred, the mark saying so and why (the reason kind, never the investigation's details).
// The auditor's page 延迟告知 lists every deferral (requested, in effect, refused, ended) with
// who asked and who approved, and the checks against the audit log. The department admin's page
// asks for a deferral of one of the department's accesses and approves or refuses another
// admin's request (a second person), or records the event one waits for. Both pages also hold
// standing deferrals (预先声明): declared before any access, for some of the department's
// systems and one person (by ID number, never shown back: the list names them by pseudonym),
// over a period; from the second admin's approval on, those systems' accesses about that person
// are hidden from them as soon as they are logged.

import { api } from "./api.js";
import { cardTable, field, h, replace, select } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { localName } from "./names.js";
import { act, badge, day, fill, link, liveRegion, loading, section } from "./ui.js";

const STATUSES = ["requested", "active", "refused", "ended"];
const REASONS = ["criminal_investigation", "administrative_investigation", "national_security", "statutory_secrecy"];

// -- the citizen's access list --------------------------------------------------------------

/** The kinds of legal basis of an access, as badges (none: nothing was released). */
export function basisKinds(access) {
  const kinds = access.basis_kinds || [];
  if (!kinds.length) return null;
  return h("span", { class: "basis-kinds" }, kinds.map((kind) => badge("basis", kind)));
}

/** The mark of an access whose notice to me was deferred and has ended, else null. */
export function deferredMark(access) {
  const mark = access.deferred;
  if (!mark) return null;
  return h(
    "p",
    { class: "deferred-mark" },
    h("span", { class: "badge deferred" }, t("notice.deferred")),
    " ",
    t("notice.deferred_why", { reason: label("deferral_reason", mark.reason_kind), basis: mark.legal_basis }),
    h("span", { class: "meta" }, ` ${t("notice.shown_since", { date: when(mark.shown_since) })}`),
  );
}

// -- the auditor's list ---------------------------------------------------------------------

function end(d) {
  return d.until ? t("notice.until_day", { date: day(d.until) }) : t("notice.until_event", { event: d.until_event });
}

function checks(d) {
  if (d.checks_pass) return h("span", { class: "badge check-ok" }, t("notice.checks_ok"));
  const failed = Object.entries(d.checks)
    .filter(([, ok]) => !ok)
    .map(([name]) => label("notice_check", name));
  return h("span", { class: "badge check-failed", role: "note" }, t("notice.checks_failed", { which: failed.join("、") }));
}

function people(d) {
  return h(
    "ul",
    { class: "plain" },
    h("li", {}, t("notice.asked_by", { who: d.requested_by, at: when(d.requested_at) })),
    d.decided_by ? h("li", {}, t(d.status === "refused" ? "notice.refused_by" : "notice.approved_by", { who: d.decided_by, at: when(d.decided_at) })) : null,
    d.ended_at ? h("li", {}, t(`notice.ended_${d.ended_by}`, { at: when(d.ended_at) })) : null,
  );
}

function deferralTable(title, rows, auditor) {
  const headings = [t("notice.access"), t("notice.who"), t("notice.reason"), t("notice.legal_basis"), t("notice.end"), t("notice.people"), t("notice.status")];
  return cardTable(
    title,
    headings,
    rows.map((d) => [
      auditor ? link(`/audit/entries/${d.access}`, `#${d.access}`) : `#${d.access}`,
      `${localName(d.department_name, d.department)} · ${localName(d.system_name, d.system)}`,
      [badge("deferral_reason", d.reason_kind), h("p", { class: "reason" }, d.reason)],
      d.legal_basis,
      end(d),
      people(d),
      [badge("deferral", d.status), auditor && ["active", "ended"].includes(d.status) ? checks(d) : null],
    ]),
  );
}

export async function renderAudit(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("notice.title")), loading());
  const [{ deferrals }, standing] = await Promise.all([api("/audit/deferrals"), api("/audit/standing-deferrals")]);
  replace(
    main,
    h("h1", {}, t("notice.title")),
    h("p", { class: "hint" }, t("notice.audit_hint")),
    ...STATUSES.map((status) => {
      const rows = deferrals.filter((d) => d.status === status);
      const title = label("deferral_group", status);
      return section(title, rows.length ? deferralTable(title, rows, true) : h("p", {}, t("notice.none")));
    }),
    section(
      t("standing.title"),
      h("p", { class: "hint" }, t("standing.audit_hint")),
      standing.deferrals.length ? standingTable(t("standing.title"), standing.deferrals, true) : h("p", {}, t("notice.none")),
    ),
  );
}

// -- standing deferrals ---------------------------------------------------------------------

function covers(d, auditor) {
  const shown = d.accesses.map((i) => (auditor ? link(`/audit/entries/${i}`, `#${i}`) : `#${i}`));
  return h(
    "div",
    {},
    h("p", {}, d.systems.map((s) => localName(s.name, s.id)).join("、")),
    h("p", { class: "meta" }, t("standing.subject", { pseudonym: d.subject.slice(0, 12) })),
    h("p", { class: "meta" }, shown.length ? [t("standing.covered", { n: shown.length }), " ", ...shown.flatMap((a) => [a, " "])] : t("standing.covered_none")),
  );
}

function period(d) {
  return [h("p", {}, t("standing.from", { date: day(d.from) })), h("p", {}, end(d))];
}

function standingTable(title, rows, auditor) {
  const headings = [t("standing.covers"), t("notice.reason"), t("notice.legal_basis"), t("standing.period"), t("notice.people"), t("notice.status")];
  return cardTable(
    title,
    headings,
    rows.map((d) => [
      covers(d, auditor),
      [badge("deferral_reason", d.reason_kind), h("p", { class: "reason" }, d.reason)],
      d.legal_basis,
      period(d),
      people(d),
      [badge("deferral", d.status), ["active", "ended"].includes(d.status) ? checks(d) : null],
    ]),
  );
}

// -- the department's page ------------------------------------------------------------------

export async function renderDepartment(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("notice.title")), loading());
  const list = liveRegion({}, loading());
  const standingList = liveRegion({}, loading());
  const standingForm = h("div", {}, loading());
  replace(
    main,
    h("h1", {}, t("notice.title")),
    h("p", { class: "hint" }, t("notice.department_hint")),
    section(t("standing.declare"), h("p", { class: "hint" }, t("standing.department_hint")), standingForm),
    section(t("standing.mine"), standingList),
    section(t("notice.ask"), askForm(ctx)),
    section(t("notice.mine"), list),
  );
  await Promise.all([fill(list, () => departmentList(ctx)), fill(standingList, () => standingDepartmentList(ctx, standingForm))]);
}

function declareForm(ctx, systems) {
  const boxes = systems.map((s) => h("label", { class: "check" }, h("input", { type: "checkbox", value: s.id, checked: systems.length === 1 }), ` ${localName(s.name, s.id)}`));
  const which = h("fieldset", {}, h("legend", {}, t("standing.systems")), boxes);
  const person = h("input", { type: "text", required: true, maxlength: 18, minlength: 18, autocomplete: "off", inputmode: "text", pattern: "[0-9]{17}[0-9Xx]" });
  const reason = select(REASONS.map((r) => [r, label("deferral_reason", r)]), REASONS[0]);
  const text = h("textarea", { rows: 3, required: true, minlength: 2, maxlength: 2000 });
  const basis = h("input", { type: "text", maxlength: 500, autocomplete: "off" });
  const from = h("input", { type: "date" });
  const until = h("input", { type: "date" });
  const event = h("input", { type: "text", maxlength: 200, autocomplete: "off" });
  const submit = h("button", { type: "submit" }, t("standing.declare_button"));
  const form = h(
    "form",
    { class: "card grid" },
    which,
    field(t("standing.person"), person, t("standing.person_hint")).row,
    field(t("notice.reason_kind"), reason).row,
    field(t("notice.reason"), text, t("notice.reason_hint")).row,
    field(t("notice.legal_basis"), basis, t("notice.legal_basis_hint")).row,
    field(t("standing.from_field"), from, t("standing.from_hint")).row,
    field(t("notice.until"), until, t("notice.until_hint")).row,
    field(t("notice.event"), event, t("notice.event_hint")).row,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = {
      systems: [...which.querySelectorAll("input:checked")].map((b) => b.value),
      subject: { id_type: "CN-RIC", id: person.value.trim().toUpperCase() },
      reason_kind: reason.value,
      reason: text.value.trim(),
      legal_basis: basis.value.trim() || null,
    };
    if (from.value) body.from = from.value;
    if (until.value) body.until = until.value;
    else body.until_event = event.value.trim() || null;
    act(submit, form, async () => {
      await api("/department/standing-deferrals", { method: "POST", body });
      person.value = "";
      ctx.announce(t("standing.declared"));
      ctx.navigate("/department/deferrals", { replace: true });
    });
  });
  return form;
}

async function standingDepartmentList(ctx, formPlace) {
  const { deferrals, systems } = await api("/department/standing-deferrals");
  replace(formPlace, declareForm(ctx, systems || []));
  if (!deferrals.length) return h("p", {}, t("notice.none"));
  const table = standingTable(t("standing.mine"), deferrals, false);
  [...table.tBodies[0].rows].forEach((row, i) => {
    const actions = buttons(deferrals[i], ctx, "standing-deferrals");
    if (actions) row.cells[row.cells.length - 1].firstChild.append(actions);
  });
  return table;
}

function askForm(ctx) {
  const access = h("input", { type: "number", min: 0, step: 1, required: true, inputmode: "numeric" });
  const reason = select(REASONS.map((r) => [r, label("deferral_reason", r)]), REASONS[0]);
  const text = h("textarea", { rows: 3, required: true, minlength: 2, maxlength: 2000 });
  const basis = h("input", { type: "text", maxlength: 500, autocomplete: "off" });
  const until = h("input", { type: "date" });
  const event = h("input", { type: "text", maxlength: 200, autocomplete: "off" });
  const submit = h("button", { type: "submit" }, t("notice.ask_button"));
  const form = h(
    "form",
    { class: "card grid" },
    field(t("notice.access"), access, t("notice.access_hint")).row,
    field(t("notice.reason_kind"), reason).row,
    field(t("notice.reason"), text, t("notice.reason_hint")).row,
    field(t("notice.legal_basis"), basis, t("notice.legal_basis_hint")).row,
    field(t("notice.until"), until, t("notice.until_hint")).row,
    field(t("notice.event"), event, t("notice.event_hint")).row,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = { access: Number(access.value), reason_kind: reason.value, reason: text.value.trim(), legal_basis: basis.value.trim() || null };
    if (until.value) body.until = until.value;
    else body.until_event = event.value.trim() || null;
    act(submit, form, async () => {
      await api("/department/deferrals", { method: "POST", body });
      ctx.announce(t("notice.asked"));
      ctx.navigate("/department/deferrals", { replace: true });
    });
  });
  return form;
}

async function departmentList(ctx) {
  const { deferrals } = await api("/department/deferrals");
  if (!deferrals.length) return h("p", {}, t("notice.none"));
  const table = deferralTable(t("notice.mine"), deferrals, false);
  [...table.tBodies[0].rows].forEach((row, i) => {
    const actions = buttons(deferrals[i], ctx);
    if (actions) row.cells[row.cells.length - 1].firstChild.append(actions);
  });
  return table;
}

function buttons(d, ctx, kind = "deferrals") {
  const made = [];
  if (d.status === "requested") made.push(["approve", ""], ["refuse", "danger"]);
  if (d.status === "active" && d.until_event) made.push(["event", "secondary"]);
  if (!made.length) return null;
  const where = h("div", { class: "row-actions" });
  for (const [action, style] of made) {
    const button = h("button", { type: "button", class: style }, t(`notice.do_${action}`));
    button.addEventListener("click", () =>
      act(button, where, async () => {
        await api(`/department/${kind}/${encodeURIComponent(d.id)}/${action}`, { method: "POST" });
        ctx.announce(t(`notice.done_${action}`));
        ctx.navigate("/department/deferrals", { replace: true });
      }),
    );
    where.append(button);
  }
  return where;
}
