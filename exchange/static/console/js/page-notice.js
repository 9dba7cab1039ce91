// Notice without consent (PIPL art. 35, docs/notice.md). On the citizen's access list: the kind
// of legal basis of each access (法定职责 / 本人同意 / 其他) and, for an access whose notice was
// deferred, the mark saying so and why (the reason kind, never the investigation's details).
// The auditor's page 延迟告知 lists every deferral (requested, in effect, refused, ended) with
// who asked and who approved, and the checks against the audit log. The department admin's page
// asks for a deferral of one of the department's accesses and approves or refuses another
// admin's request (a second person), or records the event one waits for.

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
  const { deferrals } = await api("/audit/deferrals");
  replace(
    main,
    h("h1", {}, t("notice.title")),
    h("p", { class: "hint" }, t("notice.audit_hint")),
    ...STATUSES.map((status) => {
      const rows = deferrals.filter((d) => d.status === status);
      const title = label("deferral_group", status);
      return section(title, rows.length ? deferralTable(title, rows, true) : h("p", {}, t("notice.none")));
    }),
  );
}

// -- the department's page ------------------------------------------------------------------

export async function renderDepartment(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("notice.title")), loading());
  const list = liveRegion({}, loading());
  replace(main, h("h1", {}, t("notice.title")), h("p", { class: "hint" }, t("notice.department_hint")), section(t("notice.ask"), askForm(ctx)), section(t("notice.mine"), list));
  await fill(list, () => departmentList(ctx));
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

function buttons(d, ctx) {
  const made = [];
  if (d.status === "requested") made.push(["approve", ""], ["refuse", "danger"]);
  if (d.status === "active" && d.until_event) made.push(["event", "secondary"]);
  if (!made.length) return null;
  const where = h("div", { class: "row-actions" });
  for (const [action, style] of made) {
    const button = h("button", { type: "button", class: style }, t(`notice.do_${action}`));
    button.addEventListener("click", () =>
      act(button, where, async () => {
        await api(`/department/deferrals/${encodeURIComponent(d.id)}/${action}`, { method: "POST" });
        ctx.announce(t(`notice.done_${action}`));
        ctx.navigate("/department/deferrals", { replace: true });
      }),
    );
    where.append(button);
  }
  return where;
}
