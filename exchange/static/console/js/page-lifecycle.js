// The sharing lifecycle of the 《政务数据共享条例》 (docs/lifecycle.md). The department's page
// (/department/lifecycle: admin and head): draft a catalogue entry, attach its 保密风险 and
// 个人信息保护影响 assessments, the head's sign-off, submit, the authority's reasons when it is
// returned; update duties with their clocks and the one extension; supply-demand requests filed
// and those routed to the department. The data authority's page (/authority/review): the review
// queue on its clock, overdue first; update duties and extension decisions; routing requests.

import { api, session } from "./api.js";
import { cardTable, field, h, replace, select } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { departmentName, localName } from "./names.js";
import { act, badge, day, facts, loading, section } from "./ui.js";

const PDF_TYPES = {
  pdf: "application/pdf",
  ofd: "application/ofd",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
};

/** A clock: its last working day (China time) and what is left, or how long it is overdue. */
function clock(c) {
  if (!c || !c.due_on) return "—";
  const date = day(c.due_on);
  if (c.working_days_left === null) return date;
  if (c.overdue) return [h("span", { class: "badge overdue" }, t("lc.overdue", { n: -c.working_days_left })), h("br"), t("lc.was_due", { date })];
  return [h("span", { class: "badge due" }, t("lc.left", { n: c.working_days_left })), h("br"), t("lc.due", { date })];
}

let departments = {};

/** A department code as its name (the code itself when the hub has no name for it). */
function deptName(code) {
  if (!code) return "—";
  return h("span", { title: code }, departmentName(departments[code] || { code }));
}

async function loadDepartments() {
  const listed = await api("/catalogue/departments");
  departments = Object.fromEntries(listed.departments.map((d) => [d.code, d]));
  return listed.departments;
}

function entryName(s) {
  return h("span", {}, h("strong", {}, s.name || s.resource), h("br"), h("code", {}, s.resource));
}

function refresh(ctx, path, message) {
  if (message) ctx.announce(message);
  ctx.navigate(path, { replace: true });
}

/** A dialog asking for one paragraph (reasons, a note); *send* gets the text. */
function ask(title, what, action, opener, send) {
  const text = h("textarea", { rows: 4, required: true, minlength: 2, maxlength: 2000 });
  const ok = h("button", { type: "submit" }, action);
  const cancel = h("button", { type: "button", class: "secondary" }, t("app.cancel"));
  const form = h("form", { method: "dialog" }, h("h2", {}, title), field(what, text).row, h("div", { class: "actions" }, ok, cancel));
  const dialog = h("dialog", { "aria-label": title }, form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    opener.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(ok, form, async () => {
      await send(text.value.trim());
      dialog.close();
    });
  });
  document.body.append(dialog);
  dialog.showModal();
  text.focus();
}

/** An error found before asking the hub, shown like the hub's own problems. */
function localProblem(detail) {
  const error = new Error(detail);
  error.problem = { detail };
  return error;
}

function button(text, cls = "") {
  return h("button", { type: "button", class: cls }, text);
}

// -- the department ------------------------------------------------------------------------------

const DEPT = "/department/lifecycle";

export async function renderDepartment(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("lc.dept_title")), loading());
  const me = session();
  const admin = me.role === "department_admin";
  const [subs, duties, demands] = await Promise.all([
    api("/catalogue/submissions"),
    api("/catalogue/update-duties"),
    api("/demands"),
    loadDepartments(),
  ]);
  replace(
    main,
    h("h1", {}, t("lc.dept_title")),
    h("p", { class: "hint" }, t("lc.dept_hint")),
    section(t("lc.submissions"), submissionsTable(subs.submissions.filter((s) => s.route === "review"), admin, ctx)),
    admin ? section(t("lc.new_entry"), draftForm(ctx)) : null,
    section(t("lc.duties"), dutiesTable(duties.duties, admin, ctx)),
    section(t("lc.demands"), demandsTable(demands.demands, me.department, admin, ctx), admin ? demandForm(ctx) : null),
  );
}

