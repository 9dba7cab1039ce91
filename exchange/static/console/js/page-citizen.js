// Citizen ("my data", 我的数据): consent requests waiting for an answer (each with the preview
// of exactly what would be shared), my consents with their signed receipts and revocation, and
// every access to my data from the audit log with the browser's check that the list is complete
// (完整性核验). The ID number is in the token, never in a URL.

import { api } from "./api.js";
import { h, replace, table } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { act, badge, facts, fill, link, liveRegion, loading, section } from "./ui.js";
import { accessList } from "./completeness.js";
import { departmentName, localName } from "./names.js";
import { objectionList, releasedList } from "./page-corrections.js";

export async function renderMyData(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("citizen.title")), loading());
  const requests = h("div", {}, loading());
  const consents = liveRegion();
  const accesses = h("div", {}, loading());
  const released = h("div", {}, loading());
  const objections = liveRegion({}, loading());
  replace(
    main,
    h("h1", {}, t("citizen.title")),
    section(t("citizen.requests"), requests),
    section(t("citizen.consents"), consents),
    section(t("citizen.accesses"), accesses),
    section(t("corr.released"), h("p", { class: "hint" }, t("corr.released_hint")), released),
    section(t("corr.mine"), objections),
  );
  await Promise.all([
    fill(requests, () => requestList()),
    fill(consents, () => consentList(ctx, consents)),
    fill(accesses, () => accessList(ctx, accesses)),
    fill(released, () => releasedList(ctx, objections)),
    fill(objections, () => objectionList()),
  ]);
}

async function requestList() {
  const { requests } = await api("/citizen/consent-requests", { query: { status: "pending" } });
  if (!requests.length) return h("p", {}, t("citizen.no_requests"));
  return h(
    "ul",
    { class: "cards" },
    requests.map((r) =>
      h(
        "li",
        { class: "card" },
        h("h3", {}, link(`/citizen/requests/${r.id}`, t("citizen.request_from", { system: localName(r.system.name, r.system.id), department: departmentName(r.consumer_department) }))),
        h("p", {}, r.purpose.text),
        h("p", { class: "meta" }, t("citizen.answer_by", { date: when(r.answer_by) })),
      ),
    ),
  );
}

async function consentList(ctx, where) {
  const { consents } = await api("/citizen/consents");
  if (!consents.length) return h("p", {}, t("citizen.no_consents"));
  const headings = [t("citizen.system"), t("citizen.purpose"), t("citizen.fields"), t("citizen.status"), t("citizen.valid_until"), t("citizen.uses"), t("citizen.action")];
  const shown = table(
    t("citizen.consents"),
    headings,
    consents.map((c) => [
      `${departmentName(c.consumer_department)} · ${localName(c.system.name, c.system.id)}`,
      c.purpose.text || c.purpose.code,
      fieldNames(c.fields),
      badge("consent", c.status),
      when(c.expires_at),
      c.max_uses ? `${c.use_count} / ${c.max_uses}` : String(c.use_count),
      consentActions(c, ctx, where),
    ]),
  );
  labelCells(shown, headings);
  return shown;
}

/** On a phone a table of the citizen's pages becomes cards of labelled lines (style.css). */
function labelCells(shown, headings) {
  shown.classList.add("phone-cards");
  [...shown.tBodies[0].rows].forEach((row) => [...row.cells].forEach((cell, column) => cell.setAttribute("data-label", headings[column])));
}

function consentActions(consent, ctx, where) {
  const buttons = [];
  if (consent.status === "given" && narrowable(consent)) buttons.push(narrowButton(consent, ctx, where));
  if (consent.status === "given" || consent.status === "used") buttons.push(revokeButton(consent, ctx, where));
  return buttons.length ? h("div", { class: "row-actions" }, buttons) : "—";
}

/** A consent can be narrowed when it holds an optional field, or has days left to cut. */
function narrowable(consent) {
  return consent.fields.some((f) => !f.necessary) || new Date(consent.expires_at) - Date.now() > 2 * DAY;
}

const DAY = 24 * 60 * 60 * 1000;

/** The date (China time, YYYY-MM-DD) of an instant, for a date input. */
function chinaDate(iso) {
  return new Date(new Date(iso).getTime() + 8 * 60 * 60 * 1000).toISOString().slice(0, 10);
}

