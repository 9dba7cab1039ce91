// Sign-in. In dev mode the hub's development identity provider issues the ID token from a
// form (no password: it is a demo). In prod the console only accepts an ID token handed back
// by the organisation's identity provider in the URL fragment (#id_token=…).

import { api, signIn } from "./api.js";
import { field, h, replace, select } from "./dom.js";
import { t } from "./i18n.js";
import { act } from "./ui.js";

const ROLES = ["citizen", "auditor", "department_admin", "operator"];

export async function renderSignIn(ctx, done) {
  const { main, hub } = ctx;
  if (hub.mode !== "dev") {
    replace(
      main,
      h("h1", {}, t("signin.title")),
      h("p", { class: "notice" }, t("signin.prod")),
      h("p", {}, t("signin.prod_detail")),
    );
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
      const body = { sub: subject.value.trim(), role: role.value };
      if (role.value === "department_admin") body.department = department.value;
      const answer = await api("/dev/idp/token", { method: "POST", body, auth: false });
      signIn(answer.id_token);
      ctx.announce(t("signin.done"));
      done();
    });
  });
  replace(
    main,
    h("h1", { id: "signin-title" }, t("signin.title")),
    h("p", { class: "notice" }, t("signin.dev")),
    form,
  );
  sync();
  subject.focus();
}
