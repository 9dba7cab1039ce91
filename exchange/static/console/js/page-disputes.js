// Disputes between departments (数据共享争议, 《政务数据共享条例》 art. 28). The department
// admin's page opens a dispute with another department over a matter both are party to, and for
// each dispute shows the level it is at with that level's clock (China time, overdue marked) and
// the steps the department may take: a position, a settlement proposal, confirming the other
// side's proposal, taking it to the data authority. The data authority's page lists every
// dispute with its clock and records the authority's decision with reasons, the referral to the
// common superior (上级共同主管部门) and then the government at that level (本级人民政府), and
// their outcome, each with the document's SHA-256.

import { api } from "./api.js";
import { cardTable, field, h, replace, select } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { departmentName } from "./names.js";
import { act, badge, day, fill, liveRegion, loading, section } from "./ui.js";

const KINDS = ["agreement", "application", "correction", "catalogue_entry"];
const TEXT_MAX = 4000;

/** The clock of the level a dispute is at: its last working day, or overdue; none once closed. */
function clock(d) {
  if (!d.clock.running) return h("span", { class: "meta" }, d.closed_at ? t("dsp.closed_at", { at: when(d.closed_at) }) : "—");
  const date = day(d.clock.due_on);
  const level = h("p", { class: "meta" }, label("dispute_level", d.clock.level));
  if (d.clock.overdue) return [h("span", { class: "badge overdue" }, t("dsp.overdue", { date })), level];
  return [h("span", { class: "badge due" }, t("dsp.due", { date })), level];
}

function matter(d) {
  return h("span", { title: d.matter.id }, `${label("dispute_matter", d.matter.kind)} ${d.matter.id}`);
}

function parties(d) {
  return h("ul", { class: "plain" }, h("li", {}, t("dsp.claimant_is", { who: departmentName(d.claimant) })), h("li", {}, t("dsp.respondent_is", { who: departmentName(d.respondent) })));
}

function state(d) {
  const shown = [badge("dispute_status", d.status), " ", badge("dispute_level", d.level)];
  if (d.settlement) shown.push(h("p", { class: "reason" }, t("dsp.proposed", { terms: d.settlement.terms })));
  if (d.outcome) shown.push(h("p", { class: "reason" }, t("dsp.outcome_is", { outcome: d.outcome })));
  if (d.reasons) shown.push(h("p", { class: "meta" }, t("dsp.reasons_are", { reasons: d.reasons })));
  return shown;
}

/** The history of a dispute, folded: who did what at which level, when. */
function history(d) {
  const items = (d.steps || []).map((s) =>
    h(
      "li",
      {},
      h("strong", {}, label("dispute_action", s.action)),
      ` · ${label("dispute_level", s.level)} · ${s.department || t("dsp.authority")} · ${when(s.at)}`,
      s.text ? h("p", { class: "reason" }, s.text) : null,
      s.document ? h("p", { class: "meta" }, t("dsp.document", { name: s.document.name, sha256: s.document.sha256.slice(0, 16) })) : null,
    ),
  );
  return h("details", {}, h("summary", {}, t("dsp.steps", { n: items.length })), h("ol", { class: "plain" }, items));
}

/** A dialog with the given fields (each [key, label, hint, kind]); *send* gets their values. */
function formDialog(title, fields, action, opener, send) {
  const controls = {};
  const rows = fields.map(([key, what, hint, kind]) => {
    const control =
      kind === "sha256"
        ? h("input", { type: "text", required: true, pattern: "[0-9a-f]{64}", maxlength: 64, autocomplete: "off", spellcheck: "false" })
        : kind === "line"
          ? h("input", { type: "text", required: true, maxlength: 200, autocomplete: "off" })
          : h("textarea", { rows: 3, required: true, minlength: 1, maxlength: TEXT_MAX });
    controls[key] = control;
    return field(what, control, hint).row;
  });
  const ok = h("button", { type: "submit" }, action);
  const cancel = h("button", { type: "button", class: "secondary" }, t("app.cancel"));
  const form = h("form", { method: "dialog" }, h("h2", {}, title), ...rows, h("div", { class: "actions" }, ok, cancel));
  const dialog = h("dialog", { "aria-label": title }, form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    opener.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries(Object.entries(controls).map(([k, c]) => [k, c.value.trim()]));
    act(ok, form, async () => {
      await send(values);
      dialog.close();
    });
  });
  document.body.append(dialog);
  dialog.showModal();
}

