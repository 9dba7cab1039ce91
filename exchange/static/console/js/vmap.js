// The subject map's verifier in the browser: a port of exchange/audit/vmap.py, whose module
// docstring is the byte-level spec (keys, chain and value hashes, the sparse Merkle tree, the
// proof encoding). Every function that takes the hub's answers resolves to false (or null) on
// malformed input and never throws. H is SHA-256 (WebCrypto) unless a caller passes another
// hash (the last parameter, an async bytes → 32 bytes): mapHash(logKey) says which one the map
// of a log with that verifier key uses.
//
//   key    H("tongban/vmap/v1 key\n" ‖ pseudonym)
//   chain  chain_0 = 32 zero bytes, chain_i = H(0x02 ‖ chain_{i-1} ‖ u64 index_i ‖ leaf_i)
//   value  H(0x03 ‖ u64 n ‖ chain_n)
//   tree   empty = 32 zero bytes; one key: H(0x00 ‖ key ‖ value); more: H(0x01 ‖ l ‖ r)
//   proof  kind ‖ u16 depth ‖ bitmap ‖ sibling… ‖ [leaf key ‖ leaf value]
//
// A verifier, in this order: decode strictly; the path is the canonical one; inclusion (the leaf
// is the key's, with the expected value) or non-inclusion (ends empty, or in another key's
// leaf); the fold from the leaf upwards is the root. Entries are {index, leaf} (leaf: the
// RFC 9162 leaf hash of the log entry, 32 bytes), in log order.

import { concat, equal, sha256 as digest, treeHash } from "./merkle.js";

export const HASH_SIZE = 32;
export const KEY_BITS = 256;
export const EMPTY = new Uint8Array(HASH_SIZE);
const KEY_TAG = new TextEncoder().encode("tongban/vmap/v1 key\n");
const LEAF = 0x00;
const NODE = 0x01;
const CHAIN = 0x02;
const VALUE = 0x03;
const ENDS_EMPTY = 0;
const ENDS_IN_LEAF = 1;

