// The citizen's accesses and the browser's check that the list is complete (完整性核验), shown
// on 我的数据 (page-citizen.js).
//
// The hub answers each page of /citizen/accesses with `completeness`: a signed checkpoint (with
// any witness cosignatures), the map root its "tongban/vmap/v1" line carries, every log entry
// of my pseudonym below the checkpoint's size (all kinds, as index and leaf hash) and the
// subject map's proof for that list. The browser checks, in this order, each step reported as it
// ends and the first failure stopping the rest:
//   signature  the note is signed by the hub's published verifier key, and is of tree_size;
//   witnesses  it meets the hub's published witness policy (said plainly when that asks for
//              no witness);
//   map_root   its tongban/vmap/v1 line is there, once, and is the map_root of the proof;
//   entries    every access shown hashes to its leaf hash and names me, with its kind (the
//              tree's hash is the one the hub's verifier key's type says: SM3 for SM2, docs/gm.md);
//   listed     every access shown that the checkpoint covers is in the list, same leaf hash;
//   shown      every access of the list is shown (all pages are fetched first);
//   map_proof  the map proof shows the list is every entry of mine the map root commits to.
// Nothing the hub says is taken on its word; its `witnessed` flag is not read.

import { api } from "./api.js";
import { h, replace, table } from "./dom.js";
import { language, t, when } from "./i18n.js";
import { b64decode, b64encode, equal, leafHash, parseCheckpoint, parseVkey, treeHash, VerifyError, verifyNoteSignature } from "./merkle.js";
import { checkNote, parsePolicy } from "./policy.js";
import { localName } from "./names.js";
import { act, badge, fill, liveRegion, problemBox, refusalWords } from "./ui.js";
import { mapHash, subjectKey, verifyComplete } from "./vmap.js";
import { quorumWords } from "./witnesses.js";
import { basisKinds, deferredMark } from "./page-notice.js";

export const COMPLETE_STEPS = ["signature", "witnesses", "map_root", "entries", "listed", "shown", "map_proof"];
const ACCESS_KINDS = ["query", "verify", "event"]; // a subscription event is released data too
const OTHER_KINDS = ["consent", "agreement", "correction"];
const MAP_LINE = "tongban/vmap/v1 ";
const PAGE_SIZE = 100;
const MAX_PAGES = 100;
const encoder = new TextEncoder();

export async function accessList(ctx, where) {
  const list = await allAccesses();
  const recheck = h("button", { type: "button", class: "secondary" }, t("complete.recheck"));
  recheck.addEventListener("click", () => act(recheck, where, () => fill(where, () => accessList(ctx, where))));
  const block = completenessBlock(list, recheck);
  if (list.completeness) {
    runCompleteness(list, block, ctx).catch((error) => replace(block.querySelector(".verdict"), problemBox(error)));
  }
  return [list.accesses.length ? accessTable(list) : h("p", {}, t("citizen.no_accesses")), block];
}

/** Every page of my accesses (newest first), and the first page's completeness; cut is true
 * when the pages could not all be fetched (too many, or a cursor that does not go back). */
async function allAccesses() {
  const first = await api("/citizen/accesses", { query: { limit: PAGE_SIZE } });
  const accesses = [...first.accesses];
  let cursor = first.next_cursor;
  let pages = 1;
  while (Number.isSafeInteger(cursor)) {
    if (pages >= MAX_PAGES) return { accesses, completeness: first.completeness ?? null, cut: true };
    const next = await api("/citizen/accesses", { query: { limit: PAGE_SIZE, cursor } });
    accesses.push(...next.accesses);
    pages += 1;
    if (Number.isSafeInteger(next.next_cursor) && next.next_cursor >= cursor) {
      return { accesses, completeness: first.completeness ?? null, cut: true };
    }
    cursor = next.next_cursor;
  }
  return { accesses, completeness: first.completeness ?? null, cut: false };
}

/** Another hub's part in an access (docs/federation.md): where the data came from, or for
 * which hub's caller it was relayed. */
function crossHub(a) {
  if (a.relayed && a.relayed.length) {
    return h("div", { class: "meta" }, t("citizen.relayed_from", { hub: a.relayed.map((r) => r.hub).join("、") }));
  }
  if (a.relay) return h("div", { class: "meta" }, t("citizen.relayed_for", { hub: a.relay.hub, system: a.relay.system }));
  return null;
}

function isLater(access, completeness) {
  return Boolean(completeness) && !(access.index < completeness.tree_size);
}

