// Correction requests (校核纠错, 异议). The department admin's queue of requests addressed to
// the department as a source (数源部门), on the working-day clock, with confirm (corrected at
// the source) and reject (with reasons); on the citizen's page, each attribute the hub released
// about them with its source department, an objection with an explanation, and the answers.

import { api, optional } from "./api.js";
import { cardTable, field, h, replace } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { departmentName, localName } from "./names.js";
import { act, badge, day, facts, fill, loading, section } from "./ui.js";

/** Field titles of the resources named, by `namespace.field` (the attribute as a fallback). */
async function fieldTitles(resources) {
  const titles = {};
  const found = await Promise.all([...new Set(resources)].map((code) => optional(`/catalogue/resources/${encodeURIComponent(code)}`)));
  for (const resource of found.filter(Boolean)) {
    const namespace = resource.descriptor.namespace;
    for (const f of resource.descriptor.fields || []) titles[`${namespace}.${f.name}`] = f.title || f.name;
  }
  return (attribute) => h("span", { title: attribute }, titles[attribute] || attribute);
}

/** The clock: the last working day to answer (China time), or overdue. */
function clock(c) {
  const date = day(c.due_on);
  if (c.status !== "open") return date;
  if (c.overdue) return h("span", { class: "badge overdue" }, t("corr.overdue", { date }));
  return h("span", { class: "badge due" }, t("corr.due", { date }));
}

/** Who filed: a department (and its system), or the citizen. */
function filer(c) {
  if (c.filed_by === "citizen") return t("corr.by_citizen");
  const department = c.filer && c.filer.department ? departmentName(c.filer.department) : "—";
  return c.filed_by === "system" ? h("span", { title: c.filer.id }, `${department} · ${localName(c.filer.name, c.filer.id)}`) : department;
}

function outcome(c) {
  if (c.status === "rejected") return [badge("correction", c.status), h("p", { class: "reason" }, c.reason)];
  if (c.status === "corrected") return [badge("correction", c.status), h("p", { class: "meta" }, t("corr.notices", { n: c.notices }))];
  return badge("correction", c.status);
}

// -- the department's queue -----------------------------------------------------------------------

export async function renderQueue(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("corr.queue")), loading());
  const queue = await api("/department/corrections");
  const named = await fieldTitles([...queue.received, ...queue.filed].map((c) => c.resource));
  const open = queue.received.filter((c) => c.status === "open");
  const answered = queue.received.filter((c) => c.status !== "open");
  const headings = [t("corr.attribute"), t("corr.person"), t("corr.filer"), t("corr.evidence"), t("corr.filed_at"), t("corr.answer_by"), t("corr.action")];
  replace(
    main,
    h("h1", {}, t("corr.queue")),
    h("p", { class: "hint" }, t("corr.clock_hint", { days: queue.reply_working_days })),
    section(
      t("corr.open"),
      open.length
        ? cardTable(
            t("corr.open"),
            headings,
            open.map((c) => [named(c.attribute), c.subject ? c.subject.id : "—", filer(c), c.evidence, when(c.filed_at), clock(c), answerButtons(c, ctx)]),
          )
        : h("p", {}, t("corr.none_open")),
    ),
    section(
      t("corr.answered"),
      answered.length
        ? cardTable(
            t("corr.answered"),
            [t("corr.attribute"), t("corr.filer"), t("corr.filed_at"), t("corr.decided_at"), t("corr.status")],
            answered.map((c) => [named(c.attribute), filer(c), when(c.filed_at), when(c.decided_at), outcome(c)]),
          )
        : h("p", {}, t("corr.none_answered")),
    ),
  );
}

function answerButtons(c, ctx) {
  const confirm = h("button", { type: "button" }, t("corr.confirm"));
  const reject = h("button", { type: "button", class: "danger" }, t("corr.reject"));
  const where = h("div", { class: "row-actions" }, confirm, reject);
  confirm.addEventListener("click", () =>
    act(confirm, where, async () => {
      await api(`/department/corrections/${encodeURIComponent(c.id)}/confirm`, { method: "POST" });
      ctx.announce(t("corr.confirmed"));
      ctx.navigate("/department/corrections", { replace: true });
    }),
  );
  reject.addEventListener("click", () =>
    textDialog(t("corr.reject_title"), t("corr.reason"), t("corr.reason_hint"), t("corr.reject"), reject, async (reason) => {
      await api(`/department/corrections/${encodeURIComponent(c.id)}/reject`, { method: "POST", body: { reason } });
      ctx.announce(t("corr.rejected"));
      ctx.navigate("/department/corrections", { replace: true });
    }),
  );
  return where;
}

/** A dialog asking for one paragraph (a refusal's reasons, an objection's explanation). */
function textDialog(title, what, hint, action, opener, send) {
  const text = h("textarea", { rows: 4, required: true, minlength: 2, maxlength: 2000 });
  const ok = h("button", { type: "submit" }, action);
  const cancel = h("button", { type: "button", class: "secondary" }, t("app.cancel"));
  const form = h("form", { method: "dialog" }, h("h2", {}, title), field(what, text, hint).row, h("div", { class: "actions" }, ok, cancel));
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

// -- the citizen's page -----------------------------------------------------------------------------

/** Each attribute released about the citizen, its source department, and an objection button. */
export async function releasedList(ctx, objections) {
  const released = await api("/citizen/released");
  if (!released.attributes.length) return h("p", {}, t("corr.none_released"));
  const named = await fieldTitles(released.attributes.map((a) => a.resource));
  const headings = [t("corr.attribute"), t("corr.source"), t("corr.times"), t("corr.last_released"), t("corr.action")];
  return cardTable(
    t("corr.released"),
    headings,
    released.attributes.map((a) => [
      named(a.attribute),
      departmentName(a.source),
      t("corr.times_value", { n: a.times, systems: a.systems }),
      when(a.last_released_at),
      released.objections ? objectButton(a, named, ctx, objections) : "—",
    ]),
  );
}

function objectButton(attribute, named, ctx, objections) {
  const title = named(attribute.attribute).textContent;
  const button = h("button", { type: "button", class: "secondary", "aria-label": t("corr.object_label", { attribute: title }) }, t("corr.object"));
  button.addEventListener("click", () =>
    textDialog(t("corr.object_title", { attribute: title }), t("corr.explanation"), t("corr.explanation_hint"), t("corr.object_send"), button, async (explanation) => {
      await api("/citizen/corrections", { method: "POST", body: { attribute: attribute.attribute, explanation } });
      ctx.announce(t("corr.objected"));
      await fill(objections, () => objectionList());
    }),
  );
  return button;
}

/** The requests about the citizen (theirs and departments'), with the answers. */
export async function objectionList() {
  const { corrections } = await api("/citizen/corrections");
  if (!corrections.length) return h("p", {}, t("corr.none_objections"));
  const named = await fieldTitles(corrections.map((c) => c.resource));
  return h(
    "ul",
    { class: "cards" },
    corrections.map((c) =>
      h(
        "li",
        { class: "card" },
        h("h3", {}, named(c.attribute), " ", badge("correction", c.status)),
        facts([
          [t("corr.source"), departmentName(c.provider)],
          [t("corr.filer"), label("corr.filed_by", c.filed_by)],
          [t("corr.evidence"), c.evidence],
          [t("corr.filed_at"), when(c.filed_at)],
          [t("corr.answer_by"), clock(c)],
          c.decided_at ? [t("corr.decided_at"), when(c.decided_at)] : null,
          c.reason ? [t("corr.reason"), c.reason] : null,
        ]),
      ),
    ),
  );
}
