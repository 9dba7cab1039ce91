// Witness policies (c2sp.org/tlog-policy) in the browser, with the rules and refusals of the
// hub's own parser (exchange/audit/policy.py): which logs count, which witnesses are known, and
// which of them must have cosigned a checkpoint before it counts as published.
//
//   log <vkey> [<url>]
//   witness <name> <vkey> [<url>]
//   group <name> all|any|<k> <member>...
//   quorum <name>|none
//
// Words are separated by spaces or tabs; blank lines and "#" comments are ignored. A group or
// the quorum names only witnesses and groups of earlier lines (one namespace, in which "none" is
// reserved); no two keys repeat; there is exactly one quorum line. A refusal is a VerifyError
// carrying the line number. checkNote gives the verdict of a policy on one checkpoint.

import { VerifyError, findCosignature, isLogKeyType, parseKey, verifyNoteSignature } from "./merkle.js";

export const NONE = "none";
const MAX_POLICY_CHARS = 256 * 1024;

/** The policy in text → {logs: [{key, url}], witnesses: Map, groups: Map, quorum}. */
export async function parsePolicy(text) {
  if (typeof text !== "string" || text.length > MAX_POLICY_CHARS) {
    throw new VerifyError("policy_too_large");
  }
  const policy = { logs: [], witnesses: new Map(), groups: new Map(), quorum: NONE };
  const keys = new Set();
  let quorums = 0;
  for (const [at, raw] of text.split("\n").entries()) {
    const words = raw.replaceAll("\t", " ").split(" ").filter(Boolean);
    if (!words.length || words[0].startsWith("#")) continue;
    const [kind, ...rest] = words;
    try {
      if (kind === "log") await addLog(policy, rest, keys);
      else if (kind === "witness") await addWitness(policy, rest, keys);
      else if (kind === "group") addGroup(policy, rest);
      else if (kind === "quorum") setQuorum(policy, rest, (quorums += 1));
      else throw new VerifyError("policy_unknown_kind", { kind: kind.slice(0, 32) });
    } catch (error) {
      throw atLine(error, at + 1);
    }
  }
  if (quorums !== 1) throw new VerifyError("policy_quorum_count");
  return policy;
}

function atLine(error, line) {
  const refusal = error instanceof VerifyError ? error : new VerifyError("policy_line");
  return new VerifyError(refusal.code, { ...refusal.vars, line });
}

async function addLog(policy, words, keys) {
  if (words.length < 1 || words.length > 2) throw new VerifyError("policy_log_line");
  const key = await parseKey(words[0]);
  if (!isLogKeyType(key.type)) throw new VerifyError("vkey_not_log");
  uniqueKey(keys, key);
  policy.logs.push({ key, url: url(words.slice(1)) });
}

async function addWitness(policy, words, keys) {
  if (words.length < 2 || words.length > 3) throw new VerifyError("policy_witness_line");
  const name = newName(policy, words[0]);
  const key = await parseKey(words[1]);
  if (isLogKeyType(key.type)) throw new VerifyError("vkey_not_cosigner");
  uniqueKey(keys, key);
  policy.witnesses.set(name, { name, key, url: url(words.slice(2)) });
}

function addGroup(policy, words) {
  if (words.length < 3) throw new VerifyError("policy_group_line");
  const name = newName(policy, words[0]);
  const members = words.slice(2);
  const unknown = members.find((member) => !defined(policy, member));
  if (unknown !== undefined) {
    throw new VerifyError("policy_undefined_member", { name: unknown.slice(0, 64) });
  }
  if (new Set(members).size !== members.length) throw new VerifyError("policy_member_twice");
  policy.groups.set(name, { name, threshold: threshold(words[1], members.length), members });
}

function threshold(spec, count) {
  if (spec === "all") return count;
  if (spec === "any") return 1;
  if (!/^[1-9][0-9]*$/.test(spec)) throw new VerifyError("policy_threshold");
  if (Number(spec) > count) throw new VerifyError("policy_threshold_too_large");
  return Number(spec);
}

