// The catalogue browser (资源目录), for every signed-in user: text search with facets
// (provider department, sharing type, sensitivity), each with its count, and a resource page.
// A resource's sharing badge says what is true of all its fields (the hub's sharing_summary:
// 无条件共享 only when every field is); the provider and sharing facets count resources, each
// resource once, and the sensitivity facet counts the resources that hold a field of that level.

import { api } from "./api.js";
import { field, h, replace, table } from "./dom.js";
import { label, language, t, when } from "./i18n.js";
import { badge, facts, link, liveRegion, loading, problemBox, section } from "./ui.js";

const SHARING = ["unconditional", "partly_unconditional", "conditional", "not_shared"];
const SENSITIVITY = ["public", "internal", "personal", "sensitive_personal"];
const state = { q: "", provider: "", sharing: "", sensitivity: "" };

export async function renderSearch(ctx) {
  const { main } = ctx;
  const results = liveRegion({ class: "results" });
  const facets = h("div", { class: "facets" });
  const q = h("input", { type: "search", value: state.q, autocomplete: "off" });
  const submit = h("button", { type: "submit" }, t("catalogue.search_button"));
  const form = h("form", { class: "card inline", role: "search" }, field(t("catalogue.query"), q).row, submit);
  const run = async () => {
    replace(results, loading());
    try {
      await search(results, facets, ctx, run);
    } catch (error) {
      replace(results, problemBox(error));
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = q.value.trim();
    run();
  });
  replace(main, h("h1", {}, t("catalogue.title")), form, h("div", { class: "with-facets" }, facets, results));
  await run();
}

async function search(results, facets, ctx, run) {
  const departments = (await api("/catalogue/departments")).departments;
  const names = Object.fromEntries(departments.map((d) => [d.code, language() === "en" && d.name_en ? d.name_en : d.name]));
  // All matches of the text (to count each facet's values), and the ones the facets select;
  // the hub's `sharing` filter means "has a field of that type", so the resource-level sharing
  // facet is applied here to the hub's answer.
  const everything = await api("/catalogue/resources", { query: { q: state.q, limit: 100 } });
  const found = await api("/catalogue/resources", {
    query: { q: state.q, provider: state.provider, sensitivity: state.sensitivity, limit: 100 },
  });
  const chosen = found.results.filter((r) => !state.sharing || r.sharing_summary === state.sharing);
  const hits = { results: chosen, total: state.sharing ? chosen.length : found.total };
  const count = (pick) => {
    const n = {};
    for (const r of everything.results) for (const v of new Set(pick(r))) n[v] = (n[v] || 0) + 1;
    return n;
  };
  replace(
    facets,
    facetGroup("provider", t("catalogue.provider"), departments.map((d) => d.code), (v) => names[v] || v, count((r) => [r.provider]), run),
    facetGroup("sharing", t("catalogue.sharing"), SHARING, (v) => label("sharing_summary", v), count((r) => [r.sharing_summary]), run),
    facetGroup("sensitivity", t("catalogue.sensitivity"), SENSITIVITY, (v) => label("sensitivity", v), count((r) => r.fields.map((f) => f.sensitivity)), run, t("catview.sensitivity_counts")),
  );
  replace(
    results,
    h("p", {}, t("catalogue.found", { count: hits.total })),
    h(
      "ul",
      { class: "cards" },
      hits.results.map((r) =>
        h(
          "li",
          { class: "card" },
          h("h3", {}, link(`/catalogue/${r.code}`, language() === "en" && r.name_en ? r.name_en : r.name)),
          h("p", { class: "meta" }, `${names[r.provider] || r.provider} · `, h("code", {}, r.code), ` · v${r.version}`, r.deprecated ? ` · ${t("catalogue.deprecated")}` : ""),
          h("p", {}, r.summary),
          h("p", { class: "tags" }, sharingBadge(r), " ", sharingCounts(r.sharing_counts, r.fields.length)),
        ),
      ),
    ),
  );
  ctx.announce(t("catalogue.found", { count: hits.total }));
}