function button(text, style, where, onClick) {
  const b = h("button", { type: "button", class: style }, text);
  b.addEventListener("click", () => onClick(b, where));
  return b;
}

// -- the department's page ------------------------------------------------------------------

const DEPARTMENT = "/department/disputes";

function departmentActions(d, ctx) {
  if (!d.may.length) return null;
  const path = `${DEPARTMENT}/${encodeURIComponent(d.id)}`;
  const where = h("div", { class: "row-actions" });
  const done = (message) => {
    ctx.announce(message);
    ctx.navigate(DEPARTMENT, { replace: true });
  };
  const post = (suffix, body) => api(`${path}${suffix}`, { method: "POST", body });
  if (d.may.includes("position"))
    where.append(
      button(t("dsp.do_position"), "secondary", where, (b) =>
        formDialog(t("dsp.do_position"), [["text", t("dsp.position"), t("dsp.position_hint")]], t("dsp.record"), b, async (v) => {
          await post("/positions", { text: v.text });
          done(t("dsp.done_position"));
        }),
      ),
    );
  if (d.may.includes("settlement"))
    where.append(
      button(t("dsp.do_settlement"), "secondary", where, (b) =>
        formDialog(t("dsp.do_settlement"), [["terms", t("dsp.terms"), t("dsp.terms_hint")]], t("dsp.propose"), b, async (v) => {
          await post("/settlement", { terms: v.terms });
          done(t("dsp.done_settlement"));
        }),
      ),
    );
  if (d.may.includes("confirm"))
    where.append(
      button(t("dsp.do_confirm"), "", where, (b) =>
        act(b, where, async () => {
          await post("/settlement/confirm");
          done(t("dsp.done_confirm"));
        }),
      ),
    );
  if (d.may.includes("escalate"))
    where.append(
      button(t("dsp.do_escalate"), "danger", where, (b) =>
        formDialog(t("dsp.do_escalate"), [["reasons", t("dsp.reasons"), t("dsp.escalate_hint")]], t("dsp.escalate"), b, async (v) => {
          await post("/escalate", { to: "authority", reasons: v.reasons });
          done(t("dsp.done_escalate"));
        }),
      ),
    );
  return where;
}

function disputeTable(title, disputes, actions) {
  const headings = [t("dsp.matter"), t("dsp.parties"), t("dsp.statement"), t("dsp.state"), t("dsp.clock"), t("dsp.action")];
  return cardTable(
    title,
    headings,
    disputes.map((d) => [matter(d), parties(d), [h("p", { class: "reason" }, d.statement), history(d)], state(d), clock(d), actions(d)]),
  );
}

/** Each dispute with its steps (the list leaves them out). */
async function withSteps(base, disputes) {
  return Promise.all(disputes.map((d) => api(`${base}/${encodeURIComponent(d.id)}`)));
}

async function lists(base, actions) {
  const { disputes } = await api(base);
  const full = await withSteps(base, disputes);
  const open = full.filter((d) => d.status === "open");
  const closed = full.filter((d) => d.status !== "open");
  return h(
    "div",
    {},
    section(t("dsp.open"), open.length ? disputeTable(t("dsp.open"), open, actions) : h("p", {}, t("dsp.none_open"))),
    section(t("dsp.closed"), closed.length ? disputeTable(t("dsp.closed"), closed, actions) : h("p", {}, t("dsp.none_closed"))),
  );
}

