// Operator (运维): readiness of the hub and each source, the audit log's witnesses (how many
// entries no witnessed checkpoint covers yet, and why a witness fails), and the scheduled jobs
// when the hub has them. Operators may not read the audit or decide sharing (the API refuses;
// nothing here offers it).

import { optional } from "./api.js";
import { h, replace, table } from "./dom.js";
import { t, when } from "./i18n.js";
import { badge, loading, problemBox, section } from "./ui.js";
import { loadWitnessGap, witnessGap } from "./witnesses.js";

export async function renderOperations(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("ops.title")), loading());
  const [ready, jobs, witnesses] = await Promise.all([
    optional("/readyz"),
    optional("/jobs"),
    loadWitnessGap(),
  ]);
  const sources = (ready && ready.checks.sources) || {};
  replace(
    main,
    h("h1", {}, t("ops.title")),
    section(
      t("ops.readiness"),
      ready
        ? h("p", {}, t("ops.status"), " ", badge("health", ready.status), ` · ${t("ops.revision")} ${ready.checks.database.revision}`)
        : problemBox({ status: 503 }),
      table(
        t("ops.sources"),
        [t("catalogue.code"), t("dept.adapter"), t("dept.latency"), t("ops.reason")],
        Object.entries(sources).map(([code, s]) => [h("code", {}, code), badge("health", s.status), `${s.latency_ms} ms`, s.reason || "—"]),
      ),
    ),
    section(
      t("witness.title"),
      h("div", { class: "witness-gap" }, witnessGap(witnesses, ready && ready.checks.witnesses)),
    ),
    section(
      t("ops.jobs"),
      jobs && Array.isArray(jobs.jobs)
        ? table(
            t("ops.jobs"),
            [t("ops.job"), t("ops.last_run"), t("ops.outcome"), t("ops.next_run")],
            jobs.jobs.map((j) => [
              h("span", { title: j.description || "" }, j.id),
              when(j.last_run && j.last_run.started_at),
              j.failing
                ? badge("health", "failing")
                : j.last_run && j.last_run.outcome
                  ? j.last_run.outcome
                  : "—",
              when(j.next_run),
            ]),
          )
        : h("p", { class: "hint" }, t("ops.no_jobs")),
    ),
  );
}
