// The audit log's proofs and signatures in the browser, with WebCrypto and gm.js (no library):
//   RFC 9162 Merkle inclusion (leaf = H(0x00 ‖ entry), node = H(0x01 ‖ l ‖ r)), H SHA-256 or,
//   for a log whose key is SM2 (a `gm` hub, docs/gm.md), SM3: the tree's hash is taken from the
//   log key's type (treeHash), never from what the hub says; C2SP signed-note checkpoints and
//   vkeys, Ed25519 and SM2 note signatures, and witness cosignatures (c2sp.org/tlog-cosignature,
//   cosignature/v1, and its SM2 form of docs/gm.md).
// Each function is small and pure apart from the digests and signature checks. A refusal is a
// VerifyError whose code the page turns into words (i18n "check.<code>"); verify.js runs the
// steps in order.

import { isPoint, sm2Verify, sm3 } from "./gm.js";

const encoder = new TextEncoder();

/** A refusal with a stable code (and the values its sentence needs), shown in words by the page. */
export class VerifyError extends Error {
  constructor(code, vars = {}) {
    super(code);
    this.code = code;
    this.vars = vars;
  }
}

export function b64decode(text) {
  const clean = String(text).trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw new VerifyError("not_base64");
  try {
    return Uint8Array.from(atob(clean), (c) => c.charCodeAt(0));
  } catch {
    throw new VerifyError("not_base64");
  }
}

/** Standard base64 in its one canonical spelling (as the hub's own parser demands). */
function b64decodeCanonical(text) {
  const bytes = b64decode(text);
  if (b64encode(bytes) !== text) throw new VerifyError("not_base64");
  return bytes;
}

export function b64encode(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function equal(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** SM3, with the same (async) shape as sha256. */
export async function sm3Hash(bytes) {
  return sm3(bytes);
}

/** The hash of the tree a log key signs checkpoints of: SM3 for an SM2 key, else SHA-256. */
export function treeHash(logKey) {
  return logKey.type === NOTE_SM2 ? sm3Hash : sha256;
}

export function leafHash(entryBytes, hash = sha256) {
  return hash(concat(Uint8Array.of(0), entryBytes));
}

function nodeHash(left, right, hash) {
  return hash(concat(Uint8Array.of(1), left, right));
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to (throws if it cannot lead to one). */
export async function rootFromInclusionProof(index, size, leaf, proof, hash = sha256) {
  if (!(index >= 0 && index < size)) throw new VerifyError("index_outside");
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== 32) throw new VerifyError("proof_hash_size");
    if (sn === 0) throw new VerifyError("proof_too_long");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r, hash);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, p, hash);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new VerifyError("proof_too_short");
  return r;
}

// Signature types of a vkey: the log's Ed25519 note signature, a witness's Ed25519
// cosignature, a witness's ML-DSA-44 cosignature (which WebCrypto cannot verify), each one
// byte; and after C2SP's reserved 0xff, an identifier: a `gm` log's SM2 note signature and a
// witness's SM2 cosignature (docs/gm.md). KEY_TYPES: type → [its bytes, the key's length].
export const NOTE_ED25519 = 0x01;
export const COSIGNATURE_ED25519 = 0x04;
export const COSIGNATURE_ML_DSA_44 = 0x06;
export const NOTE_SM2 = "tongban/sm2-sm3";
export const COSIGNATURE_SM2 = "tongban/cosignature-sm2-sm3";
const KEY_TYPES = new Map([
  [NOTE_ED25519, [Uint8Array.of(NOTE_ED25519), 32]],
  [COSIGNATURE_ED25519, [Uint8Array.of(COSIGNATURE_ED25519), 32]],
  [COSIGNATURE_ML_DSA_44, [Uint8Array.of(COSIGNATURE_ML_DSA_44), 1312]],
  [NOTE_SM2, [concat(Uint8Array.of(0xff), encoder.encode(NOTE_SM2)), 65]],
  [COSIGNATURE_SM2, [concat(Uint8Array.of(0xff), encoder.encode(COSIGNATURE_SM2)), 65]],
]);
const MAX_TIMESTAMP = 2n ** 63n - 1n;

/** signed-note: a key name is non-empty, without spaces, "+" or control characters. */
export function isKeyName(name) {
  return typeof name === "string" && /^[^\s+\p{Cc}]+$/u.test(name);
}

/** Whether type is a log's (a note signature's), not a witness's. */
export function isLogKeyType(type) {
  return type === NOTE_ED25519 || type === NOTE_SM2;
}

/** The type whose bytes begin raw, or undefined. */
function typeOf(raw) {
  for (const [type, [bytes]] of KEY_TYPES) {
    if (raw.length > bytes.length && equal(raw.subarray(0, bytes.length), bytes)) return type;
  }
  return undefined;
}

/**
 * A C2SP vkey "<name>+<hex key id>+<base64(type ‖ key)>" → {name, keyId, type, publicKey}, of
 * any of the five types; the key id must be SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4], and an SM2
 * key a point of the curve.
 */