function submissionsTable(rows, admin, ctx) {
  if (!rows.length) return h("p", {}, t("lc.none"));
  return cardTable(
    t("lc.submissions"),
    [t("lc.entry"), t("lc.status"), t("lc.assessments"), t("lc.signed_off"), t("lc.review_by"), t("lc.action")],
    rows.map((s) => [
      entryName(s),
      [badge("submission", s.status), s.reasons ? h("p", { class: "reason" }, t("lc.reasons", { reasons: s.reasons })) : null],
      assessmentList(s),
      s.signed_off_by ? [s.signed_off_by, h("br"), when(s.signed_off_at)] : "—",
      clock(s.review),
      s.status === "draft" ? draftActions(s, admin, ctx) : "—",
    ]),
  );
}

function assessmentList(s) {
  const kinds = ["secrecy", "pia"];
  return h(
    "ul",
    { class: "plain" },
    kinds.map((kind) => {
      const doc = s.assessments.find((a) => a.kind === kind);
      return h("li", {}, label("assessment", kind), "：", doc ? h("span", { title: `SHA-256 ${doc.sha256}` }, doc.filename) : t("lc.missing"));
    }),
  );
}

function draftActions(s, admin, ctx) {
  const where = h("div", { class: "row-actions" });
  const base = `/catalogue/submissions/${encodeURIComponent(s.id)}`;
  if (!admin) {
    const sign = button(t("lc.sign_off"));
    sign.addEventListener("click", () => act(sign, where, async () => {
      await api(`${base}/sign-off`, { method: "POST" });
      refresh(ctx, DEPT, t("lc.signed"));
    }));
    where.append(sign);
    return where;
  }
  for (const kind of ["secrecy", "pia"]) {
    const input = h("input", { type: "file", accept: ".pdf,.ofd,.docx", "aria-label": label("assessment", kind) });
    const upload = button(t("lc.attach", { what: label("assessment", kind) }), "secondary");
    upload.addEventListener("click", () => act(upload, where, async () => {
      const file = input.files[0];
      if (!file) throw localProblem(t("lc.choose_file"));
      await uploadAssessment(`${base}/assessments/${kind}`, file);
      refresh(ctx, DEPT, t("lc.attached"));
    }));
    where.append(h("div", { class: "upload" }, input, upload));
  }
  const submit = button(t("lc.submit"));
  submit.addEventListener("click", () => act(submit, where, async () => {
    await api(`${base}/submit`, { method: "POST" });
    refresh(ctx, DEPT, t("lc.submitted"));
  }));
  const withdraw = button(t("lc.withdraw"), "danger");
  withdraw.addEventListener("click", () => act(withdraw, where, async () => {
    await api(`${base}/withdraw`, { method: "POST" });
    refresh(ctx, DEPT, t("lc.withdrawn"));
  }));
  where.append(submit, withdraw);
  return where;
}

/** PUT a document as its own bytes (the API's JSON helper would stringify it). */
async function uploadAssessment(path, file) {
  const suffix = (file.name.split(".").pop() || "").toLowerCase();
  const type = PDF_TYPES[suffix];
  if (!type) throw localProblem(t("lc.file_types"));
  const url = new URL(path, window.location.origin);
  url.searchParams.set("filename", file.name.replace(/[\\/]/g, "_").slice(0, 200));
  const response = await fetch(url, {
    method: "PUT",
    headers: { Authorization: `Bearer ${session().token}`, "Content-Type": type, Accept: "application/json" },
    body: file,
    credentials: "omit",
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    const error = localProblem(problem?.detail || t("error.generic"));
    error.status = response.status;
    if (problem) error.problem = problem;
    throw error;
  }
}

function draftForm(ctx) {
  const text = h("textarea", { rows: 10, spellcheck: "false", class: "code", required: true, "aria-describedby": "lc-draft-hint" });
  const file = h("input", { type: "file", accept: ".json,.yaml,.yml" });
  file.addEventListener("change", async () => {
    if (file.files[0]) text.value = await file.files[0].text();
  });
  const save = h("button", { type: "submit" }, t("lc.save_draft"));
  const form = h("form", { class: "card" }, h("p", { class: "hint", id: "lc-draft-hint" }, t("lc.draft_hint")), field(t("lc.descriptor"), text).row, field(t("lc.upload"), file).row, save);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(save, form, async () => {
      let contentType = "application/json";
      try {
        JSON.parse(text.value);
      } catch {
        contentType = "application/yaml";
      }
      await api("/catalogue/submissions", { method: "POST", body: text.value, contentType });
      refresh(ctx, DEPT, t("lc.drafted"));
    });
  });
  return form;
}

