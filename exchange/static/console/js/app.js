// The console's shell: sign-in, the header with the role's navigation and the language switch,
// and history-API routing under /console. Pages are modules exporting render(ctx).

import { api, optional, session, sessionExpired, signOut } from "./api.js";
import { h, replace } from "./dom.js";
import { language, loadLanguage, t } from "./i18n.js";
import * as auditor from "./page-auditor.js";
import * as applications from "./page-applications.js";
import * as authority from "./page-authority.js";
import * as catalogue from "./page-catalogue.js";
import * as compliance from "./page-compliance.js";
import * as citizen from "./page-citizen.js";
import * as corrections from "./page-corrections.js";
import * as department from "./page-department.js";
import * as disputes from "./page-disputes.js";
import * as feedback from "./page-feedback.js";
import * as lifecycle from "./page-lifecycle.js";
import * as notice from "./page-notice.js";
import * as federation from "./page-federation.js";
import * as operator from "./page-operator.js";
import * as stewardship from "./page-stewardship.js";
import { departmentName } from "./names.js";
import { renderSignIn } from "./page-signin.js";
import { abandonSignIn, completeCodeSignIn, completeSignIn } from "./signin.js";
import { problemBox } from "./ui.js";

const BASE = "/console";
const HOMES = {
  auditor: "/audit",
  department_admin: "/department",
  citizen: "/citizen",
  operator: "/operator",
  data_authority: "/authority",
  department_head: "/department/lifecycle",
  sharing_officer: "/officer/applications",
};
const NAV = {
  auditor: [
    ["/audit", "nav.audit"],
    ["/audit/deferrals", "nav.deferrals"],
  ],
  department_admin: [
    ["/department", "nav.directory"],
    ["/department/applications", "nav.applications"],
    ["/department/corrections", "nav.corrections"],
    ["/department/deferrals", "nav.deferrals"],
    ["/department/disputes", "nav.disputes"],
    ["/department/health", "nav.health"],
    ["/department/feedback", "nav.quality"],
    ["/department/lifecycle", "nav.lifecycle"],
    ["/department/stewardship", "nav.stewardship"],
  ],
  department_head: [["/department/lifecycle", "nav.lifecycle"]],
  sharing_officer: [
    ["/officer/applications", "nav.sharing"],
    ["/department/stewardship", "nav.stewardship"],
  ],
  citizen: [
    ["/citizen", "nav.my_data"],
    ["/citizen/feedback", "nav.feedback"],
  ],
  operator: [
    ["/operator", "nav.operations"],
    ["/operator/peers", "nav.peers"],
  ],
  data_authority: [
    ["/authority", "nav.scorecards"],
    ["/authority/compliance", "nav.compliance"],
    ["/authority/review", "nav.review"],
    ["/authority/disputes", "nav.disputes"],
    ["/authority/extensions", "nav.extensions"],
    ["/authority/stewardship", "nav.stewardship"],
  ],
};
// [pattern, page, roles allowed to see it (null: every signed-in user)]
const ROUTES = [
  [/^\/audit$/, auditor.renderSearch, ["auditor"]],
  [/^\/audit\/entries\/(\d+)$/, auditor.renderEntry, ["auditor"]],
  [/^\/audit\/deferrals$/, notice.renderAudit, ["auditor"]],
  [/^\/department$/, department.renderDirectory, ["department_admin"]],
  [/^\/department\/resources\/([A-Za-z0-9_-]+)$/, department.renderResource, ["department_admin"]],
  [/^\/department\/applications$/, department.renderApplications, ["department_admin"]],
  [/^\/department\/applications\/([A-Za-z0-9_.:-]+)$/, department.renderApplication, ["department_admin"]],
  [/^\/department\/health$/, department.renderHealth, ["department_admin"]],
  [/^\/department\/corrections$/, corrections.renderQueue, ["department_admin"]],
  [/^\/department\/deferrals$/, notice.renderDepartment, ["department_admin"]],
  [/^\/department\/disputes$/, disputes.renderDepartment, ["department_admin"]],
  [/^\/authority\/disputes$/, disputes.renderAuthority, ["data_authority"]],
  [/^\/officer\/applications$/, applications.renderOfficer, ["sharing_officer"]],
  [/^\/authority\/extensions$/, applications.renderExtensions, ["data_authority"]],
  [/^\/department\/stewardship$/, stewardship.renderDepartment, ["department_admin", "sharing_officer"]],
  [/^\/authority\/stewardship$/, stewardship.renderAuthority, ["data_authority"]],
  [/^\/authority\/stewardship\/([A-Za-z0-9][A-Za-z0-9._:-]{0,47})$/, stewardship.renderAuthority, ["data_authority"]],
  [/^\/citizen$/, citizen.renderMyData, ["citizen"]],
  [/^\/citizen\/requests\/([A-Za-z0-9_-]+)$/, citizen.renderRequest, ["citizen"]],
  [/^\/operator$/, operator.renderOperations, ["operator"]],
  [/^\/operator\/peers$/, federation.renderPeers, ["operator"]],
  [/^\/citizen\/feedback$/, feedback.renderCitizen, ["citizen"]],
  [/^\/department\/feedback$/, feedback.renderDepartment, ["department_admin"]],
  [/^\/department\/lifecycle$/, lifecycle.renderDepartment, ["department_admin", "department_head"]],
  [/^\/authority\/review$/, lifecycle.renderAuthority, ["data_authority"]],
  [/^\/authority\/compliance$/, compliance.renderHome, ["data_authority"]],
  [/^\/authority\/compliance\/report\/(\d{4}-\d{2})$/, compliance.renderReport, ["data_authority"]],
  [/^\/authority(?:\/(\d{4}-\d{2}))?$/, authority.renderHome, ["data_authority"]],
  [/^\/authority\/report\/(\d{4}-\d{2})$/, authority.renderReport, ["data_authority"]],
  [/^\/authority\/feedback\/([A-Z][A-Z0-9]{1,15})\/(\d{4}-\d{2})$/, authority.renderFeedback, ["data_authority"]],
  [/^\/catalogue$/, catalogue.renderSearch, null],
  [/^\/catalogue\/([A-Za-z0-9_-]+)$/, catalogue.renderResource, null],
];

