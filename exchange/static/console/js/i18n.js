// Two languages, Chinese by default; the choice is remembered in localStorage and sets
// <html lang>. Strings live in ../i18n/{zh,en}.json; a missing key shows the key itself.

const KEY = "tongban.lang";
export const LANGS = ["zh", "en"];
let lang = "zh";
let strings = {};

export async function loadLanguage(wanted) {
  const chosen = LANGS.includes(wanted) ? wanted : stored();
  const response = await fetch(`/console/assets/i18n/${chosen}.json`);
  strings = await response.json();
  lang = chosen;
  localStorage.setItem(KEY, chosen);
  document.documentElement.lang = chosen === "zh" ? "zh-CN" : "en";
  document.title = t("app.title");
}

function stored() {
  const value = localStorage.getItem(KEY);
  return LANGS.includes(value) ? value : "zh";
}

export function language() {
  return lang;
}

/** The string for key, with {name} placeholders filled from vars. */
export function t(key, vars = {}) {
  const text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** A label for an enumerated value (outcome, sharing type…), or the value itself. */
export function label(group, value) {
  const key = `${group}.${value}`;
  return Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : String(value);
}

const ZONE = "Asia/Shanghai";

/** An instant shown in China time, in the current language. */
export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", {
    timeZone: ZONE,
    dateStyle: "medium",
    timeStyle: "medium",
  }).format(date);
}

/** A percentage, e.g. 12.5 %. */
export function percent(rate) {
  return `${Number((rate * 100).toFixed(1))} %`;
}