function dutiesTable(rows, admin, ctx) {
  if (!rows.length) return h("p", {}, t("lc.no_duties"));
  return cardTable(
    t("lc.duties"),
    [t("lc.entry"), t("lc.reason"), t("lc.status"), t("lc.update_by"), t("lc.extension"), t("lc.action")],
    rows.map((d) => [
      h("code", {}, d.resource),
      d.reason,
      badge("duty", d.status),
      clock(d.clock),
      [label("extension", d.extension.status), d.extension.reasons ? h("p", { class: "reason" }, d.extension.reasons) : null],
      admin && d.status === "open" && d.extension.status === "none" ? extensionButton(d, ctx) : "—",
    ]),
  );
}

function extensionButton(d, ctx) {
  const open = button(t("lc.ask_extension"), "secondary");
  open.addEventListener("click", () =>
    ask(t("lc.ask_extension"), t("lc.extension_reason"), t("lc.send"), open, async (reason) => {
      await api(`/catalogue/update-duties/${encodeURIComponent(d.id)}/extension`, { method: "POST", body: { reason } });
      refresh(ctx, DEPT, t("lc.extension_asked"));
    }),
  );
  return open;
}

function demandsTable(rows, department, admin, ctx) {
  if (!rows.length) return h("p", {}, t("lc.no_demands"));
  return cardTable(
    t("lc.demands"),
    [t("lc.demand"), t("lc.requester"), t("lc.provider"), t("lc.status"), t("lc.clock"), t("lc.action")],
    rows.map((d) => [
      demandWords(d),
      deptName(d.requester),
      deptName(d.provider),
      [badge("demand", d.status), d.reasons ? h("p", { class: "reason" }, d.reasons) : null, d.resource ? h("p", {}, t("lc.connected_to"), h("code", {}, d.resource)) : null],
      clock(d.status === "filed" ? d.routing : d.reply),
      admin && d.status === "routed" && d.provider === department ? replyButtons(d, ctx) : "—",
    ]),
  );
}

function demandWords(d) {
  return h(
    "details",
    {},
    h("summary", {}, d.title),
    facts([
      [t("lc.wanted"), d.wanted],
      [t("lc.basis"), d.basis],
      [t("lc.scenario"), d.scenario],
      [t("lc.scope"), d.scope],
      [t("lc.method"), label("method", d.method)],
      [t("lc.term"), day(d.term_until)],
      [t("lc.filed_at"), when(d.filed_at)],
    ]),
  );
}

function replyButtons(d, ctx) {
  const where = h("div", { class: "row-actions" });
  const code = h("input", { type: "text", pattern: "[A-Z0-9][A-Z0-9-]{1,62}[A-Z0-9]", placeholder: "MCA-DB-0001", "aria-label": t("lc.resource_code") });
  const connect = button(t("lc.connect"));
  connect.addEventListener("click", () => act(connect, where, async () => {
    await api(`/demands/${encodeURIComponent(d.id)}/reply`, { method: "POST", body: { decision: "connect", resource: code.value.trim() } });
    refresh(ctx, DEPT, t("lc.connected"));
  }));
  const refuse = button(t("lc.refuse"), "danger");
  refuse.addEventListener("click", () =>
    ask(t("lc.refuse"), t("lc.reasons_label"), t("lc.refuse"), refuse, async (reasons) => {
      await api(`/demands/${encodeURIComponent(d.id)}/reply`, { method: "POST", body: { decision: "refuse", reasons } });
      refresh(ctx, DEPT, t("lc.refused"));
    }),
  );
  where.append(code, connect, refuse);
  return where;
}