function setQuorum(policy, words, quorums) {
  if (quorums > 1) throw new VerifyError("policy_second_quorum");
  if (words.length !== 1) throw new VerifyError("policy_quorum_line");
  const [name] = words;
  if (name !== NONE && !defined(policy, name)) {
    throw new VerifyError("policy_undefined_quorum", { name: name.slice(0, 64) });
  }
  policy.quorum = name;
}

function defined(policy, name) {
  return policy.witnesses.has(name) || policy.groups.has(name);
}

function newName(policy, name) {
  if (name === NONE) throw new VerifyError("policy_reserved");
  if (defined(policy, name)) throw new VerifyError("policy_defined_twice", { name: name.slice(0, 64) });
  // As Python's str.isprintable: no control, format, private or separator character.
  if ([...name].length > 128 || /[\p{C}\p{Z}]/u.test(name)) throw new VerifyError("policy_name");
  return name;
}

function uniqueKey(keys, key) {
  const hex = Array.from(key.publicKey, (byte) => byte.toString(16).padStart(2, "0")).join("");
  if (keys.has(hex)) throw new VerifyError("policy_repeated_key");
  keys.add(hex);
}

function url(words) {
  if (!words.length) return null;
  let parsed;
  try {
    parsed = new URL(words[0]);
  } catch {
    throw new VerifyError("policy_url");
  }
  if (!["http:", "https:"].includes(parsed.protocol) || !parsed.host) {
    throw new VerifyError("policy_url");
  }
  return words[0].replace(/\/+$/, "");
}

/** Whether the witness or group name is satisfied, given the Set of witnesses who cosigned. */
export function satisfied(policy, name, cosigned) {
  if (name === NONE) return true;
  if (policy.witnesses.has(name)) return cosigned.has(name);
  const group = policy.groups.get(name);
  const count = group.members.filter((member) => satisfied(policy, member, cosigned)).length;
  return count >= group.threshold;
}

/** The quorum as a tree for words: {kind: "none"}, {kind: "witness", name} or
 * {kind: "group", name, threshold, members: [tree…]}. */
export function quorumTree(policy, name = policy.quorum) {
  if (name === NONE) return { kind: "none" };
  if (policy.witnesses.has(name)) return { kind: "witness", name };
  const group = policy.groups.get(name);
  const members = group.members.map((member) => quorumTree(policy, member));
  return { kind: "group", name, threshold: group.threshold, members };
}

/**
 * The verdict of policy on a parsed checkpoint. The note must first be signed by a log the
 * policy lists for its origin (else a VerifyError); then each witness's lines are checked:
 * {met, none, size, quorum, cosigned, absent, unverifiable, invalid} (witness names by what
 * their lines said). A forged line makes the verdict unmet whatever the quorum, and an ML-DSA-44
 * witness (which this browser cannot check) never counts.
 */
export async function checkNote(policy, checkpoint) {
  await checkLog(policy, checkpoint);
  const found = { cosigned: [], absent: [], unverifiable: [], invalid: [] };
  for (const witness of policy.witnesses.values()) {
    const { status } = await findCosignature(checkpoint, witness.key);
    found[status].push(witness.name);
  }
  const quorumMet = satisfied(policy, policy.quorum, new Set(found.cosigned));
  return {
    met: found.invalid.length === 0 && quorumMet,
    none: policy.quorum === NONE,
    size: checkpoint.size,
    quorum: quorumTree(policy),
    ...found,
  };
}

async function checkLog(policy, checkpoint) {
  if (!policy.logs.length) throw new VerifyError("policy_no_log");
  const logs = policy.logs.filter((log) => log.key.name === checkpoint.origin);
  if (!logs.length) throw new VerifyError("policy_log_not_listed", { origin: checkpoint.origin });
  for (const log of logs) {
    if (await verifyNoteSignature(checkpoint, log.key)) return;
  }
  throw new VerifyError("policy_log_unsigned", { origin: checkpoint.origin });
}