/** The resource's sharing as a whole (无条件共享 only when every field is so shared). */
function sharingBadge(resource) {
  const summary = resource.sharing_summary || resource.sharing_type;
  const group = summary === "partly_unconditional" ? "sharing-conditional" : `sharing-${summary}`;
  return h("span", { class: `badge ${group}` }, label("sharing_summary", summary));
}

/** "6 个信息项：1 项无条件共享、5 项有条件共享". */
function sharingCounts(counts, total) {
  const parts = ["unconditional", "conditional", "not_shared"]
    .filter((type) => counts && counts[type])
    .map((type) => t("catview.count_of", { count: counts[type], type: label("sharing", type) }));
  const all = t("catalogue.fields", { count: total });
  return parts.length > 1 ? t("catview.fields_split", { all, parts: parts.join(t("catview.separator")) }) : all;
}

function facetGroup(key, title, values, show, counts, run, hint) {
  const name = `facet-${key}`;
  const option = (value, text, n) => {
    const input = h("input", { type: "radio", name, value, checked: state[key] === value, id: `${name}-${value || "all"}` });
    input.addEventListener("change", () => {
      state[key] = value;
      run();
    });
    return h("li", {}, input, h("label", { for: input.id }, text, n === undefined ? "" : ` (${n})`));
  };
  return h(
    "fieldset",
    { class: "facet" },
    h("legend", {}, title),
    hint ? h("p", { class: "hint" }, hint) : null,
    h("ul", {}, option("", t("catalogue.all")), values.map((v) => option(v, show(v), counts[v] || 0))),
  );
}

export async function renderResource(ctx) {
  const { main, params } = ctx;
  replace(main, loading());
  const resource = await api(`/catalogue/resources/${encodeURIComponent(params[0])}`);
  const provider = await api(`/catalogue/departments/${encodeURIComponent(resource.descriptor.provider)}`).catch(() => null);
  const name = provider && (language() === "en" && provider.name_en ? provider.name_en : provider.name);
  replace(main, h("p", {}, link("/catalogue", t("catalogue.back"))), resourceView(resource, name));
}

/** A resource's description and its fields (shared with the department pages). */
export function resourceView(resource, providerName = null) {
  const d = resource.descriptor;
  return h(
    "article",
    {},
    h("h1", {}, language() === "en" && d.name_en ? d.name_en : d.name),
    facts([
      [t("catalogue.code"), h("code", {}, resource.code)],
      [t("catalogue.provider"), providerName || d.provider],
      [t("catalogue.version"), `v${resource.version} / v${resource.latest_version}`],
      [t("catalogue.published"), when(resource.published_at)],
      [t("catalogue.update_frequency"), d.update_frequency ? label("frequency", d.update_frequency) : "—"],
      [t("catalogue.sharing"), [sharingBadge(resource), " ", sharingCounts(resource.sharing_counts, d.fields.length)]],
      resource.deprecated ? [t("catalogue.deprecated"), resource.deprecation_reason || "—"] : null,
    ]),
    h("p", {}, d.summary),
    d.sharing?.condition ? h("p", { class: "hint" }, d.sharing.condition) : null,
    section(
      t("catalogue.field_list"),
      fieldTable(d.fields),
    ),
  );
}

function fieldTable(fields) {
  const headings = [t("catalogue.title_col"), t("catalogue.field"), t("catalogue.type"), t("catalogue.sharing"), t("catalogue.sensitivity"), t("catalogue.release")];
  const shown = table(
    t("catalogue.field_list"),
    headings,
    fields.map((f) => [
      f.title,
      h("code", {}, f.name),
      label("datatype", f.data_type),
      badge("sharing", f.sharing.type),
      label("sensitivity", f.sensitivity),
      f.transform ? label("release", f.transform) : "—",
    ]),
  );
  shown.classList.add("phone-cards");
  [...shown.tBodies[0].rows].forEach((row) => [...row.cells].forEach((cell, column) => cell.setAttribute("data-label", headings[column])));
  return shown;
}
