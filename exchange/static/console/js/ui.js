// Small pieces every page uses: problem boxes, links, badges, headings, loading states.

import { field, h, replace } from "./dom.js";
import { label, language, t } from "./i18n.js";

/** The day (China time) of an instant, or a day as the hub writes one (YYYY-MM-DD, a day in
 * China), in the current language: written as `when` writes an instant's date. */
export function day(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(language() === "zh" ? "zh-CN" : "en-GB", { timeZone: "Asia/Shanghai", dateStyle: "medium" }).format(date);
}

/** A visible, announced message for an error from the API (a 403 explained plainly). */
export function problemBox(error) {
  let text;
  if (error && error.status === 403) text = t("error.forbidden");
  else if (error && error.status === 404) text = t("error.not_found");
  else if (said(error)) text = said(error);
  else if (error && error.problem && error.problem.detail) text = error.problem.detail;
  else text = t("error.generic");
  const box = h("div", { class: "problem", role: "alert" }, text);
  const details = error?.problem?.errors;
  if (Array.isArray(details) && details.length) {
    box.append(
      h(
        "ul",
        {},
        details.map((e) => h("li", {}, h("code", {}, e.pointer || "/"), " ", e.detail || "")),
      ),
    );
  }
  return box;
}

/** The console's own words for a problem's stable code (i18n "problem.<code>"), if it has
 * them: the hub's detail is in English. */
function said(error) {
  const code = error?.problem?.code;
  if (typeof code !== "string") return null;
  const words = label("problem", code);
  return words === code ? null : words;
}

/** Words for a refused check: a VerifyError's code (with the policy and line it is about),
 * else the error's own message. */
export function refusalWords(error) {
  if (!error || typeof error.code !== "string" || !error.vars) return String(error?.message ?? error);
  const { line, policy } = error.vars;
  const about = policy ? t(`witness.policy_${policy}`) : "";
  const where = line ? t("check.at_line", { line }) : "";
  return `${about}${where}${t(`check.${error.code}`, error.vars)}`;
}

/** A link inside the console, routed without a page load. */
export function link(path, text, attrs = {}) {
  return h("a", { href: `/console${path}`, "data-link": "", ...attrs }, text);
}

/** A coloured word for an outcome or status; the colour is never the only cue. */
export function badge(group, value) {
  return h("span", { class: `badge ${group}-${value}` }, label(group, value));
}

export function section(title, ...children) {
  return h("section", { "aria-label": title }, h("h2", {}, title), ...children);
}

/** A region whose updates are read out (search results, verification steps). */
export function liveRegion(attrs = {}, ...children) {
  return h("div", { "aria-live": "polite", ...attrs }, ...children);
}

export function loading() {
  return h("p", { class: "loading" }, t("app.loading"));
}

/** A key/value list. */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]),
  );
}

/** Run an action from a button: disable it meanwhile, show a problem next to it on failure. */
export async function act(button, where, work) {
  button.disabled = true;
  where.querySelectorAll(":scope > .problem").forEach((p) => p.remove());
  try {
    return await work();
  } catch (error) {
    where.append(problemBox(error));
    return undefined;
  } finally {
    button.disabled = false;
  }
}

/** Fill *where* with what *build* makes, or with the problem it met. */
export async function fill(where, build) {
  try {
    replace(where, await build());
  } catch (error) {
    replace(where, problemBox(error));
  }
}

/** A button that calls *onClick* with itself when pressed. */
export function button(text, style, onClick) {
  const b = h("button", { type: "button", class: style }, text);
  b.addEventListener("click", () => onClick(b));
  return b;
}

/** A modal dialog with the given controls ([key, label, control, hint]); *send* gets their values. */
export function dialog(title, rows, action, opener, send) {
  const ok = h("button", { type: "submit" }, action);
  const cancel = h("button", { type: "button", class: "secondary" }, t("app.cancel"));
  const form = h("form", { method: "dialog" }, h("h2", {}, title), ...rows.map(([, what, control, hint]) => field(what, control, hint).row), h("div", { class: "actions" }, ok, cancel));
  const box = h("dialog", { "aria-label": title }, form);
  cancel.addEventListener("click", () => box.close());
  box.addEventListener("close", () => {
    box.remove();
    opener.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries(rows.map(([key, , control]) => [key, control.type === "checkbox" ? control.checked : control.value.trim()]));
    act(ok, form, async () => {
      await send(values);
      box.close();
    });
  });
  document.body.append(box);
  box.showModal();
}

/** The current China month, YYYY-MM. */
export function chinaMonth() {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit" }).formatToParts(new Date());
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part("year")}-${part("month")}`;
}

function monthBefore(month) {
  const [y, m] = month.split("-").map(Number);
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, "0")}`;
}

/** The *count* China months up to this one, newest first (YYYY-MM). */
export function recentChinaMonths(count) {
  const months = [chinaMonth()];
  while (months.length < count) months.push(monthBefore(months[months.length - 1]));
  return months;
}

/** "2026年11月" / "Nov 2026". */
export function monthName(month) {
  const [y, m] = month.split("-").map(Number);
  return t("auth.month_name", { year: y, month: m });
}

/** The month a page's path names (its last parameter), else the current China month. */
export function monthFrom(ctx) {
  const asked = ctx.params[ctx.params.length - 1];
  return /^\d{4}-\d{2}$/.test(asked || "") ? asked : chinaMonth();
}

/** Hand *text* (fetched with the ID token) to the browser as a CSV file named *name*. */
export function saveCsv(text, name) {
  const file = new Blob([text], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(file);
  const anchor = h("a", { href: url, download: name });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
}