let hubInfo = { mode: "dev", name: "" };
let signInNotice = null; // an i18n key: why a sign-in handed to the console was refused
const root = document.getElementById("app");
const live = document.getElementById("live");

/** Say something to screen readers (and show it in the status line). */
export function announce(message) {
  live.textContent = "";
  window.setTimeout(() => {
    live.textContent = message;
  }, 30);
}

export function navigate(path, { replace: swap = false } = {}) {
  const url = BASE + (path === "/" ? "" : path);
  if (swap) window.history.replaceState({}, "", url);
  else window.history.pushState({}, "", url);
  render();
}

function currentPath() {
  const path = window.location.pathname;
  const inner = path.startsWith(BASE) ? path.slice(BASE.length) : "/";
  return inner.replace(/\/+$/, "") || "/";
}

async function takeAnswerFromFragment() {
  // The OpenID provider answers in the URL fragment, which never reaches a server log: an
  // authorization code (#code=…&state=…, the code flow, redeemed through the hub), or with the
  // older implicit flow an ID token (#id_token=…&state=…), or an error. It is taken only if it
  // completes a sign-in this tab started (signin.js: the state, and the nonce in the token); an
  // answer on a link made by anyone else is refused and the console stays signed out. Either
  // way the fragment leaves the address bar at once.
  const params = new URLSearchParams(window.location.hash.slice(1));
  const code = params.get("code");
  const token = params.get("id_token");
  const failed = params.get("error");
  if (!code && !token && !failed) return;
  window.history.replaceState({}, "", window.location.pathname + window.location.search);
  if (code) {
    signInNotice = await completeCodeSignIn(params);
  } else if (!token) {
    abandonSignIn();
    signInNotice = "signin.idp_error";
  } else if (!completeSignIn(token, params.get("state"))) {
    signInNotice = "signin.unsolicited";
  }
  if (signInNotice) announce(t(signInNotice));
}

let expiry = null; // the timer that ends the session when its ID token expires

/** Re-login, not refresh: when the ID token expires the console signs out and says so on the
 * sign-in page (no request is made with a dead token, so no 401 loop). */
function watchExpiry(current) {
  window.clearTimeout(expiry);
  if (!current || !current.expires) return;
  const left = Math.min(current.expires.getTime() - Date.now() + 500, 2 ** 31 - 1);
  expiry = window.setTimeout(() => {
    signInNotice = "signin.expired";
    announce(t("signin.expired"));
    render();
  }, Math.max(left, 0));
}