function openForm(ctx, departments, mine) {
  const others = departments.filter((d) => d.code !== mine);
  const respondent = select(others.map((d) => [d.code, departmentName(d)]), others.length ? others[0].code : "");
  const kind = select(KINDS.map((k) => [k, label("dispute_matter", k)]), KINDS[0]);
  const id = h("input", { type: "text", required: true, maxlength: 64, autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9._:\\-]*" });
  const statement = h("textarea", { rows: 4, required: true, minlength: 1, maxlength: TEXT_MAX });
  const submit = h("button", { type: "submit" }, t("dsp.open_button"));
  const form = h(
    "form",
    { class: "card grid" },
    field(t("dsp.respondent"), respondent).row,
    field(t("dsp.matter_kind"), kind).row,
    field(t("dsp.matter_id"), id, t("dsp.matter_id_hint")).row,
    field(t("dsp.statement"), statement, t("dsp.statement_hint")).row,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = { respondent: respondent.value, matter: { kind: kind.value, id: id.value.trim() }, statement: statement.value.trim() };
    act(submit, form, async () => {
      await api(DEPARTMENT, { method: "POST", body });
      ctx.announce(t("dsp.done_open"));
      ctx.navigate(DEPARTMENT, { replace: true });
    });
  });
  return form;
}

export async function renderDepartment(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("dsp.title")), loading());
  const list = liveRegion({}, loading());
  const { departments } = await api("/catalogue/departments");
  replace(
    main,
    h("h1", {}, t("dsp.title")),
    h("p", { class: "hint" }, t("dsp.department_hint")),
    section(t("dsp.open_new"), openForm(ctx, departments, ctx.session.department)),
    list,
  );
  await fill(list, () => lists(DEPARTMENT, (d) => departmentActions(d, ctx)));
}

// -- the data authority's page --------------------------------------------------------------

const AUTHORITY = "/authority/disputes";
const NEXT = { authority: "superior", superior: "government" };

function authorityActions(d, ctx) {
  if (!d.may.length) return null;
  const path = `${AUTHORITY}/${encodeURIComponent(d.id)}`;
  const where = h("div", { class: "row-actions" });
  const done = (message) => {
    ctx.announce(message);
    ctx.navigate(AUTHORITY, { replace: true });
  };
  const document = [
    ["name", t("dsp.document_name"), t("dsp.document_name_hint"), "line"],
    ["sha256", t("dsp.document_sha256"), t("dsp.document_sha256_hint"), "sha256"],
  ];
  if (d.may.includes("decide"))
    where.append(
      button(t("dsp.do_decide"), "", where, (b) =>
        formDialog(
          t("dsp.do_decide"),
          [
            ["decision", t("dsp.decision"), t("dsp.decision_hint")],
            ["reasons", t("dsp.reasons"), t("dsp.reasons_hint")],
          ],
          t("dsp.record"),
          b,
          async (v) => {
            await api(`${path}/decision`, { method: "POST", body: { decision: v.decision, reasons: v.reasons } });
            done(t("dsp.done_decide"));
          },
        ),
      ),
    );
  if (d.may.includes("escalate")) {
    const to = NEXT[d.level];
    const title = t(`dsp.refer_${to}`);
    where.append(
      button(title, "secondary", where, (b) =>
        formDialog(title, [["reasons", t("dsp.reasons"), t("dsp.refer_hint")], ...document], t("dsp.record"), b, async (v) => {
          await api(`${path}/escalate`, { method: "POST", body: { to, reasons: v.reasons, document: { name: v.name, sha256: v.sha256 } } });
          done(t("dsp.done_refer"));
        }),
      ),
    );
  }
  if (d.may.includes("outcome"))
    where.append(
      button(t("dsp.do_outcome"), "", where, (b) =>
        formDialog(t("dsp.do_outcome"), [["outcome", t("dsp.outcome"), t("dsp.outcome_hint")], ...document], t("dsp.record"), b, async (v) => {
          await api(`${path}/outcome`, { method: "POST", body: { outcome: v.outcome, document: { name: v.name, sha256: v.sha256 } } });
          done(t("dsp.done_outcome"));
        }),
      ),
    );
  return where;
}

export async function renderAuthority(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("dsp.title")), loading());
  const list = liveRegion({}, loading());
  replace(main, h("h1", {}, t("dsp.title")), h("p", { class: "hint" }, t("dsp.authority_hint")), list);
  await fill(list, () => lists(AUTHORITY, (d) => authorityActions(d, ctx)));
}
