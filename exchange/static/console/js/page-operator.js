// Operator (运维): readiness of the hub and each source, the audit log's witnesses (how many
// entries no witnessed checkpoint covers yet, and why a witness fails), and the scheduled jobs
// when the hub has them. Operators may not read the audit or decide sharing (the API refuses;
// nothing here offers it). Each job by its name in the page's language, its id beside it (what
// `tongban jobs run` takes); on a phone each table's row is a card of labelled lines.

import { optional } from "./api.js";
import { cardTable, h, replace } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { badge, loading, problemBox, section } from "./ui.js";
import { loadWitnessGap, witnessGap } from "./witnesses.js";

export async function renderOperations(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("ops.title")), loading());
  const [ready, jobs, witnesses, listed] = await Promise.all([
    optional("/readyz"),
    optional("/jobs"),
    loadWitnessGap(),
    optional("/catalogue/resources", { query: { limit: 100 } }),
  ]);
  // the resources' names (a source and a sync job are named by their resource's code)
  const names = Object.fromEntries(((listed && listed.results) || []).map((r) => [r.code, r.name]));
  const resource = (code) =>
    names[code]
      ? [h("span", { class: "job-name" }, names[code]), h("code", { class: "job-id" }, code)]
      : h("code", {}, code);
  const sources = (ready && ready.checks.sources) || {};
  replace(
    main,
    h("h1", {}, t("ops.title")),
    section(
      t("ops.readiness"),
      ready
        ? h("p", {}, t("ops.status"), " ", badge("health", ready.status), ` · ${t("ops.revision")} ${ready.checks.database.revision}`)
        : problemBox({ status: 503 }),
      cardTable(
        t("ops.sources"),
        [t("dept.resource"), t("dept.adapter"), t("dept.latency"), t("ops.reason")],
        Object.entries(sources).map(([code, s]) => [resource(code), badge("health", s.status), `${s.latency_ms} ms`, s.reason || "—"]),
      ),
    ),
    section(
      t("witness.title"),
      h("div", { class: "witness-gap" }, witnessGap(witnesses, ready && ready.checks.witnesses)),
    ),
    section(
      t("ops.jobs"),
      jobs && Array.isArray(jobs.jobs)
        ? cardTable(
            t("ops.jobs"),
            [t("ops.job"), t("ops.last_run"), t("ops.outcome"), t("ops.next_run")],
            jobs.jobs.map((j) => [
              [h("span", { class: "job-name" }, jobName(j.id, names)), h("code", { class: "job-id" }, j.id)],
              when(j.last_run && j.last_run.started_at),
              j.failing
                ? badge("health", "failing")
                : j.last_run && j.last_run.outcome
                  ? badge("run", j.last_run.outcome)
                  : "—",
              when(j.next_run),
            ]),
          )
        : h("p", { class: "hint" }, t("ops.no_jobs")),
    ),
  );
}

/** A job's name: sync.<resource> names its resource (by its name when the catalogue has it);
 * another id its own words (the id when the console has none). */
function jobName(id, names) {
  if (id.startsWith("sync.")) {
    const code = id.slice("sync.".length);
    return t("ops.job_sync", { resource: names[code] || code });
  }
  return label("job", id);
}