function accessTable({ accesses, completeness }) {
  const headings = [t("citizen.when"), t("citizen.system"), t("citizen.purpose"), t("citizen.fields"), t("citizen.basis"), t("citizen.outcome")];
  const shown = table(
    t("citizen.accesses"),
    headings,
    accesses.map((a) => [
      [when(a.at), isLater(a, completeness) ? h("span", { class: "badge later" }, t("complete.later")) : null, deferredMark(a)],
      [`${localName(a.department_name, a.department, a.department_name_en)} · ${localName(a.system_name, a.system)}`, crossHub(a)],
      localName(a.purpose_name, a.purpose, a.purpose_name_en),
      h("ul", { class: "plain" }, Object.entries(a.fields).map(([name, f]) => h("li", { "data-attribute": name }, f.title || name, " ", badge("outcome", f.outcome)))),
      basisList(a),
      badge("outcome", a.outcome),
    ]),
  );
  shown.classList.add("access-list");
  [...shown.tBodies[0].rows].forEach((row, i) => {
    row.dataset.index = accesses[i].index;
    if (isLater(accesses[i], completeness)) row.classList.add("later");
    [...row.cells].forEach((cell, column) => cell.setAttribute("data-label", headings[column])); // a phone's card labels
  });
  return shown;
}

/** Under what the access was made: its legal bases, the agreements (by title) and the
 * citizen's own consent. */
function basisList(a) {
  const agreements = (a.agreement_titles || []).map((g) => agreementTitle(g));
  const known = new Set((a.agreement_titles || []).map((g) => g.id));
  const untitled = a.agreements.filter((id) => !known.has(id));
  const items = [...a.legal_bases.map((basis) => localName(basis, basis)), ...agreements, ...untitled, ...(a.consents.length ? [t("mydata.by_consent")] : [])];
  if (!items.length) return basisKinds(a) || "—";
  return [basisKinds(a), h("ul", { class: "plain basis" }, items.map((text) => h("li", {}, text)))];
}

function agreementTitle(g) {
  if (g.title) return t("mydata.agreement_titled", { title: g.title });
  if (g.resource_name) return t("mydata.agreement_on", { resource: g.resource_name, provider: g.provider || "" });
  return g.id;
}

function completenessBlock({ completeness }, recheck) {
  const title = t("complete.title");
  if (!completeness) {
    return h("section", { class: "completeness", "aria-label": title }, h("h3", {}, title), h("p", { class: "notice" }, t("complete.none")), recheck);
  }
  const steps = h("ol", { class: "steps" }, COMPLETE_STEPS.map((id) => h("li", { "data-step": id, class: "pending" }, t(`complete.step_${id}`))));
  return h(
    "section",
    { class: "completeness", "aria-label": title },
    h("h3", {}, title),
    h("p", { class: "hint" }, t("complete.explain")),
    steps,
    liveRegion({ class: "verdict" }, h("p", { class: "loading" }, t("verify.running"))),
    recheck,
  );
}

async function runCompleteness(list, block, ctx) {
  const steps = block.querySelector(".steps");
  let failed = null;
  const found = await checkCompleteness(list, ({ id, ok, words }) => {
    const li = steps.querySelector(`[data-step="${id}"]`);
    li.className = ok ? "pass" : "fail";
    if (!ok) failed = id;
    li.append(h("span", { class: "detail" }, ` ${ok ? t("verify.pass") : t("verify.fail")}${words ? ` — ${words}` : ""}`));
  });
  steps.querySelectorAll("li.pending").forEach((li) => {
    li.className = "skipped";
  });
  const message = found
    ? t("complete.ok", { size: found.size, origin: found.origin, root: found.root, count: found.count })
    : t("complete.failed", { step: t(`complete.step_${failed}`) });
  replace(
    block.querySelector(".verdict"),
    h("p", { class: found ? "ok" : "problem", role: found ? null : "alert" }, message),
    found && found.nobodyVouches ? h("p", { class: "notice" }, t("witness.nobody_vouches")) : null,
    found && found.later ? h("p", { class: "hint" }, t("complete.later_count", { count: found.later })) : null,
  );
  ctx.announce(message);
}

/** A step's result: passed with words (and what later steps need), or failed with words. */
const pass = (words, more = {}) => ({ ok: true, words, ...more });
const fail = (words) => ({ ok: false, words });

/**
 * The steps of the comment above, in order; onStep({id, ok, words}) as each ends. Resolves to
 * {size, origin, root, count, later, nobodyVouches} when the list is complete, else null.
 */