export async function parseKey(text) {
  // Split at the first two "+" only: the base64 key may contain "+" itself.
  const parts = String(text).trim().split("+");
  const [name, idHex] = parts;
  if (!isKeyName(name) || !/^[0-9a-fA-F]{8}$/.test(idHex || "")) throw new VerifyError("vkey_malformed");
  const raw = b64decodeCanonical(parts.slice(2).join("+"));
  const type = typeOf(raw);
  if (type === undefined) throw new VerifyError("vkey_type");
  const [typeBytes, size] = KEY_TYPES.get(type);
  if (raw.length !== typeBytes.length + size) throw new VerifyError("vkey_length");
  const publicKey = raw.slice(typeBytes.length);
  if (size === 65 && !isPoint(publicKey)) throw new VerifyError("vkey_point");
  const keyId = await keyIdOf(name, type, publicKey);
  const claimed = Uint8Array.from(idHex.match(/../g), (pair) => parseInt(pair, 16));
  if (!equal(keyId, claimed)) throw new VerifyError("vkey_id");
  return { name, keyId, type, publicKey };
}

/** A log's verifier key (type 0x01, Ed25519, or an SM2 note key). */
export async function parseVkey(text) {
  const key = await parseKey(text);
  if (!isLogKeyType(key.type)) throw new VerifyError("vkey_not_log");
  return key;
}

async function keyIdOf(name, type, publicKey) {
  const [typeBytes] = KEY_TYPES.get(type);
  const digest = await sha256(concat(encoder.encode(name), Uint8Array.of(0x0a), typeBytes, publicKey));
  return digest.slice(0, 4);
}

/** A signed note → {text, origin, size, root, extensions, signatures: [{name, keyId,
 * signature}]}; extensions are the body's lines after the root (such as the subject map's
 * "tongban/vmap/v1 <root>"), kept as text; a signature is what follows the key id (a
 * cosignature's timestamp included). */
export function parseCheckpoint(note) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new VerifyError("note_unsigned");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  if (lines.length > 100) throw new VerifyError("note_too_many_signatures");
  const signatures = lines.map((line) => {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!match || !isKeyName(match[1])) throw new VerifyError("signature_line");
    const blob = b64decodeCanonical(match[2]);
    if (blob.length < 5) throw new VerifyError("signature_line");
    return { name: match[1], keyId: blob.slice(0, 4), signature: blob.slice(4) };
  });
  const [origin, size, root, ...extensions] = text.slice(0, -1).split("\n");
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size || "")) throw new VerifyError("size_malformed");
  const rootBytes = b64decode(root || "");
  if (rootBytes.length !== 32) throw new VerifyError("root_size");
  return { text, origin, size: Number(size), root: rootBytes, extensions, signatures };
}

function linesOf(checkpoint, key) {
  return checkpoint.signatures.filter((s) => s.name === key.name && equal(s.keyId, key.keyId));
}

function ed25519Key(publicKey) {
  return crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
}

/** A verifier of one public key: async (signature, message) → whether it verifies (WebCrypto
 * Ed25519, or gm.js's SM2 with SM3 and the standard distinguishing ID). */
async function signatureChecker(key) {
  if (key.type === NOTE_SM2 || key.type === COSIGNATURE_SM2) {
    return async (signature, message) => sm2Verify(key.publicKey, message, signature);
  }
  const ed25519 = await ed25519Key(key.publicKey);
  return (signature, message) => crypto.subtle.verify("Ed25519", ed25519, signature, message);
}

/** Whether the note carries a valid signature by vkey (an Ed25519 or an SM2 log key). */
export async function verifyNoteSignature(checkpoint, vkey) {
  const mine = linesOf(checkpoint, vkey);
  if (mine.length === 0) return false;
  const verify = await signatureChecker(vkey);
  for (const { signature } of mine) {
    if (signature.length !== 64) return false;
    if (!(await verify(signature, encoder.encode(checkpoint.text)))) return false;
  }
  return true;
}

/** What an Ed25519 or SM2 witness signs: "cosignature/v1\n", "time <t>\n", then the checkpoint
 * body. */
export function cosignedMessage(checkpoint, timestamp) {
  return encoder.encode(`cosignature/v1\ntime ${timestamp}\n${checkpoint.text}`);
}

/**
 * What the note says of one witness key: {status: "absent"} (no line of its name and key id),
 * "unverifiable" (an ML-DSA-44 key: WebCrypto has no ML-DSA), "invalid" (a line of that name and
 * key id whose cosignature fails: forged, not merely absent), or "cosigned" with the newest
 * timestamp (POSIX seconds, a BigInt).
 */
export async function findCosignature(checkpoint, witnessKey) {
  if (witnessKey.type !== COSIGNATURE_ED25519 && witnessKey.type !== COSIGNATURE_SM2) {
    return { status: "unverifiable" };
  }
  const mine = linesOf(checkpoint, witnessKey);
  if (mine.length === 0) return { status: "absent" };
  const verify = await signatureChecker(witnessKey);
  let newest = 0n;
  for (const { signature: blob } of mine) {
    if (blob.length !== 8 + 64) return { status: "invalid" };
    const timestamp = new DataView(blob.buffer, blob.byteOffset, 8).getBigUint64(0);
    if (timestamp === 0n || timestamp > MAX_TIMESTAMP) return { status: "invalid" };
    const message = cosignedMessage(checkpoint, timestamp);
    if (!(await verify(blob.slice(8), message))) {
      return { status: "invalid" };
    }
    if (timestamp > newest) newest = timestamp;
  }
  return { status: "cosigned", timestamp: newest };
}
