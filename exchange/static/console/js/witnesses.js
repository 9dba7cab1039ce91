// The audit log's witnesses in words: a witness policy (c2sp.org/tlog-policy) as a sentence;
// the hub's witness gap (GET /audit/witnesses: the sizes of the log, of its newest checkpoint and
// of its newest witnessed one, and what the hub last heard from each witness); the auditor's own
// policy, kept in this browser; and what the "witnesses" verification step found.

import { api, optional } from "./api.js";
import { field, h, replace } from "./dom.js";
import { language, t, when } from "./i18n.js";
import { parsePolicy, quorumTree } from "./policy.js";
import { badge, facts, liveRegion, refusalWords } from "./ui.js";

const OWN_POLICY = "tongban.witness_policy";

function list(names) {
  return names.length ? names.join(t("witness.separator")) : t("witness.nobody");
}

// -- a policy in words -----------------------------------------------------------------------

/** The quorum tree of policy.js as a sentence: "需要 A、B 全部联署". */
export function quorumWords(tree) {
  if (tree.kind === "none") return t("witness.quorum_none");
  if (tree.kind === "witness") return t("witness.quorum_one", { name: tree.name });
  return t("witness.quorum_group", { desc: groupWords(tree) });
}

function groupWords(group) {
  const members = group.members.map(memberWords).join(t("witness.separator"));
  if (group.threshold === group.members.length) {
    return group.members.length === 1 ? members : t("witness.all_of", { members });
  }
  return t("witness.k_of", { k: group.threshold, members });
}

function memberWords(member) {
  if (member.kind === "witness") return member.name;
  return t("witness.nested", { name: member.name, desc: groupWords(member) });
}

// -- the auditor's own policy ------------------------------------------------------------------

function storedPolicy() {
  return localStorage.getItem(OWN_POLICY) || "";
}

/** The policy to verify against: the auditor's own (kept in this browser), else the hub's. */
export async function auditorPolicy() {
  const own = storedPolicy();
  if (own) return { text: own, source: "own" };
  return { text: await api("/audit/witness-policy", { as: "text", auth: false }), source: "hub" };
}

/** Which policy verification uses, said plainly, and a form to keep the auditor's own. */
export function policyPanel() {
  const source = h("p", { class: "notice policy-source" });
  const showSource = () =>
    replace(source, storedPolicy() ? t("witness.using_own") : t("witness.using_hub"));
  const input = h("textarea", { rows: 6, spellcheck: "false", autocomplete: "off", class: "policy-text" });
  input.value = storedPolicy();
  const status = liveRegion({ class: "policy-status" });
  const clear = h("button", { type: "button", class: "secondary" }, t("witness.clear"));
  const form = h(
    "form",
    { class: "card" },
    field(t("witness.policy_label"), input, t("witness.policy_hint")).row,
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("witness.save")), clear),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim() ? `${input.value.replace(/\s+$/, "")}\n` : "";
    try {
      if (text) await parsePolicy(text);
    } catch (error) {
      replace(status, h("p", { class: "problem", role: "alert" }, refusalWords(error)));
      return;
    }
    if (text) localStorage.setItem(OWN_POLICY, text);
    else localStorage.removeItem(OWN_POLICY);
    showSource();
    replace(status, h("p", { class: "ok" }, text ? t("witness.saved") : t("witness.cleared")));
  });
  clear.addEventListener("click", () => {
    localStorage.removeItem(OWN_POLICY);
    input.value = "";
    showSource();
    replace(status, h("p", { class: "ok" }, t("witness.cleared")));
  });
  showSource();
  return h(
    "div",
    { class: "policy" },
    source,
    h("details", {}, h("summary", {}, t("witness.own_policy")), form),
  );
}

// -- the "witnesses" verification step ---------------------------------------------------------

/** The words of the witnesses step's outcome (verify.js witnessCheckpoint). */
export function witnessStepWords(found) {
  const { verdict } = found;
  const said = [t(found.source === "own" ? "witness.using_own" : "witness.using_hub")];
  const quorum = quorumWords(verdict.quorum);
  const cosigned = list(verdict.cosigned);
  if (found.outcome === "met") said.push(t("witness.step_met", { size: verdict.size, quorum, cosigned }));
  if (found.outcome === "none") said.push(t("witness.step_none"));
  if (found.outcome === "older") {
    said.push(t("witness.step_older", { newest: found.newest, size: verdict.size, quorum, cosigned }));
  }
  if (found.outcome === "forged") said.push(t("witness.step_forged", { names: list(verdict.invalid) }));
  if (found.outcome === "not_covered") {
    said.push(t("witness.step_not_covered", { newest: found.newest, quorum, cosigned, absent: list(verdict.absent) }));
    if (found.waiting !== null) said.push(t("witness.step_waiting", { count: found.waiting }));
  }
  if (verdict.unverifiable.length) {
    said.push(t("witness.ml_dsa", { names: list(verdict.unverifiable) }));
  }
  return said.join(language() === "zh" ? "" : " "); // Chinese sentences need no space between
}