function narrowButton(consent, ctx, where) {
  const system = localName(consent.system.name, consent.system.id);
  const button = h("button", { type: "button", class: "secondary", "aria-label": t("mydata.narrow_label", { system }) }, t("mydata.narrow"));
  button.addEventListener("click", () => narrowDialog(consent, button, ctx, where));
  return button;
}

/** The citizen keeps fewer optional fields or brings the expiry forward; a new version of the
 * consent replaces this one (PATCH /citizen/consents/{id}). */
function narrowDialog(consent, opener, ctx, where) {
  const rows = consent.fields.map((f) => {
    const box = h("input", { type: "checkbox", value: f.attribute, checked: true, disabled: f.necessary, id: `narrow-${f.attribute.replace(/[^a-z0-9_]/gi, "-")}` });
    const why = f.necessary ? t("citizen.necessary_yes") : t("citizen.optional");
    return { f, box, li: h("li", {}, box, h("label", { for: box.id }, h("strong", {}, f.label || f.attribute), ` — ${departmentName(f.provider)} · ${why}`)) };
  });
  const latest = chinaDate(consent.expires_at);
  const until = h("input", { type: "date", id: "narrow-until", min: chinaDate(new Date(Date.now() + DAY).toISOString()), max: latest, value: latest });
  const ok = h("button", { type: "submit" }, t("mydata.narrow_confirm"));
  const cancel = h("button", { type: "button", class: "secondary" }, t("app.cancel"));
  const problem = h("div", {});
  const title = t("mydata.narrow_title", { system: localName(consent.system.name, consent.system.id) });
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", {}, title),
    h("p", { class: "hint" }, t("mydata.narrow_hint")),
    h("fieldset", {}, h("legend", {}, t("citizen.fields")), h("ul", { class: "checks" }, rows.map((r) => r.li))),
    h("div", { class: "field" }, h("label", { for: until.id }, t("mydata.narrow_until")), until, h("small", { class: "hint" }, t("mydata.narrow_now", { date: when(consent.expires_at) }))),
    problem,
    h("div", { class: "actions" }, ok, cancel),
  );
  const dialog = modal(form, title, cancel, opener);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = rows.filter(({ box }) => box.checked).map(({ f }) => f.attribute);
    const body = {};
    if (fields.length < rows.length) body.fields = fields;
    if (until.value && until.value < latest) body.expires_at = `${until.value}T23:59:59+08:00`;
    if (!Object.keys(body).length) {
      replace(problem, h("p", { class: "problem", role: "alert" }, t("mydata.narrow_nothing")));
      return;
    }
    act(ok, problem, async () => {
      await api(`/citizen/consents/${encodeURIComponent(consent.id)}`, { method: "PATCH", body });
      dialog.close();
      ctx.announce(t("mydata.narrowed"));
      await fill(where, () => consentList(ctx, where));
      where.prepend(h("p", { class: "ok", role: "status" }, t("mydata.narrowed")));
    });
  });
  dialog.showModal();
  cancel.focus();
}

function fieldNames(fields) {
  return (fields || []).map((f) => (typeof f === "string" ? f : f.label || f.attribute)).join("、");
}

function revokeButton(consent, ctx, where) {
  const button = h("button", { type: "button", class: "danger", "aria-label": t("citizen.revoke_label", { system: localName(consent.system.name, consent.system.id) }) }, t("citizen.revoke"));
  button.addEventListener("click", () => {
    confirmDialog(t("citizen.revoke_confirm"), t("citizen.revoke"), button, () =>
      act(button, where, async () => {
        await api(`/citizen/consents/${encodeURIComponent(consent.id)}`, { method: "DELETE" });
        ctx.announce(t("citizen.revoked"));
        await fill(where, () => consentList(ctx, where));
        where.prepend(h("p", { class: "ok" }, t("citizen.revoked")));
      }),
    );
  });
  return button;
}

/** A modal question (Escape or Cancel closes it; focus returns to the opener). */
function confirmDialog(question, yes, opener, onYes) {
  const ok = h("button", { type: "submit", class: "danger" }, yes);
  const cancel = h("button", { type: "button", class: "secondary" }, t("app.cancel"));
  const form = h("form", { method: "dialog" }, h("p", {}, question), h("div", { class: "actions" }, ok, cancel));
  const dialog = modal(form, question, cancel, opener);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    dialog.close();
    onYes();
  });
  dialog.showModal();
  cancel.focus();
}