export async function checkCompleteness({ accesses, completeness: c, cut }, onStep) {
  const step = async (id, work) => {
    let result;
    try {
      result = await work();
    } catch (error) {
      result = fail(refusalWords(error));
    }
    onStep({ id, ok: result.ok, words: result.words });
    return result.ok ? result : null;
  };
  const signed = await step("signature", () => signatureStep(c));
  if (!signed) return null;
  const { checkpoint, vkey } = signed;
  const hash = treeHash(vkey);
  const witnessed = await step("witnesses", () => witnessStep(checkpoint));
  if (!witnessed) return null;
  const mapped = await step("map_root", () => mapRootStep(checkpoint, c));
  if (!mapped) return null;
  if (!(await step("entries", () => entriesStep(accesses, c, hash)))) return null;
  const listed = await step("listed", () => listedStep(accesses, c));
  if (!listed) return null;
  const shown = await step("shown", () => shownStep(accesses, listed.entries, cut, c.subject, hash));
  if (!shown) return null;
  const proved = await step("map_proof", () => mapProofStep(mapped.mapRoot, c, listed.entries, mapHash(vkey)));
  if (!proved) return null;
  return {
    size: checkpoint.size,
    origin: checkpoint.origin,
    root: `${b64encode(checkpoint.root).slice(0, 12)}…`,
    count: shown.count,
    later: accesses.filter((a) => isLater(a, c)).length,
    nobodyVouches: witnessed.nobodyVouches,
  };
}

async function signatureStep(c) {
  // WebCrypto exists only in a secure context (HTTPS, or localhost).
  if (!globalThis.crypto || !globalThis.crypto.subtle) throw new VerifyError("no_webcrypto");
  const checkpoint = parseCheckpoint(String(c.checkpoint));
  const vkey = await parseVkey(await api("/audit/checkpoint/key", { as: "text", auth: false }));
  if (!(await verifyNoteSignature(checkpoint, vkey))) return fail(t("complete.unsigned", { name: vkey.name }));
  if (checkpoint.size !== c.tree_size) {
    return fail(t("complete.size_differs", { size: checkpoint.size, claimed: String(c.tree_size) }));
  }
  return pass(t("complete.signed", { name: vkey.name, size: checkpoint.size }), { checkpoint, vkey });
}

function names(list) {
  return list.length ? list.join(t("witness.separator")) : t("witness.nobody");
}

async function witnessStep(checkpoint) {
  const text = await api("/audit/witness-policy", { as: "text", auth: false });
  const policy = await parsePolicy(text).catch((error) => {
    if (error instanceof VerifyError) error.vars = { ...error.vars, policy: "hub" };
    throw error;
  });
  const verdict = await checkNote(policy, checkpoint);
  const quorum = quorumWords(verdict.quorum);
  const said = [];
  if (verdict.invalid.length) said.push(t("witness.step_forged", { names: names(verdict.invalid) }));
  else if (verdict.met && verdict.none) said.push(t("complete.witness_none"));
  else if (verdict.met) said.push(t("witness.step_met", { size: verdict.size, quorum, cosigned: names(verdict.cosigned) }));
  else said.push(t("complete.witness_not_met", { size: verdict.size, quorum, cosigned: names(verdict.cosigned), absent: names(verdict.absent) }));
  if (verdict.unverifiable.length) said.push(t("witness.ml_dsa", { names: names(verdict.unverifiable) }));
  const words = said.join(language() === "zh" ? "" : " ");
  return verdict.met ? pass(words, { nobodyVouches: verdict.none }) : fail(words);
}

/** Standard base64 of exactly 32 bytes, in its one canonical spelling, or null. */
function hash32(text) {
  if (typeof text !== "string") return null;
  try {
    const bytes = b64decode(text);
    return bytes.length === 32 && b64encode(bytes) === text ? bytes : null;
  } catch {
    return null;
  }
}

function mapRootStep(checkpoint, c) {
  // As the hub reads it (vmap.map_root_in): the one line that starts with "tongban/vmap/v1 ".
  const lines = checkpoint.extensions.filter((line) => line.startsWith(MAP_LINE));
  if (!lines.length) return fail(t("complete.no_map_line"));
  if (lines.length > 1) return fail(t("complete.map_lines", { count: lines.length }));
  const signed = hash32(lines[0].slice(MAP_LINE.length));
  if (!signed) return fail(t("complete.map_line_malformed"));
  const claimed = hash32(c.map_root);
  if (!claimed || !equal(signed, claimed)) return fail(t("complete.map_root_differs"));
  return pass(b64encode(signed), { mapRoot: signed });
}

/** The entry a canonical text holds (its subject and kind are read), or null if not JSON. */
function readEntry(text) {
  try {
    const entry = JSON.parse(text);
    return entry && typeof entry === "object" ? entry : null;
  } catch {
    return null;
  }
}