function header(current) {
  const links = current ? [...(NAV[current.role] || []), ["/catalogue", "nav.catalogue"]] : [];
  const path = currentPath();
  // The current page's link is the longest one the path starts with.
  const active = links
    .map(([href]) => href)
    .filter((href) => path === href || path.startsWith(`${href}/`))
    .sort((a, b) => b.length - a.length)[0];
  return h(
    "header",
    { class: "top" },
    h("a", { class: "skip", href: "#main" }, t("app.skip")),
    h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "通"), t("app.title")),
    links.length
      ? h(
          "nav",
          { "aria-label": t("nav.label") },
          h(
            "ul",
            {},
            links.map(([href, key]) =>
              h(
                "li",
                {},
                h(
                  "a",
                  { href: BASE + href, "data-link": "", "aria-current": href === active ? "page" : null },
                  t(key),
                ),
              ),
            ),
          ),
        )
      : null,
    h(
      "div",
      { class: "who" },
      current
        ? identity(current)
        : null,
      h(
        "button",
        {
          type: "button",
          class: "lang",
          lang: language() === "zh" ? "en" : "zh-CN",
          onclick: async () => {
            await loadLanguage(language() === "zh" ? "en" : "zh");
            await render();
            document.querySelector("button.lang")?.focus();
          },
        },
        t("app.switch_language"),
      ),
      current
        ? h(
            "button",
            {
              type: "button",
              class: "secondary",
              onclick: () => {
                signOut();
                navigate("/", { replace: true });
              },
            },
            t("app.sign_out"),
          )
        : null,
    ),
  );
}

async function render() {
  const current = session();
  if (!current && sessionExpired()) signInNotice = "signin.expired";
  watchExpiry(current);
  const path = currentPath();
  const main = h("main", { id: "main", tabindex: "-1" });
  replace(root, header(current), main, h("footer", {}, t("app.footer", { hub: hubInfo.name || "Tongban" })));
  const ctx = { main, session: current, navigate, announce, params: [], hub: hubInfo };
  if (!current) {
    ctx.notice = signInNotice;
    await renderSignIn(ctx, () => {
      signInNotice = null;
      render();
    });
    return;
  }
  signInNotice = null;
  if (path === "/" || path === "/signin") {
    navigate(HOMES[current.role] || "/catalogue", { replace: true });
    return;
  }
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  if (!route) {
    replace(main, h("h1", {}, t("error.not_found_title")), h("p", {}, t("error.not_found")));
    return;
  }
  const [pattern, page, roles] = route;
  if (roles && !roles.includes(current.role)) {
    replace(main, h("h1", {}, t("error.forbidden_title")), h("p", { class: "problem" }, t("error.role_cannot")));
    return;
  }
  ctx.params = pattern.exec(path).slice(1).map(decodeURIComponent);
  try {
    await page(ctx);
  } catch (error) {
    main.append(problemBox(error));
  }
  main.focus({ preventScroll: true });
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(new URL(link.href).pathname.slice(BASE.length) || "/");
});
window.addEventListener("popstate", () => render());
window.addEventListener("tongban:signed-out", () => {
  // The hub refused the token: it expired, or it no longer verifies (say, the provider's key
  // was withdrawn). Either way: signed out, told why, asked to sign in again.
  // A request still in flight when the session expired may be refused after the expiry was
  // announced: the session ended because it expired, whatever that late answer says.
  const expiredNow = sessionExpired() || signInNotice === "signin.expired";
  signInNotice = expiredNow ? "signin.expired" : "signin.rejected";
  announce(t(signInNotice));
  render();
});

async function boot() {
  await loadLanguage();
  await takeAnswerFromFragment();
  try {
    const info = await api("/", { auth: false });
    hubInfo = { mode: info.mode, name: info.name, idp: info.idp || null };
  } catch {
    hubInfo = { mode: "prod", name: "" };
  }
  await render();
}

boot();

/** Who is signed in: the role, and a department admin's department by its name (the code
 * until the catalogue answers, and in the tooltip). */
function identity(current) {
  if (!current.department) return h("span", { class: "identity" }, t(`role.${current.role}`));
  const where = h("span", { title: current.department }, current.department);
  optional(`/catalogue/departments/${encodeURIComponent(current.department)}`).then((found) => {
    if (found) where.textContent = departmentName(found);
  }, () => {}); // unreachable catalogue: the code stays
  return h("span", { class: "identity" }, t(`role.${current.role}`), " · ", where);
}
