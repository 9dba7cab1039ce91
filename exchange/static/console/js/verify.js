// "Verify in the browser": an auditor's checks of one audit entry, in this order, each reported
// as it ends, the first failure stopping the rest:
//   leaf        H(0x00 ‖ the entry's canonical text) is the entry's leaf hash, H the hash of the
//               log's tree as its published verifier key's type says (SHA-256 for Ed25519,
//               SM3 for an SM2 key of a `gm` hub);
//   checkpoint  the newest signed checkpoint covers the entry (the hub signs a fresh one if not);
//   signature   the hub's signature on it verifies with the published verifier key;
//   witnesses   it meets the witness policy: the auditor's own, else the one the hub publishes.
//               When the newest does not, the newest checkpoint that does is used if it covers
//               the entry; a forged cosignature fails at once;
//   proof       the inclusion proof for that checkpoint's size walks to a root;
//   root        that root is the checkpoint's.
// The hub's answers are only inputs to these checks: nothing it says is taken on its word.

import {
  b64decode,
  b64encode,
  equal,
  leafHash,
  parseCheckpoint,
  parseVkey,
  rootFromInclusionProof,
  treeHash,
  verifyNoteSignature,
  VerifyError,
} from "./merkle.js";
import { checkNote, parsePolicy } from "./policy.js";

export const STEPS = ["leaf", "checkpoint", "signature", "witnesses", "proof", "root"];
const encoder = new TextEncoder();

/**
 * fetchers: {checkpoint(), signCheckpoint(), vkey(), proof(index, size), policy() → {text,
 * source: "own" | "hub"}, witnessed() → the newest witnessed note or null, gap() →
 * /audit/witnesses or null}. onStep({id, ok, detail}) is called as each step ends; detail is
 * text, an Error (a VerifyError has a code for words), or for "witnesses" the outcome of
 * witnessCheckpoint. Resolves to true only when every step passed.
 */
export async function verifyEntry(entry, fetchers, onStep) {
  const step = (id, ok, detail = "") => {
    onStep({ id, ok, detail });
    return ok;
  };
  const guard = async (id, work) => {
    try {
      return await work();
    } catch (error) {
      step(id, false, error);
      return null;
    }
  };
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    // WebCrypto exists only in a secure context (HTTPS, or localhost).
    return step("leaf", false, new VerifyError("no_webcrypto"));
  }
  const vkey = await guard("leaf", async () => parseVkey(await fetchers.vkey()));
  if (!vkey) return false;
  const hash = treeHash(vkey);
  const leaf = await guard("leaf", () => leafHash(encoder.encode(entry.canonical), hash));
  if (!leaf) return false;
  if (!step("leaf", equal(leaf, b64decode(entry.leaf_hash)), b64encode(leaf))) return false;

  const newest = await guard("checkpoint", () => coveringCheckpoint(entry, fetchers));
  if (!newest) return false;
  if (!step("checkpoint", newest.size > entry.index, `${newest.origin} · ${newest.size}`)) {
    return false;
  }

  const signed = await guard("signature", () => verifyNoteSignature(newest, vkey));
  if (signed === null) return false;
  if (!step("signature", signed, vkey.name)) return false;

  const witnessed = await guard("witnesses", () => witnessCheckpoint(entry, newest, vkey, fetchers));
  if (!witnessed) return false;
  if (!step("witnesses", witnessed.ok, witnessed)) return false;
  const { checkpoint } = witnessed;

  const proof = await guard("proof", () => fetchers.proof(entry.index, checkpoint.size));
  if (!proof) return false;
  const root = await guard("proof", () =>
    rootFromInclusionProof(entry.index, checkpoint.size, leaf, proof.proof.map(b64decode), hash),
  );
  if (!root) return false;
  if (!step("proof", true, `${proof.proof.length}`)) return false;
  return step("root", equal(root, checkpoint.root), b64encode(root));
}

/** The newest checkpoint; a freshly signed one when the newest does not cover the entry. */
async function coveringCheckpoint(entry, fetchers) {
  const newest = parseCheckpoint(await fetchers.checkpoint());
  if (newest.size > entry.index) return newest;
  return parseCheckpoint(await fetchers.signCheckpoint());
}

/**
 * The checkpoint to prove the entry against, by the witness policy: {ok, outcome, source,
 * verdict, newest (its size), checkpoint, waiting}. outcome is "met" (the newest meets the
 * policy), "none" (the policy asks for no witness: none vouches for the log), "older" (the
 * newest does not meet it, an older witnessed checkpoint covers the entry), "forged" (a
 * witness's line does not verify) or "not_covered" (no witnessed checkpoint covers the entry
 * yet; waiting: the entries the hub says no witnessed checkpoint covers).
 */
async function witnessCheckpoint(entry, newest, hubKey, fetchers) {
  const { text, source } = await fetchers.policy();
  const policy = await parsePolicy(text).catch((error) => {
    if (error instanceof VerifyError) error.vars = { ...error.vars, policy: source };
    throw error;
  });
  const verdict = await checkNote(policy, newest);
  const seen = { source, verdict, newest: newest.size, checkpoint: newest };
  if (verdict.invalid.length) return { ...seen, ok: false, outcome: "forged" };
  if (verdict.met) return { ...seen, ok: true, outcome: verdict.none ? "none" : "met" };
  const older = await witnessedCheckpoint(entry, policy, hubKey, fetchers);
  if (older) return { ...seen, ...older, ok: true, outcome: "older" };
  const gap = await fetchers.gap();
  const waiting = gap && Number.isInteger(gap.unwitnessed_entries) ? gap.unwitnessed_entries : null;
  return { ...seen, ok: false, outcome: "not_covered", waiting };
}

/** The hub's newest witnessed checkpoint, if it covers the entry and meets this policy. */
async function witnessedCheckpoint(entry, policy, hubKey, fetchers) {
  const note = await fetchers.witnessed();
  if (!note) return null;
  const checkpoint = parseCheckpoint(note);
  if (checkpoint.size <= entry.index) return null;
  if (!(await verifyNoteSignature(checkpoint, hubKey))) throw new VerifyError("witnessed_unsigned");
  const verdict = await checkNote(policy, checkpoint);
  return verdict.met && verdict.invalid.length === 0 ? { checkpoint, verdict } : null;
}