async function entriesStep(accesses, c, hash) {
  if (typeof c.subject !== "string" || !/^[0-9a-f]{64}$/.test(c.subject)) return fail(t("complete.subject_malformed"));
  const seen = new Set();
  for (const a of accesses) {
    if (!Number.isSafeInteger(a.index) || a.index < 0) return fail(t("complete.index_malformed"));
    if (seen.has(a.index)) return fail(t("complete.shown_twice", { index: a.index }));
    seen.add(a.index);
    const leaf = await leafHash(encoder.encode(String(a.entry)), hash);
    if (!equal(leaf, b64decode(a.proof.leaf_hash))) return fail(t("complete.entry_hash", { index: a.index }));
    const entry = readEntry(a.entry);
    if (!entry) return fail(t("complete.entry_unreadable", { index: a.index }));
    if (entry.subject !== c.subject) return fail(t("complete.entry_subject", { index: a.index }));
    if (entry.kind !== a.kind || !ACCESS_KINDS.includes(a.kind)) return fail(t("complete.entry_kind", { index: a.index }));
  }
  return pass(t("complete.entries_ok", { count: accesses.length }));
}

/** The hub's list as [{index, leaf, kind, entry?}]: indexes strictly increasing below
 * tree_size, 32-byte leaf hashes, known kinds; null when it is not such a list. */
function parseList(c) {
  if (!Array.isArray(c.entries) || !Number.isSafeInteger(c.tree_size)) return null;
  const entries = [];
  let last = -1;
  for (const item of c.entries) {
    if (!item || typeof item !== "object") return null;
    const { index, kind, entry } = item;
    const leaf = hash32(item.leaf_hash);
    if (!(Number.isSafeInteger(index) && index > last && index < c.tree_size && leaf)) return null;
    if (!ACCESS_KINDS.includes(kind) && !OTHER_KINDS.includes(kind)) return null;
    entries.push({ index, leaf, kind, entry: typeof entry === "string" ? entry : null });
    last = index;
  }
  return entries;
}

function listedStep(accesses, c) {
  const entries = parseList(c);
  if (!entries) return fail(t("complete.list_malformed"));
  const byIndex = new Map(entries.map((e) => [e.index, e]));
  for (const a of accesses.filter((access) => !isLater(access, c))) {
    const listed = byIndex.get(a.index);
    if (!listed) return fail(t("complete.not_listed", { index: a.index }));
    if (!equal(listed.leaf, b64decode(a.proof.leaf_hash)) || listed.kind !== a.kind) {
      return fail(t("complete.listed_differs", { index: a.index }));
    }
  }
  return pass(t("complete.listed_ok", { count: entries.length }), { entries });
}

async function shownStep(accesses, entries, cut, subject, hash) {
  if (cut) return fail(t("complete.cut", { count: accesses.length }));
  const shown = new Set(accesses.map((a) => a.index));
  const missing = entries.filter((e) => ACCESS_KINDS.includes(e.kind) && !shown.has(e.index));
  if (missing.length) {
    return fail(t("complete.not_shown", { indexes: missing.map((e) => e.index).join(t("witness.separator")), count: missing.length }));
  }
  // Entries of other kinds (a consent's lifecycle events) are not accesses; when the hub gives
  // their text, it must hash to the leaf, name me and say that kind.
  const others = entries.filter((e) => !ACCESS_KINDS.includes(e.kind));
  const untold = others.find((e) => e.entry === null);
  if (untold) return fail(t("complete.other_untold", { index: untold.index }));
  for (const e of others) {
    const said = readEntry(e.entry);
    const hashed = equal(await leafHash(encoder.encode(e.entry), hash), e.leaf);
    if (!hashed || !said || said.kind !== e.kind || said.subject !== subject) {
      return fail(t("complete.other_differs", { index: e.index }));
    }
  }
  const count = entries.length - others.length;
  if (!others.length) return pass(t("complete.shown_ok", { count }), { count });
  return pass(t("complete.shown_others", { count, others: others.length }), { count });
}

async function mapProofStep(mapRoot, c, entries, hash) {
  const proof = typeof c.map_proof === "string" ? b64decode(c.map_proof) : null;
  const pairs = entries.map(({ index, leaf }) => ({ index, leaf }));
  const key = await subjectKey(c.subject, hash);
  const ok = proof !== null && (await verifyComplete(mapRoot, key, pairs, proof, c.tree_size, hash));
  return ok ? pass(t("complete.proved", { count: entries.length, size: c.tree_size })) : fail(t("complete.proof_refused"));
}
