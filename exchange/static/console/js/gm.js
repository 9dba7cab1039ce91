// The national algorithms (国密) the console needs to check a `gm` hub's answers, in plain
// JavaScript with BigInt (WebCrypto has neither): SM3 (GB/T 32905-2016) and SM2 signature
// verification (GB/T 32918.2-2016 §7) on the recommended curve sm2p256v1 (GB/T 32918.5-2017),
// with SM3 and the distinguishing ID 1234567812345678 (GM/T 0009-2012 §10), as docs/gm.md
// fixes them. Verification handles only public values, so nothing here needs to run in
// constant time; there is no signing and no SM4. Why this module rather than a vendored library
// is in docs/gm.md ("The console").

const IV = [0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e];

const rotl = (x, n) => ((x << (n & 31)) | (x >>> (32 - (n & 31)))) >>> 0;
const p0 = (x) => (x ^ rotl(x, 9) ^ rotl(x, 17)) >>> 0;
const p1 = (x) => (x ^ rotl(x, 15) ^ rotl(x, 23)) >>> 0;

function compress(v, block) {
  const w = new Array(68);
  for (let j = 0; j < 16; j += 1) {
    w[j] = ((block[4 * j] << 24) | (block[4 * j + 1] << 16) | (block[4 * j + 2] << 8) | block[4 * j + 3]) >>> 0;
  }
  for (let j = 16; j < 68; j += 1) {
    w[j] = (p1(w[j - 16] ^ w[j - 9] ^ rotl(w[j - 3], 15)) ^ rotl(w[j - 13], 7) ^ w[j - 6]) >>> 0;
  }
  let [a, b, c, d, e, f, g, h] = v;
  for (let j = 0; j < 64; j += 1) {
    const t = j < 16 ? 0x79cc4519 : 0x7a879d8a;
    const ss1 = rotl((rotl(a, 12) + e + rotl(t, j)) >>> 0, 7);
    const ss2 = (ss1 ^ rotl(a, 12)) >>> 0;
    const ff = j < 16 ? a ^ b ^ c : (a & b) | (a & c) | (b & c);
    const gg = j < 16 ? e ^ f ^ g : (e & f) | (~e & g);
    const tt1 = (ff + d + ss2 + (w[j] ^ w[j + 4])) >>> 0;
    const tt2 = (gg + h + ss1 + w[j]) >>> 0;
    d = c;
    c = rotl(b, 9);
    b = a;
    a = tt1;
    h = g;
    g = rotl(f, 19);
    f = e;
    e = p0(tt2);
  }
  return [a, b, c, d, e, f, g, h].map((x, i) => (x ^ v[i]) >>> 0);
}

/** SM3 of bytes (a Uint8Array): 32 bytes. */
export function sm3(bytes) {
  const length = bytes.length;
  const padded = new Uint8Array(Math.ceil((length + 9) / 64) * 64);
  padded.set(bytes);
  padded[length] = 0x80;
  new DataView(padded.buffer).setBigUint64(padded.length - 8, BigInt(length) * 8n);
  let v = IV;
  for (let at = 0; at < padded.length; at += 64) v = compress(v, padded.subarray(at, at + 64));
  const out = new Uint8Array(32);
  const view = new DataView(out.buffer);
  v.forEach((word, i) => view.setUint32(4 * i, word));
  return out;
}

// sm2p256v1
const P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
const A = 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn;
const B = 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n;
const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
const GX = 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n;
const GY = 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n;
export const DISTINGUISHING_ID = new TextEncoder().encode("1234567812345678");

const mod = (a, m = P) => ((a % m) + m) % m;