function demandForm(ctx) {
  const input = (name, attrs = {}) => h("input", { type: "text", name, required: true, minlength: 2, maxlength: 200, ...attrs });
  const area = (name) => h("textarea", { name, rows: 2, required: true, minlength: 2, maxlength: 1000 });
  const title = input("title");
  const wanted = area("wanted");
  const basis = area("basis");
  const scenario = area("scenario");
  const scope = area("scope");
  const method = select(["interface", "verification", "database", "file"].map((m) => [m, label("method", m)]), "interface");
  const term = h("input", { type: "date", name: "term_until", required: true });
  const send = h("button", { type: "submit" }, t("lc.file_demand"));
  const form = h(
    "form",
    { class: "card" },
    h("h3", {}, t("lc.new_demand")),
    field(t("lc.demand"), title).row,
    field(t("lc.wanted"), wanted).row,
    field(t("lc.basis"), basis).row,
    field(t("lc.scenario"), scenario).row,
    field(t("lc.scope"), scope).row,
    field(t("lc.method"), method).row,
    field(t("lc.term"), term).row,
    send,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(send, form, async () => {
      const body = { title: title.value.trim(), wanted: wanted.value.trim(), basis: basis.value.trim(), scenario: scenario.value.trim(), scope: scope.value.trim(), method: method.value, term_until: term.value };
      await api("/demands", { method: "POST", body });
      refresh(ctx, DEPT, t("lc.demand_filed"));
    });
  });
  return form;
}

// -- the data authority --------------------------------------------------------------------------

const AUTH = "/authority/review";

export async function renderAuthority(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("lc.auth_title")), loading());
  const [subs, duties, demands, listed] = await Promise.all([
    api("/catalogue/submissions", { query: { status: "submitted" } }),
    api("/catalogue/update-duties", { query: { status: "open" } }),
    api("/demands"),
    loadDepartments(),
  ]);
  const queue = [...subs.submissions].sort((a, b) => (a.review.due_on || "").localeCompare(b.review.due_on || ""));
  const open = demands.demands.filter((d) => d.status !== "connected");
  const overdue = (rows, pick) => rows.filter((r) => pick(r).overdue).length;
  replace(
    main,
    h("h1", {}, t("lc.auth_title")),
    h("p", { class: "hint" }, t("lc.auth_hint")),
    facts([
      [t("lc.queue_count"), String(queue.length)],
      [t("lc.queue_overdue"), String(overdue(queue, (s) => s.review))],
      [t("lc.duties_overdue"), String(overdue(duties.duties, (d) => d.clock))],
      [t("lc.demands_waiting"), String(open.filter((d) => d.status === "filed").length)],
    ]),
    section(t("lc.queue"), queueTable(queue, ctx)),
    section(t("lc.duties"), authorityDuties(duties.duties, ctx), dutyForm(ctx)),
    section(t("lc.demands"), routingTable(open, listed, ctx)),
  );
}

function queueTable(rows, ctx) {
  if (!rows.length) return h("p", {}, t("lc.queue_empty"));
  return cardTable(
    t("lc.queue"),
    [t("lc.entry"), t("lc.provider"), t("lc.submitted_at"), t("lc.assessments"), t("lc.review_by"), t("lc.action")],
    rows.map((s) => [
      entryName(s),
      deptName(s.provider),
      when(s.submitted_at),
      assessmentList(s),
      clock(s.review),
      reviewButtons(s, ctx),
    ]),
  );
}

function reviewButtons(s, ctx) {
  const where = h("div", { class: "row-actions" });
  const path = `/catalogue/submissions/${encodeURIComponent(s.id)}/review`;
  const publish = button(t("lc.publish"));
  publish.addEventListener("click", () => act(publish, where, async () => {
    await api(path, { method: "POST", body: { decision: "publish" } });
    refresh(ctx, AUTH, t("lc.published"));
  }));
  const back = button(t("lc.return"), "danger");
  back.addEventListener("click", () =>
    ask(t("lc.return"), t("lc.reasons_label"), t("lc.return"), back, async (reasons) => {
      await api(path, { method: "POST", body: { decision: "return", reasons } });
      refresh(ctx, AUTH, t("lc.returned"));
    }),
  );
  where.append(publish, back);
  return where;
}

