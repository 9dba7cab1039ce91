// Sign-in. In dev mode the hub's development identity provider issues the ID token from a
// form (no password: it is a demo); a citizen's resident ID is checked (shape and GB 11643 check
// character) before anything is sent. In prod the console starts the sign-in at the
// organisation's OpenID provider: the authorization code flow with PKCE when the hub names the
// provider (GET /sign-in/provider; signin.js finishes it), else, only where an operator still
// configures an authorisation endpoint alone, the older implicit flow (#id_token=…&state=…).
// Either way the sign-in is one this browser started: a fresh state and nonce (signin.js), and
// a token that carries that nonce.

import { ApiError, api } from "./api.js";
import { field, h, replace, select } from "./dom.js";
import { t } from "./i18n.js";
import { beginSignIn, codeSignInUrl, completeSignIn, residentIdProblem } from "./signin.js";
import { act } from "./ui.js";

const ROLES = ["citizen", "auditor", "department_admin", "department_head", "sharing_officer", "data_authority", "operator"];

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

function startButton(go) {
  const button = h("button", { type: "button" }, t("signin.prod_start"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const url = await go();
      if (url) window.location.assign(url);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

async function renderProdSignIn(ctx) {
  const { main, hub } = ctx;
  let provider = null;
  let unavailable = false;
  try {
    provider = await api("/sign-in/provider", { auth: false });
  } catch (error) {
    unavailable = error instanceof ApiError && error.status === 503;
  }
  let start;
  if (provider) start = startButton(() => codeSignInUrl(provider));
  else if (hub.idp) start = startButton(async () => idpSignInUrl(hub.idp));
  else if (unavailable) start = h("p", { class: "problem", role: "alert" }, t("signin.provider_unavailable"));
  else start = h("p", {}, t("signin.prod_unconfigured"));
  replace(
    main,
    h("h1", {}, t("signin.title")),
    refusal(ctx),
    h("p", { class: "notice" }, t("signin.prod")),
    h("p", {}, t(provider ? "signin.prod_detail_code" : "signin.prod_detail")),
    start,
  );
}

/** The dev IdP's refusal of a citizen's ID number (422, pointer /sub), in words. */
function idRefusal(error) {
  const errors = error?.problem?.errors;
  const aboutSub = Array.isArray(errors) && errors.some((e) => e.pointer === "/sub");
  return error instanceof ApiError && error.status === 422 && aboutSub
    ? new ApiError(422, { detail: t("signin.id_invalid") })
    : error;
}

export async function renderSignIn(ctx, done) {
  const { main, hub } = ctx;
  if (hub.mode !== "dev") {
    await renderProdSignIn(ctx);
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
    const isAdmin = ["department_admin", "department_head", "sharing_officer"].includes(role.value);
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
    subject.removeAttribute("aria-invalid");
    await act(submit, form, async () => {
      const sub = subject.value.trim();
      const problem = role.value === "citizen" ? residentIdProblem(sub) : null;
      if (problem) {
        subject.setAttribute("aria-invalid", "true");
        subject.focus();
        throw new ApiError(0, { detail: t(problem) });
      }
      const { state, nonce } = beginSignIn();
      const body = { sub, role: role.value, nonce };
      if (["department_admin", "department_head", "sharing_officer"].includes(role.value)) body.department = department.value;
      let answer;
      try {
        answer = await api("/dev/idp/token", { method: "POST", body, auth: false });
      } catch (error) {
        throw idRefusal(error);
      }
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