function isHash(value) {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

function isEmpty(hash) {
  return hash.every((byte) => byte === 0);
}

/** A non-negative whole number that a u64 holds exactly here (a JS number up to 2^53 − 1). */
function isCount(value) {
  return Number.isSafeInteger(value) && value >= 0;
}

function u64(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/** The hash of the subject map whose root a log with this verifier key signs: the log's tree
 * hash (exchange/audit/vmap.py binds the map's hash with the tree's): SM3 for an SM2 log key
 * (a `gm` hub), else SHA-256. */
export function mapHash(logKey) {
  return treeHash(logKey);
}

/** The map key of the subject whose audit entries carry pseudonym (64 hex digits). */
export function subjectKey(pseudonym, hash = digest) {
  return hash(concat(KEY_TAG, new TextEncoder().encode(String(pseudonym))));
}

/** A subtree holding one key: H(0x00 ‖ key ‖ value hash). */
export function leafHash(key, value, hash = digest) {
  return hash(concat(Uint8Array.of(LEAF), key, value));
}

/** A subtree holding two keys or more: H(0x01 ‖ left ‖ right). */
export function nodeHash(left, right, hash = digest) {
  return hash(concat(Uint8Array.of(NODE), left, right));
}

/** One more entry of a subject: H(0x02 ‖ chain ‖ u64 index ‖ log leaf hash). */
export function chainHash(chain, index, leaf, hash = digest) {
  return hash(concat(Uint8Array.of(CHAIN), chain, u64(index), leaf));
}

/** A subject's value: H(0x03 ‖ u64 count ‖ chain). */
export function valueHash(count, chain, hash = digest) {
  return hash(concat(Uint8Array.of(VALUE), u64(count), chain));
}

/**
 * The value of a subject with these entries ({index, leaf}, in log order, indexes strictly
 * increasing; below size when size is given): {count, chain, lastIndex, hash}, or null when
 * the list is not such a list.
 */
export async function valueOf(entries, size = null, hash = digest) {
  try {
    if (!isEntryList(entries, size)) return null;
    let chain = EMPTY;
    for (const { index, leaf } of entries) chain = await chainHash(chain, index, leaf, hash);
    const lastIndex = entries.length ? entries[entries.length - 1].index : -1;
    return { count: entries.length, chain, lastIndex, hash: await valueHash(entries.length, chain, hash) };
  } catch {
    return null;
  }
}

function isEntryList(entries, size) {
  if (!Array.isArray(entries) || !(size === null || size === undefined || isCount(size))) return false;
  let last = -1;
  for (const entry of entries) {
    if (entry === null || typeof entry !== "object") return false;
    const { index, leaf } = entry;
    if (!(isCount(index) && index > last && isHash(leaf))) return false;
    if (size !== null && size !== undefined && index >= size) return false;
    last = index;
  }
  return true;
}

/** Bit depth of key (0 is the most significant bit of the first byte). */
export function keyBit(key, depth) {
  return (key[depth >> 3] >> (7 - (depth & 7))) & 1;
}

/** Whether a and b share their first depth bits. */
function samePrefix(a, b, depth) {
  const whole = depth >> 3;
  for (let i = 0; i < whole; i += 1) if (a[i] !== b[i]) return false;
  const spare = depth & 7;
  if (!spare) return true;
  const mask = (0xff << (8 - spare)) & 0xff;
  return (a[whole] & mask) === (b[whole] & mask);
}

/**
 * The proof these bytes encode, {siblings: [32-byte hash, EMPTY where absent], leaf: {key,
 * value} | null}, or null unless they are exactly one proof: a known kind, a depth of at most
 * 256, no bitmap bit set past the depth, as many siblings as the bitmap marks (none of them 32
 * zero bytes), the leaf when the kind says so, and nothing more.
 */
export function decodeProof(data) {
  if (!(data instanceof Uint8Array) || data.length < 3) return null;
  const kind = data[0];
  const depth = (data[1] << 8) | data[2];
  if (!(kind === ENDS_EMPTY || kind === ENDS_IN_LEAF) || depth > KEY_BITS) return null;
  let at = 3 + Math.ceil(depth / 8);
  if (data.length < at) return null;
  const bitmap = data.subarray(3, at);
  if (depth % 8 && bitmap.length && bitmap[bitmap.length - 1] & (0xff >> (depth % 8))) return null;
  const present = [];
  for (let i = 0; i < depth; i += 1) if (bitmap[i >> 3] & (0x80 >> (i & 7))) present.push(i);
  const leafSize = kind === ENDS_IN_LEAF ? 2 * HASH_SIZE : 0;
  if (data.length !== at + HASH_SIZE * present.length + leafSize) return null;
  const siblings = Array.from({ length: depth }, () => EMPTY);
  for (const i of present) {
    siblings[i] = data.slice(at, at + HASH_SIZE);
    if (isEmpty(siblings[i])) return null;
    at += HASH_SIZE;
  }
  const leaf = kind === ENDS_IN_LEAF ? { key: data.slice(at, at + HASH_SIZE), value: data.slice(at + HASH_SIZE) } : null;
  return { siblings, leaf };
}

/** A decoded proof as decodeProof makes them (siblings: at most 256 hashes; leaf or null). */
function isProof(proof) {
  if (proof === null || typeof proof !== "object" || !Array.isArray(proof.siblings)) return false;
  if (proof.siblings.length > KEY_BITS || !proof.siblings.every(isHash)) return false;
  const { leaf } = proof;
  return leaf === null || (typeof leaf === "object" && isHash(leaf.key) && isHash(leaf.value));
}

/**
 * Steps 1, 2 and 4 of the spec: the decoded proof (from bytes, or as decodeProof gives it) if it
 * is the canonical path for key and folds to root, else null.
 */
async function checkedPath(root, key, proof, hash) {
  if (!(isHash(root) && isHash(key))) return null;
  const path = proof instanceof Uint8Array ? decodeProof(proof) : proof;
  if (!isProof(path)) return null;
  const depth = path.siblings.length;
  if (depth && isEmpty(path.siblings[depth - 1])) return null;
  if (path.leaf !== null && !samePrefix(path.leaf.key, key, depth)) return null;
  let value = path.leaf === null ? EMPTY : await leafHash(path.leaf.key, path.leaf.value, hash);
  for (let i = depth - 1; i >= 0; i -= 1) {
    const sibling = path.siblings[i];
    value = keyBit(key, i) ? await nodeHash(sibling, value, hash) : await nodeHash(value, sibling, hash);
  }
  return equal(value, root) ? path : null;
}

/** Whether proof shows the map of root holds value hash value at key. */
export async function verifyInclusion(root, key, value, proof, hash = digest) {
  try {
    const path = await checkedPath(root, key, proof, hash);
    return path !== null && isHash(value) && path.leaf !== null && equal(path.leaf.key, key) && equal(path.leaf.value, value);
  } catch {
    return false;
  }
}

/** Whether proof shows the map of root holds nothing at key. */
export async function verifyNonInclusion(root, key, proof, hash = digest) {
  try {
    const path = await checkedPath(root, key, proof, hash);
    return path !== null && (path.leaf === null || !equal(path.leaf.key, key));
  } catch {
    return false;
  }
}

/**
 * Whether entries ({index, leaf}, in log order) are every entry of the subject of key that the
 * map of root commits to; with size (the checkpoint's), also that each index is below it. No
 * entries: the proof must show the key absent. Each entry's own inclusion in the log is a
 * separate RFC 9162 proof.
 */
export async function verifyComplete(root, key, entries, proof, size = null, hash = digest) {
  const value = await valueOf(entries, size, hash);
  if (value === null) return false;
  if (!value.count) return verifyNonInclusion(root, key, proof, hash);
  return verifyInclusion(root, key, value.hash, proof, hash);
}
