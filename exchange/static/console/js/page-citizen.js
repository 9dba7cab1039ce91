// Citizen ("my data", 我的数据): consent requests waiting for an answer (each with the preview
// of exactly what would be shared), my consents with their signed receipts and revocation, and
// every access to my data from the audit log with the browser's check that the list is complete
// (完整性核验). The ID number is in the token, never in a URL.

import { api } from "./api.js";
import { h, replace, table } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { act, badge, facts, fill, link, liveRegion, loading, section } from "./ui.js";
import { accessList } from "./completeness.js";

export async function renderMyData(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("citizen.title")), loading());
  const requests = h("div", {}, loading());
  const consents = liveRegion();
  const accesses = h("div", {}, loading());
  replace(
    main,
    h("h1", {}, t("citizen.title")),
    section(t("citizen.requests"), requests),
    section(t("citizen.consents"), consents),
    section(t("citizen.accesses"), accesses),
  );
  await Promise.all([
    fill(requests, () => requestList()),
    fill(consents, () => consentList(ctx, consents)),
    fill(accesses, () => accessList(ctx, accesses)),
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
        h("h3", {}, link(`/citizen/requests/${r.id}`, t("citizen.request_from", { system: r.system.name, department: r.consumer_department.name }))),
        h("p", {}, r.purpose.text),
        h("p", { class: "meta" }, t("citizen.answer_by", { date: when(r.answer_by) })),
      ),
    ),
  );
}

async function consentList(ctx, where) {
  const { consents } = await api("/citizen/consents");
  if (!consents.length) return h("p", {}, t("citizen.no_consents"));
  return table(
    t("citizen.consents"),
    [t("citizen.system"), t("citizen.purpose"), t("citizen.fields"), t("citizen.status"), t("citizen.valid_until"), t("citizen.uses"), t("citizen.action")],
    consents.map((c) => [
      `${c.system.name || c.system.id} · ${c.consumer_department.name || c.consumer_department.code}`,
      c.purpose.text || c.purpose.code,
      fieldNames(c.fields),
      badge("consent", c.status),
      when(c.expires_at),
      c.max_uses ? `${c.use_count} / ${c.max_uses}` : String(c.use_count),
      c.status === "given" || c.status === "used" ? revokeButton(c, ctx, where) : "—",
    ]),
  );
}

function fieldNames(fields) {
  return (fields || []).map((f) => (typeof f === "string" ? f : f.label || f.attribute)).join("、");
}

function revokeButton(consent, ctx, where) {
  const button = h("button", { type: "button", class: "danger", "aria-label": t("citizen.revoke_label", { system: consent.system.name || consent.system.id }) }, t("citizen.revoke"));
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
  const dialog = h("dialog", { "aria-label": question }, form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener.isConnected) opener.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    dialog.close();
    onYes();
  });
  document.body.append(dialog);
  dialog.showModal();
  cancel.focus();
}

// -- one consent request: the preview, approve or refuse ---------------------------------------

export async function renderRequest(ctx) {
  const { main, params } = ctx;
  replace(main, loading());
  const request = await api(`/citizen/consent-requests/${encodeURIComponent(params[0])}`);
  const out = liveRegion();
  replace(
    main,
    h("p", {}, link("/citizen", t("citizen.back"))),
    h("h1", {}, t("citizen.request_title")),
    facts([
      [t("citizen.system"), `${request.system.name} (${request.system.id})`],
      [t("citizen.department"), request.consumer_department.name],
      [t("citizen.purpose"), request.purpose.text],
      [t("citizen.legal_basis"), request.legal_basis || "—"],
      [t("citizen.mode"), label("mode", request.mode)],
      [t("citizen.validity"), t("citizen.valid_days", { days: request.valid_days })],
      request.max_uses ? [t("citizen.max_uses"), String(request.max_uses)] : null,
      [t("citizen.retention"), t("citizen.retention_days", { days: request.retention_days })],
      [t("citizen.status"), badge("request", request.status)],
      [t("citizen.answer_by_label"), when(request.answer_by)],
    ]),
    request.status === "pending" ? answerForm(request, ctx, out) : previewTable(request),
    out,
  );
}

function previewTable(request) {
  return table(
    t("citizen.preview"),
    [t("citizen.field"), t("citizen.provider"), t("citizen.release"), t("citizen.necessary")],
    request.fields.map((f) => [f.label, f.provider.name, label("release", f.release), f.necessary ? t("citizen.necessary_yes") : t("citizen.optional")]),
  );
}

function answerForm(request, ctx, out) {
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
              ` — ${f.provider.name} · ${label("release", f.release)} · `,
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
      replace(form, h("p", { class: "ok", role: "status" }, t("citizen.approved")), facts([[t("citizen.consent_id"), h("code", {}, answer.consent.id)], [t("citizen.valid_until"), when(answer.consent.expires_at)]]));
    });
  });
  refuse.addEventListener("click", () =>
    confirmDialog(t("citizen.refuse_confirm"), t("citizen.refuse"), refuse, () =>
      act(refuse, form, async () => {
        await api(`/citizen/consent-requests/${encodeURIComponent(request.id)}/refuse`, { method: "POST", body: {} });
        ctx.announce(t("citizen.refused"));
        replace(form, h("p", { class: "ok", role: "status" }, t("citizen.refused")));
      }),
    ),
  );
  replace(out);
  return form;
}