// -- the hub's witness gap ---------------------------------------------------------------------

/** What the hub reports of its witnesses (GET /audit/witnesses) and its published policy in
 * words (null when the hub does not answer, false when its policy cannot be read). */
export async function loadWitnessGap() {
  const [gap, policyText] = await Promise.all([
    optional("/audit/witnesses", { auth: false }),
    optional("/audit/witness-policy", { as: "text", auth: false }),
  ]);
  let quorum = null;
  if (policyText !== null) {
    quorum = await parsePolicy(policyText).then(
      (policy) => quorumWords(quorumTree(policy)),
      () => false,
    );
  }
  return { gap, quorum };
}

/** The witness gap: the hub's policy in words, the sizes, and each witness's state. readiness
 * (the /readyz witnesses check) stands in when /audit/witnesses did not answer. */
export function witnessGap({ gap, quorum }, readiness = null) {
  const shown = gap || readiness;
  if (!shown) return h("p", { class: "hint" }, t("witness.no_report"));
  return [policyLine(quorum), sizes(shown), witnessList(shown)];
}

function policyLine(quorum) {
  if (quorum === null) return null;
  if (quorum === false) return h("p", { class: "problem" }, t("witness.policy_unreadable"));
  return h("p", { class: "witness-policy" }, t("witness.hub_policy"), h("strong", {}, quorum));
}

function sizes(gap) {
  const waiting = gap.unwitnessed_entries;
  return facts([
    [t("witness.log_size"), gap.log_size],
    gap.checkpoint_size !== undefined ? [t("witness.checkpoint_size"), gap.checkpoint_size] : null,
    [t("witness.witnessed_size"), gap.witnessed_size],
    [
      t("witness.unwitnessed"),
      h("span", { class: waiting > 0 ? "badge witness-never" : "badge witness-ok" }, String(waiting)),
    ],
  ]);
}

function witnessList(gap) {
  if (Array.isArray(gap.witnesses)) {
    if (!gap.witnesses.length) return h("p", { class: "hint" }, t("witness.none_listed"));
    return h("ul", { class: "witnesses" }, gap.witnesses.map(witnessItem));
  }
  // /readyz says only which witnesses fail, not why.
  if (!gap.failing || !gap.failing.length) return null;
  return h("p", { class: "problem" }, t("witness.failing_names", { names: list(gap.failing) }));
}

function witnessState(witness) {
  if (witness.last_error) return "failing";
  return witness.last_attempt_at ? "ok" : "never";
}

function witnessItem(witness) {
  return h(
    "li",
    { class: "witness" },
    h("h3", {}, witness.name, " ", badge("witness", witnessState(witness))),
    facts([
      [t("witness.key_name"), h("code", {}, witness.cosigner)],
      [t("witness.url"), witness.url ? h("code", {}, witness.url) : t("witness.no_url")],
      [t("witness.cosigned_size"), witness.cosigned_size],
      [t("witness.last_success"), when(witness.last_success_at)],
      [t("witness.last_attempt"), when(witness.last_attempt_at)],
      witness.last_error ? [t("witness.reason"), reasonWords(witness.last_error)] : null,
    ]),
  );
}

// The hub records a failing witness's reason in its own English words
// (exchange/audit/witnessing.py); these are the ones it writes.
const REASONS = [
  [/^the witness cannot be reached \((\w+)\)$/, "unreachable", (m) => ({ error: m[1] })],
  [/^the witness's answer is too large$/, "too_large"],
  [/^the witness answered 409 without its tree size$/, "no_size"],
  [/^the witness refused the request as malformed \(400\)$/, "malformed"],
  [/^the witness does not trust the hub's signature \(403\)$/, "untrusted"],
  [/^the witness does not know this log \(404\)$/, "unknown_log"],
  [/^the witness holds another tree size \(409\)$/, "other_size"],
  [/^the witness found the checkpoint inconsistent/, "inconsistent"],
  [/^the witness has cosigned size (\d+), larger than the hub's newest checkpoint (\d+)/, "cut_back", (m) => ({ held: m[1], size: m[2] })],
  [/^the witness kept answering 409$/, "kept_409"],
  [/^the witness answered with a cosignature that does not verify$/, "bad_cosignature"],
  [/^the witness answered without a cosignature of its key$/, "no_cosignature"],
  [/^the witness cosigned another checkpoint$/, "other_checkpoint"],
  [/^the witness answered (\d+)$/, "status", (m) => ({ status: m[1] })],
];

/** A failing witness's reason in the console's language (the hub's words when unknown). */
export function reasonWords(reason) {
  for (const [pattern, key, vars = () => ({})] of REASONS) {
    const match = pattern.exec(reason);
    if (match) return t(`witness_reason.${key}`, vars(match));
  }
  return h("span", {}, t("witness.reason_verbatim"), " ", h("q", { lang: "en" }, reason));
}
