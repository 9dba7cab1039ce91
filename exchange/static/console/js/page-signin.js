// Sign-in. In dev mode the hub's development identity provider issues the ID token from a
// form (no password: it is a demo). In prod the console starts the sign-in at the
// organisation's identity provider (when the hub names one) and accepts the ID token it hands
// back in the URL fragment (#id_token=…&state=…). Either way the sign-in is one this browser
// started: a fresh state and nonce (signin.js), and a token that carries that nonce.

import { ApiError, api } from "./api.js";
import { field, h, replace, select } from "./dom.js";
import { t } from "./i18n.js";
import { beginSignIn, completeSignIn } from "./signin.js";
import { act } from "./ui.js";

const ROLES = ["citizen", "auditor", "department_admin", "operator"];

function refusal(ctx) {
  return ctx.notice ? h("p", { class: "problem", role: "alert" }, t(ctx.notice)) : null;
}

/** Where the organisation's IdP starts an OpenID Connect sign-in for this console, if the hub
 * names one: implicit flow, ID token in the fragment, bound to a fresh state and nonce. */
function idpSignInUrl(idp) {
  if (!idp || !idp.authorization_endpoint || !idp.client_id) return null;
  const { state, nonce } = beginSignIn();
  const url = new URL(idp.authorization_endpoint);
  url.searchParams.set("response_type", "id_token");
  url.searchParams.set("response_mode", "fragment");
  url.searchParams.set("scope", "openid");
  url.searchParams.set("client_id", idp.client_id);
  url.searchParams.set("redirect_uri", `${window.location.origin}/console`);
  url.searchParams.set("state", state);
  url.searchParams.set("nonce", nonce);
  return url.toString();
}

function renderProdSignIn(ctx) {
  const { main, hub } = ctx;
  const start = hub.idp
    ? h(
        "button",
        {
          type: "button",
          onclick: () => {
            const url = idpSignInUrl(hub.idp);
            if (url) window.location.assign(url);
          },
        },
        t("signin.prod_start"),
      )
    : h("p", {}, t("signin.prod_unconfigured"));
  replace(
    main,
    h("h1", {}, t("signin.title")),
    refusal(ctx),
    h("p", { class: "notice" }, t("signin.prod")),
    h("p", {}, t("signin.prod_detail")),
    start,
  );
}

export async function renderSignIn(ctx, done) {
  const { main, hub } = ctx;
  if (hub.mode !== "dev") {
    renderProdSignIn(ctx);
    return;
  }
  let departments = [];
  try {
    departments = (await api("/catalogue/departments", { auth: false })).departments;
  } catch {
    departments = [];
  }
  const role = select(ROLES.map((r) => [r, t(`role.${r}`)]), "citizen");
  const subject = h("input", { type: "text", name: "sub", autocomplete: "username", required: true, maxlength: 64, pattern: "[A-Za-z0-9_\\-]+", spellcheck: "false" });
  const department = select(departments.map((d) => [d.code, `${d.code} · ${d.name}`]), departments[0]?.code);
  const subjectField = field(t("signin.subject"), subject, t("signin.subject_hint_citizen"));
  const departmentField = field(t("signin.department"), department);
  const sync = () => {
    const isAdmin = role.value === "department_admin";
    departmentField.row.hidden = !isAdmin;
    department.disabled = !isAdmin;
    subjectField.row.querySelector(".hint").textContent =
      role.value === "citizen" ? t("signin.subject_hint_citizen") : t("signin.subject_hint_staff");
  };
  role.addEventListener("change", sync);
  const submit = h("button", { type: "submit" }, t("signin.submit"));
  const form = h(
    "form",
    { class: "card signin", "aria-labelledby": "signin-title" },
    field(t("signin.role"), role).row,
    subjectField.row,
    departmentField.row,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await act(submit, form, async () => {
      const { state, nonce } = beginSignIn();
      const body = { sub: subject.value.trim(), role: role.value, nonce };
      if (role.value === "department_admin") body.department = department.value;
      const answer = await api("/dev/idp/token", { method: "POST", body, auth: false });
      if (!completeSignIn(answer.id_token, state)) {
        throw new ApiError(401, { detail: t("signin.unsolicited") });
      }
      ctx.announce(t("signin.done"));
      done();
    });
  });
  replace(
    main,
    h("h1", { id: "signin-title" }, t("signin.title")),
    refusal(ctx),
    h("p", { class: "notice" }, t("signin.dev")),
    form,
  );
  sync();
  subject.focus();
}
