// The catalogue browser (资源目录), for every signed-in user: text search with facets
// (provider department, sharing type, sensitivity), each with its count, and a resource page.

import { api } from "./api.js";
import { field, h, replace, table } from "./dom.js";
import { label, language, t, when } from "./i18n.js";
import { badge, facts, link, liveRegion, loading, problemBox, section } from "./ui.js";

const SHARING = ["unconditional", "conditional", "not_shared"];
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
  // All matches of the text (to count each facet's values), and the ones the facets select.
  const everything = await api("/catalogue/resources", { query: { q: state.q, limit: 100 } });
  const hits = await api("/catalogue/resources", {
    query: { q: state.q, provider: state.provider, sharing: state.sharing, sensitivity: state.sensitivity, limit: 100 },
  });
  const count = (pick) => {
    const n = {};
    for (const r of everything.results) for (const v of new Set(pick(r))) n[v] = (n[v] || 0) + 1;
    return n;
  };
  replace(
    facets,
    facetGroup("provider", t("catalogue.provider"), departments.map((d) => d.code), (v) => names[v] || v, count((r) => [r.provider]), run),
    facetGroup("sharing", t("catalogue.sharing"), SHARING, (v) => label("sharing", v), count((r) => r.fields.map((f) => f.sharing)), run),
    facetGroup("sensitivity", t("catalogue.sensitivity"), SENSITIVITY, (v) => label("sensitivity", v), count((r) => r.fields.map((f) => f.sensitivity)), run),
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
          h("p", { class: "meta" }, h("code", {}, r.code), ` · ${names[r.provider] || r.provider} · v${r.version}`, r.deprecated ? ` · ${t("catalogue.deprecated")}` : ""),
          h("p", {}, r.summary),
          h("p", { class: "tags" }, badge("sharing", r.sharing_type), ` ${t("catalogue.fields", { count: r.fields.length })}`),
        ),
      ),
    ),
  );
  ctx.announce(t("catalogue.found", { count: hits.total }));
}

function facetGroup(key, title, values, show, counts, run) {
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
    h("ul", {}, option("", t("catalogue.all")), values.map((v) => option(v, show(v), counts[v] || 0))),
  );
}

export async function renderResource(ctx) {
  const { main, params } = ctx;
  replace(main, loading());
  const resource = await api(`/catalogue/resources/${encodeURIComponent(params[0])}`);
  replace(main, h("p", {}, link("/catalogue", t("catalogue.back"))), resourceView(resource));
}

/** A resource's description and its fields (shared with the department pages). */
export function resourceView(resource) {
  const d = resource.descriptor;
  return h(
    "article",
    {},
    h("h1", {}, language() === "en" && d.name_en ? d.name_en : d.name),
    facts([
      [t("catalogue.code"), h("code", {}, resource.code)],
      [t("catalogue.provider"), d.provider],
      [t("catalogue.version"), `v${resource.version} / v${resource.latest_version}`],
      [t("catalogue.published"), when(resource.published_at)],
      [t("catalogue.update_frequency"), d.update_frequency ? label("frequency", d.update_frequency) : "—"],
      [t("catalogue.sharing"), badge("sharing", resource.sharing_type)],
      resource.deprecated ? [t("catalogue.deprecated"), resource.deprecation_reason || "—"] : null,
    ]),
    h("p", {}, d.summary),
    d.sharing?.condition ? h("p", { class: "hint" }, d.sharing.condition) : null,
    section(
      t("catalogue.field_list"),
      table(
        t("catalogue.field_list"),
        [t("catalogue.field"), t("catalogue.title_col"), t("catalogue.type"), t("catalogue.sharing"), t("catalogue.sensitivity"), t("catalogue.release")],
        d.fields.map((f) => [
          h("code", {}, f.name),
          f.title,
          f.data_type,
          badge("sharing", f.sharing.type),
          label("sensitivity", f.sensitivity),
          f.transform ? label("release", f.transform) : "—",
        ]),
      ),
    ),
  );
}
