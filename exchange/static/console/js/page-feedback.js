// Feedback (好差评). A citizen rates the data side of each service item handled for them (was
// anything asked on paper that the hub could have supplied, was anything wrong, a score and a
// short comment); a department admin rates, for their department as a consumer, a provider's
// data quality for each resource its systems received (once a month).

import { api } from "./api.js";
import { cardTable, field, h, replace, uid } from "./dom.js";
import { t, when } from "./i18n.js";
import { localName } from "./names.js";
import { act, link, loading, section } from "./ui.js";

const COMMENT_MAX = 300;
/** Five labelled radio buttons, 1 … 5. */
function scoreChooser() {
  const group = uid("score");
  const options = [1, 2, 3, 4, 5].map((n) =>
    h("label", { class: "check" }, h("input", { type: "radio", name: group, value: String(n), required: true }), ` ${n} · ${t(`fb.score_${n}`)}`),
  );
  const set = h("fieldset", { class: "scores" }, h("legend", {}, t("fb.score")), options);
  return { set, value: () => Number(set.querySelector("input:checked")?.value || 0) };
}

/** Checkboxes of [value, label] pairs under a legend. */
function checks(legend, items, hint) {
  const boxes = items.map(([value, words]) => h("label", { class: "check" }, h("input", { type: "checkbox", value }), ` ${words}`));
  const set = h("fieldset", {}, h("legend", {}, legend), hint ? h("p", { class: "hint" }, hint) : null, boxes);
  return { set, values: () => [...set.querySelectorAll("input:checked")].map((b) => b.value) };
}

function commentBox() {
  const text = h("textarea", { rows: 3, maxlength: COMMENT_MAX });
  return { row: field(t("fb.comment"), text, t("fb.comment_hint", { n: COMMENT_MAX })).row, value: () => text.value.trim() || null };
}

function ratedLine(rating, titles) {
  const named = (list) => list.map((a) => titles[a] || a).join("、");
  return h(
    "div",
    { class: "rated" },
    h("p", {}, h("strong", {}, t("fb.rated", { score: rating.score })), " · ", when(rating.rated_at)),
    rating.asked_again.length ? h("p", { class: "meta" }, t("fb.asked_again_were", { items: named(rating.asked_again) })) : null,
    rating.wrong.length ? h("p", { class: "meta" }, t("fb.wrong_were", { items: named(rating.wrong) })) : null,
    rating.comment ? h("p", { class: "meta" }, rating.comment) : null,
  );
}

// -- the citizen ------------------------------------------------------------------------------

export async function renderCitizen(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("fb.citizen_title")), loading());
  const answer = await api("/citizen/feedback");
  replace(
    main,
    h("h1", {}, t("fb.citizen_title")),
    h("p", { class: "hint" }, t("fb.citizen_intro")),
    answer.handlings.length
      ? answer.handlings.map((handling) => handlingCard(ctx, handling, answer.objections))
      : h("p", {}, t("fb.no_handlings")),
  );
}

function titlesOf(handling) {
  const titles = {};
  for (const a of [...handling.asks, ...handling.released]) titles[a.attribute] = a.title || a.attribute;
  return titles;
}

function handlingCard(ctx, handling, objections) {
  const titles = titlesOf(handling);
  const card = h(
    "article",
    { class: "card" },
    h("h2", {}, localName(handling.service_name, handling.service_item)),
    h(
      "p",
      { class: "meta" },
      t("fb.handled_at", { at: when(handling.at) }),
      " · ",
      h("span", { title: handling.department }, localName(handling.department_name, handling.department)),
    ),
  );
  if (handling.rating) {
    card.append(ratedLine(handling.rating, titles));
    return card;
  }
  const chooser = scoreChooser();
  const asked = checks(
    t("fb.asked_again"),
    handling.asks.map((a) => [a.attribute, `${a.title || a.attribute}${a.material ? `（${a.material}）` : ""}`]),
    t("fb.asked_again_hint"),
  );
  const wrong = checks(
    t("fb.wrong"),
    handling.released.map((a) => [a.attribute, `${a.title || a.attribute} · ${localName(a.provider_name, a.provider || "—")}`]),
    null,
  );
  const comment = commentBox();
  const send = h("button", { type: "submit" }, t("fb.send"));
  const form = h(
    "form",
    { class: "rating" },
    chooser.set,
    asked.set,
    wrong.set,
    objections ? h("p", { class: "hint" }, t("fb.object_hint"), " ", link("/citizen", t("fb.object_link"))) : null,
    comment.row,
    h("div", { class: "actions" }, send),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(send, form, async () => {
      const rating = await api("/citizen/feedback", {
        method: "POST",
        body: {
          service_item: handling.service_item,
          handling: handling.request_id,
          score: chooser.value(),
          asked_again: asked.values(),
          wrong: wrong.values(),
          comment: comment.value(),
        },
      });
      ctx.announce(t("fb.thanks"));
      form.replaceWith(ratedLine(rating, titles));
    });
  });
  card.append(form);
  return card;
}

// -- the consumer department ------------------------------------------------------------------

export async function renderDepartment(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("fb.department_title")), loading());
  const answer = await api("/department/feedback");
  const titles = {};
  for (const r of answer.received) for (const f of r.fields) titles[f.attribute] = f.title;
  replace(
    main,
    h("h1", {}, t("fb.department_title")),
    h("p", { class: "hint" }, t("fb.department_intro")),
    section(
      t("fb.received"),
      answer.received.length ? answer.received.map((r) => resourceCard(ctx, r)) : h("p", {}, t("fb.none_received")),
    ),
    section(t("fb.made"), madeTable(answer.ratings, titles)),
  );
}

function madeTable(ratings, titles) {
  if (!ratings.length) return h("p", {}, t("fb.none_made"));
  return cardTable(
    t("fb.made"),
    [t("fb.month"), t("fb.resource"), t("fb.provider"), t("fb.score"), t("fb.wrong"), t("fb.comment")],
    ratings.map((r) => [r.month, r.resource, r.provider, String(r.score), r.wrong.map((a) => titles[a] || a).join("、") || "—", r.comment || "—"]),
  );
}

function resourceCard(ctx, received) {
  const card = h(
    "article",
    { class: "card" },
    h("h3", { title: received.resource }, localName(received.name, received.resource)),
    h("p", { class: "meta" }, t("fb.provided_by", { provider: localName(received.provider_name, received.provider) })),
  );
  const chooser = scoreChooser();
  const wrong = checks(t("fb.wrong_fields"), received.fields.map((f) => [f.attribute, f.title || f.attribute]), null);
  const comment = commentBox();
  const send = h("button", { type: "submit" }, t("fb.send"));
  const form = h("form", { class: "rating" }, chooser.set, wrong.set, comment.row, h("div", { class: "actions" }, send));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(send, form, async () => {
      await api("/department/feedback", {
        method: "POST",
        body: { resource: received.resource, score: chooser.value(), wrong: wrong.values(), comment: comment.value() },
      });
      ctx.announce(t("fb.thanks"));
      ctx.navigate("/department/feedback", { replace: true });
    });
  });
  card.append(form);
  return card;
}
