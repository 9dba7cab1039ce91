// Only a sign-in this browser started is accepted (no login CSRF). Before asking an identity
// provider for an ID token, the console makes a random `state` and `nonce`
// (crypto.getRandomValues) and keeps them in sessionStorage; a token is taken only when it comes
// back with that `state` and carries that `nonce` claim, once, within ten minutes. A token handed
// to the console any other way (someone else's link to /console#id_token=…) is refused, and the
// console stays signed out: otherwise an attacker could sign a victim into the attacker's account.

import { decodeClaims, signIn } from "./api.js";

const PENDING = "tongban.signin.pending";
const MAX_AGE_MS = 10 * 60 * 1000;

function randomToken() {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Start a sign-in: a fresh {state, nonce}, remembered in this tab until it completes. */
export function beginSignIn() {
  const pending = { state: randomToken(), nonce: randomToken(), started: Date.now() };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  return pending;
}

/** Forget the sign-in this tab started (the IdP answered with an error instead of a token). */
export function abandonSignIn() {
  sessionStorage.removeItem(PENDING);
}

/** The sign-in this tab started, forgotten as it is read (each is good for one token). */
function takePending() {
  const stored = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  if (!stored) return null;
  try {
    const pending = JSON.parse(stored);
    const fresh = Date.now() - Number(pending.started) < MAX_AGE_MS;
    const whole = typeof pending.state === "string" && typeof pending.nonce === "string";
    return fresh && whole && pending.state && pending.nonce ? pending : null;
  } catch {
    return null;
  }
}

/**
 * Finish the sign-in this tab started with the token the IdP returned and the state it came
 * back with. Signs in and answers true only if the state is the one started here and the
 * token's nonce claim is the one sent; otherwise answers false and signs nobody in.
 */
export function completeSignIn(token, state) {
  const pending = takePending();
  if (!pending || typeof state !== "string" || state !== pending.state) return false;
  const claims = decodeClaims(token);
  if (!claims || typeof claims.nonce !== "string" || claims.nonce !== pending.nonce) return false;
  signIn(token);
  return true;
}
