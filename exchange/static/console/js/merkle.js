// Verifying an audit entry in the browser, with WebCrypto only (no library):
//   RFC 9162 Merkle inclusion (SHA-256; leaf = H(0x00 ‖ entry), node = H(0x01 ‖ l ‖ r)),
//   C2SP signed-note checkpoints and vkeys, Ed25519 signatures.
// Each function is small and pure apart from the digests; verifyEntry runs the steps in
// order and reports every one of them, stopping at the first failure.

const encoder = new TextEncoder();

export function b64decode(text) {
  const clean = String(text).trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw new Error("not base64");
  return Uint8Array.from(atob(clean), (c) => c.charCodeAt(0));
}

export function b64encode(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

function concat(...parts) {
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

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export function leafHash(entryBytes) {
  return sha256(concat(Uint8Array.of(0), entryBytes));
}

function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to (throws if it cannot lead to one). */
export async function rootFromInclusionProof(index, size, leaf, proof) {
  if (!(index >= 0 && index < size)) throw new Error("index outside the tree");
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== 32) throw new Error("a proof hash is not 32 bytes");
    if (sn === 0) throw new Error("the proof is too long");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("the proof is too short");
  return r;
}

/** C2SP vkey "<name>+<hex key id>+<base64(0x01 ‖ key)>" → {name, keyId, publicKey}. */
export async function parseVkey(text) {
  // Split at the first two "+" only: the base64 key may contain "+" itself.
  const parts = String(text).trim().split("+");
  const [name, idHex] = parts;
  const key = parts.slice(2).join("+");
  if (!name || !/^[0-9a-fA-F]{8}$/.test(idHex || "")) throw new Error("malformed verifier key");
  const raw = b64decode(key || "");
  if (raw.length !== 33 || raw[0] !== 1) throw new Error("not an Ed25519 verifier key");
  const publicKey = raw.slice(1);
  const keyId = await noteKeyId(name, publicKey);
  const claimed = Uint8Array.from(idHex.match(/../g), (pair) => parseInt(pair, 16));
  if (!equal(keyId, claimed)) throw new Error("the key id does not match the key");
  return { name, keyId, publicKey };
}

async function noteKeyId(name, publicKey) {
  const digest = await sha256(concat(encoder.encode(name), Uint8Array.of(0x0a, 0x01), publicKey));
  return digest.slice(0, 4);
}

/** A signed note → {text, origin, size, root, signatures: [{name, keyId, signature}]}. */
export function parseCheckpoint(note) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new Error("the note has no signature block");
  const text = note.slice(0, split + 1);
  const signatures = note
    .slice(split + 2, -1)
    .split("\n")
    .map((line) => {
      const match = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!match) throw new Error("a signature line is malformed");
      const blob = b64decode(match[2]);
      if (blob.length !== 68) throw new Error("a signature is not an Ed25519 one");
      return { name: match[1], keyId: blob.slice(0, 4), signature: blob.slice(4) };
    });
  const [origin, size, root] = text.split("\n");
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size || "")) throw new Error("the tree size is malformed");
  const rootBytes = b64decode(root || "");
  if (rootBytes.length !== 32) throw new Error("the root hash is not 32 bytes");
  return { text, origin, size: Number(size), root: rootBytes, signatures };
}

/** Whether the note carries a valid signature by vkey (checked with WebCrypto Ed25519). */
export async function verifyNoteSignature(checkpoint, vkey) {
  const mine = checkpoint.signatures.filter(
    (s) => s.name === vkey.name && equal(s.keyId, vkey.keyId),
  );
  if (mine.length === 0) return false;
  const key = await crypto.subtle.importKey("raw", vkey.publicKey, { name: "Ed25519" }, false, [
    "verify",
  ]);
  for (const { signature } of mine) {
    const ok = await crypto.subtle.verify("Ed25519", key, signature, encoder.encode(checkpoint.text));
    if (!ok) return false;
  }
  return true;
}

/**
 * Verify an entry against the log's latest signed checkpoint. fetchers: {checkpoint(),
 * signCheckpoint(), vkey(), proof(index, size)}. onStep(step) is called as each step ends, with
 * {id, ok, detail}. Resolves to true only when every step passed.
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
      step(id, false, error.message);
      return null;
    }
  };
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    // WebCrypto exists only in a secure context (HTTPS, or localhost).
    return step("leaf", false, "WebCrypto is not available: serve the console over HTTPS");
  }
  const leaf = await guard("leaf", () => leafHash(encoder.encode(entry.canonical)));
  if (!leaf) return false;
  if (!step("leaf", equal(leaf, b64decode(entry.leaf_hash)), b64encode(leaf))) return false;

  let checkpoint = await guard("checkpoint", async () => parseCheckpoint(await fetchers.checkpoint()));
  if (!checkpoint) return false;
  if (checkpoint.size <= entry.index) {
    checkpoint = await guard("checkpoint", async () =>
      parseCheckpoint(await fetchers.signCheckpoint()),
    );
    if (!checkpoint) return false;
  }
  if (!step("checkpoint", checkpoint.size > entry.index, `${checkpoint.origin} · ${checkpoint.size}`)) {
    return false;
  }

  const vkey = await guard("signature", async () => parseVkey(await fetchers.vkey()));
  if (!vkey) return false;
  const signed = await guard("signature", () => verifyNoteSignature(checkpoint, vkey));
  if (signed === null) return false;
  if (!step("signature", signed, vkey.name)) return false;

  const proof = await guard("proof", () => fetchers.proof(entry.index, checkpoint.size));
  if (!proof) return false;
  const root = await guard("proof", () =>
    rootFromInclusionProof(entry.index, checkpoint.size, leaf, proof.proof.map(b64decode)),
  );
  if (!root) return false;
  if (!step("proof", true, `${proof.proof.length}`)) return false;
  return step("root", equal(root, checkpoint.root), b64encode(root));
}