/** A dialog named *label* holding *form*, in the page and not yet shown: Cancel or Escape
 * closes it, and closing removes it and gives the focus back to *opener*. */
function modal(form, label, cancel, opener) {
  const dialog = h("dialog", { "aria-label": label }, form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener.isConnected) opener.focus();
  });
  document.body.append(dialog);
  return dialog;
}

// -- one consent request: the preview, approve or refuse ---------------------------------------

export async function renderRequest(ctx) {
  const { main, params } = ctx;
  replace(main, loading());
  const request = await api(`/citizen/consent-requests/${encodeURIComponent(params[0])}`);
  const out = liveRegion();
  const status = h("span", {}, badge("request", request.status));
  replace(
    main,
    h("p", {}, link("/citizen", t("citizen.back"))),
    h("h1", {}, t("citizen.request_title")),
    facts([
      [t("citizen.system"), localName(request.system.name, request.system.id)],
      [t("citizen.department"), departmentName(request.consumer_department)],
      [t("citizen.purpose"), request.purpose.text],
      [t("citizen.legal_basis"), localName(request.legal_basis)],
      [t("citizen.mode"), label("mode", request.mode)],
      [t("citizen.validity"), t("citizen.valid_days", { days: request.valid_days })],
      request.max_uses ? [t("citizen.max_uses"), String(request.max_uses)] : null,
      [t("citizen.retention"), t("citizen.retention_days", { days: request.retention_days })],
      [t("citizen.status"), status],
      [t("citizen.answer_by_label"), when(request.answer_by)],
    ]),
    request.status === "pending" ? answerForm(request, ctx, out, status) : previewTable(request),
    out,
  );
}

function previewTable(request) {
  const headings = [t("citizen.field"), t("citizen.provider"), t("citizen.release"), t("citizen.necessary")];
  const shown = table(
    t("citizen.preview"),
    headings,
    request.fields.map((f) => [f.label, departmentName(f.provider), label("release", f.release), f.necessary ? t("citizen.necessary_yes") : t("citizen.optional")]),
  );
  labelCells(shown, headings);
  return shown;
}

function answerForm(request, ctx, out, status) {
  const rows = request.fields.map((f) => {
    const box = h("input", { type: "checkbox", value: f.attribute, checked: true, disabled: f.necessary, id: `keep-${f.attribute.replace(/[^a-z0-9_]/gi, "-")}` });
    return { f, box };
  });
  const approve = h("button", { type: "submit" }, t("citizen.approve"));
  const refuse = h("button", { type: "button", class: "danger" }, t("citizen.refuse"));
  const form = h(
    "form",
    { class: "card" },
    h(
      "fieldset",
      {},
      h("legend", {}, t("citizen.preview")),
      h("p", { class: "hint" }, t("citizen.preview_hint")),
      h(
        "ul",
        { class: "checks preview" },
        rows.map(({ f, box }) =>
          h(
            "li",
            {},
            box,
            h(
              "label",
              { for: box.id },
              h("strong", {}, f.label),
              ` — ${departmentName(f.provider)} · ${label("release", f.release)} · `,
              f.necessary ? t("citizen.necessary_yes") : t("citizen.optional"),
            ),
          ),
        ),
      ),
    ),
    h("div", { class: "actions" }, approve, refuse),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(approve, form, async () => {
      const fields = rows.filter(({ box }) => box.checked).map(({ f }) => f.attribute);
      const answer = await api(`/citizen/consent-requests/${encodeURIComponent(request.id)}/approve`, { method: "POST", body: { fields } });
      ctx.announce(t("citizen.approved"));
      replace(status, badge("request", "approved"));
      replace(form, h("p", { class: "ok", role: "status" }, t("citizen.approved")), facts([[t("citizen.consent_id"), h("code", {}, answer.consent.id)], [t("citizen.valid_until"), when(answer.consent.expires_at)]]));
    });
  });
  refuse.addEventListener("click", () =>
    confirmDialog(t("citizen.refuse_confirm"), t("citizen.refuse"), refuse, () =>
      act(refuse, form, async () => {
        await api(`/citizen/consent-requests/${encodeURIComponent(request.id)}/refuse`, { method: "POST", body: {} });
        ctx.announce(t("citizen.refused"));
        replace(status, badge("request", "refused"));
        replace(form, h("p", { class: "ok", role: "status" }, t("citizen.refused")));
      }),
    ),
  );
  replace(out);
  return form;
}