function inverse(a, m = P) {
  let [r0, r1] = [mod(a, m), m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}

function toBig(bytes) {
  let out = 0n;
  for (const byte of bytes) out = (out << 8n) | BigInt(byte);
  return out;
}

function toBytes(value) {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i -= 1) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

// Points in Jacobian coordinates [X, Y, Z] (x = X/Z², y = Y/Z³); null is the point at infinity.
function double(p) {
  if (p === null || p[1] === 0n) return null;
  const [x, y, z] = p;
  const xx = mod(x * x);
  const yy = mod(y * y);
  const yyyy = mod(yy * yy);
  const zz = mod(z * z);
  const s = mod(2n * (mod((x + yy) * (x + yy)) - xx - yyyy));
  const m = mod(3n * xx + A * mod(zz * zz));
  const x3 = mod(m * m - 2n * s);
  return [x3, mod(m * (s - x3) - 8n * yyyy), mod(mod((y + z) * (y + z)) - yy - zz)];
}

function add(p, q) {
  if (p === null) return q;
  if (q === null) return p;
  const [x1, y1, z1] = p;
  const [x2, y2, z2] = q;
  const z1z1 = mod(z1 * z1);
  const z2z2 = mod(z2 * z2);
  const u1 = mod(x1 * z2z2);
  const u2 = mod(x2 * z1z1);
  const s1 = mod(y1 * z2 * z2z2);
  const s2 = mod(y2 * z1 * z1z1);
  const h = mod(u2 - u1);
  const r = mod(2n * (s2 - s1));
  if (h === 0n) return r === 0n ? double(p) : null;
  const i = mod(4n * h * h);
  const j = mod(h * i);
  const v = mod(u1 * i);
  const x3 = mod(r * r - j - 2n * v);
  const y3 = mod(r * (v - x3) - 2n * s1 * j);
  return [x3, y3, mod((mod((z1 + z2) * (z1 + z2)) - z1z1 - z2z2) * h)];
}

/** u·G + v·Q (Shamir's trick), as an affine x, or null for the point at infinity. */
function twoMultiplesX(u, v, q) {
  const g = [GX, GY, 1n];
  const both = add(g, q);
  let acc = null;
  for (let bit = 255n; bit >= 0n; bit -= 1n) {
    acc = double(acc);
    const pick = (((u >> bit) & 1n) << 1n) | ((v >> bit) & 1n);
    if (pick === 3n) acc = add(acc, both);
    else if (pick === 2n) acc = add(acc, g);
    else if (pick === 1n) acc = add(acc, q);
  }
  if (acc === null || acc[2] === 0n) return null;
  const zInverse = inverse(acc[2]);
  return mod(acc[0] * zInverse * zInverse);
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

/** Whether point (0x04 ‖ x ‖ y, 65 bytes) is a point of sm2p256v1. */
export function isPoint(point) {
  if (!(point instanceof Uint8Array) || point.length !== 65 || point[0] !== 0x04) return false;
  const x = toBig(point.subarray(1, 33));
  const y = toBig(point.subarray(33));
  return x < P && y < P && mod(y * y - (x * x * x + A * x + B)) === 0n;
}

/** GB/T 32918.2 §5.5: Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA). */
export function zValue(point, id = DISTINGUISHING_ID) {
  const entl = Uint8Array.of((id.length * 8) >> 8, (id.length * 8) & 0xff);
  return sm3(concat(entl, id, toBytes(A), toBytes(B), toBytes(GX), toBytes(GY), point.subarray(1)));
}

/**
 * Whether signature (raw r ‖ s, 64 bytes) is the SM2 signature of message by the key point
 * (0x04 ‖ x ‖ y), under SM3 and the standard distinguishing ID. Anything malformed is false.
 */
export function sm2Verify(point, message, signature) {
  if (!isPoint(point) || !(signature instanceof Uint8Array) || signature.length !== 64) return false;
  const r = toBig(signature.subarray(0, 32));
  const s = toBig(signature.subarray(32));
  if (!(r >= 1n && r < N && s >= 1n && s < N)) return false;
  const e = toBig(sm3(concat(zValue(point), message)));
  const t = (r + s) % N;
  if (t === 0n) return false;
  const q = [toBig(point.subarray(1, 33)), toBig(point.subarray(33)), 1n];
  const x1 = twoMultiplesX(s, t, q);
  return x1 !== null && (e + x1) % N === r;
}