function authorityDuties(rows, ctx) {
  if (!rows.length) return h("p", {}, t("lc.no_duties"));
  return cardTable(
    t("lc.duties"),
    [t("lc.entry"), t("lc.provider"), t("lc.reason"), t("lc.update_by"), t("lc.extension"), t("lc.action")],
    rows.map((d) => [
      h("code", {}, d.resource),
      deptName(d.provider),
      d.reason,
      clock(d.clock),
      [label("extension", d.extension.status), d.extension.reason ? h("p", { class: "reason" }, d.extension.reason) : null],
      d.extension.status === "asked" ? extensionDecision(d, ctx) : "—",
    ]),
  );
}

function extensionDecision(d, ctx) {
  const where = h("div", { class: "row-actions" });
  const path = `/catalogue/update-duties/${encodeURIComponent(d.id)}/extension/decision`;
  const yes = button(t("lc.approve_extension"));
  yes.addEventListener("click", () => act(yes, where, async () => {
    await api(path, { method: "POST", body: { approve: true } });
    refresh(ctx, AUTH, t("lc.extension_approved"));
  }));
  const no = button(t("lc.refuse_extension"), "danger");
  no.addEventListener("click", () =>
    ask(t("lc.refuse_extension"), t("lc.reasons_label"), t("lc.refuse_extension"), no, async (reasons) => {
      await api(path, { method: "POST", body: { approve: false, reasons } });
      refresh(ctx, AUTH, t("lc.extension_refused"));
    }),
  );
  where.append(yes, no);
  return where;
}

function dutyForm(ctx) {
  const code = h("input", { type: "text", required: true, pattern: "[A-Z0-9][A-Z0-9-]{1,62}[A-Z0-9]", placeholder: "PSB-HJ-0001" });
  const reason = h("textarea", { rows: 2, required: true, minlength: 2, maxlength: 2000 });
  const open = h("button", { type: "submit" }, t("lc.open_duty"));
  const form = h("form", { class: "card" }, h("h3", {}, t("lc.open_duty")), field(t("lc.resource_code"), code).row, field(t("lc.reason"), reason, t("lc.duty_hint")).row, open);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(open, form, async () => {
      await api(`/catalogue/resources/${encodeURIComponent(code.value.trim())}/update-duties`, { method: "POST", body: { reason: reason.value.trim() } });
      refresh(ctx, AUTH, t("lc.duty_opened"));
    });
  });
  return form;
}

function routingTable(rows, all, ctx) {
  if (!rows.length) return h("p", {}, t("lc.no_demands"));
  return cardTable(
    t("lc.demands"),
    [t("lc.demand"), t("lc.requester"), t("lc.status"), t("lc.clock"), t("lc.action")],
    rows.map((d) => [
      demandWords(d),
      deptName(d.requester),
      [badge("demand", d.status), d.provider ? h("p", {}, deptName(d.provider)) : null, d.reasons ? h("p", { class: "reason" }, d.reasons) : null],
      clock(d.status === "filed" ? d.routing : d.reply),
      d.status === "filed" || d.status === "refused" || d.reply.overdue ? routeForm(d, all, ctx) : "—",
    ]),
  );
}

function routeForm(d, all, ctx) {
  const where = h("div", { class: "row-actions" });
  const choices = all.filter((x) => x.code !== d.requester).map((x) => [x.code, localName(x.name, x.code, x.name_en)]);
  const to = select(choices, choices[0]?.[0]);
  to.setAttribute("aria-label", t("lc.route_to"));
  const go = button(t("lc.route"));
  go.addEventListener("click", () => act(go, where, async () => {
    await api(`/demands/${encodeURIComponent(d.id)}/route`, { method: "POST", body: { provider: to.value } });
    refresh(ctx, AUTH, t("lc.routed"));
  }));
  where.append(to, go);
  return where;
}


