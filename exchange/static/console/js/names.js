// Names as a person reads them, in the console's language: a registry name written
// "中文名称 (English name)" shows its Chinese part on Chinese pages and its English part on
// English ones; a name the hub does not have falls back to the code it names.

import { language } from "./i18n.js";

const BILINGUAL = /^(.*\S)\s*[(（]\s*([\x20-\x7e]+?)\s*[)）]$/;

/** The name in the current language, or *fallback* (a code) when there is none. */
export function localName(name, fallback = "—", nameEn = null) {
  if (language() === "en" && nameEn) return nameEn;
  if (!name) return fallback;
  const parts = BILINGUAL.exec(name);
  if (!parts || !/[\u3400-\u9fff]/.test(parts[1])) return name;
  return language() === "en" ? parts[2] : parts[1];
}

/** A department view ({code, name, name_en}) as a name. */
export function departmentName(department) {
  if (!department) return "—";
  return localName(department.name, department.code, department.name_en);
}
