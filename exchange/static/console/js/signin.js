// Only a sign-in this browser started is accepted (no login CSRF). Before asking an identity
// provider for anything, the console makes a random `state`, `nonce` and PKCE `code_verifier`
// (crypto.getRandomValues) and keeps them in sessionStorage; an answer is taken only when it
// comes back with that `state`, once, within ten minutes, and the ID token it yields carries that
// `nonce` claim. An answer handed to the console any other way (someone else's link to
// /console#code=… or #id_token=…) is refused, and the console stays signed out: otherwise an
// attacker could sign a victim into the attacker's account.
//
// The organisation's OpenID provider is used with the authorization code flow and PKCE (S256,
// RFC 7636): the browser sends the code_challenge, gets the code back in the URL fragment and
// hands code and verifier to the hub (POST /sign-in/token), which redeems them at the provider
// and verifies the ID token (ADR 0007). The code is worth nothing without the verifier, which
// never leaves this tab but for the hub.

import { ApiError, api, decodeClaims, signIn } from "./api.js";

const PENDING = "tongban.signin.pending";
const MAX_AGE_MS = 10 * 60 * 1000;

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomToken() {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return base64url(bytes); // 43 characters: also a valid PKCE code_verifier
}

/** Start a sign-in: a fresh {state, nonce, verifier}, remembered in this tab until it
 * completes; `issuer` is the provider that is to answer (checked against its `iss`). */
export function beginSignIn(issuer = null) {
  const pending = { state: randomToken(), nonce: randomToken(), verifier: randomToken(), issuer, started: Date.now() };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  return pending;
}

/** Forget the sign-in this tab started (the IdP answered with an error instead of a token). */
export function abandonSignIn() {
  sessionStorage.removeItem(PENDING);
}

/** The sign-in this tab started, forgotten as it is read (each is good for one answer). */
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

/** Whether `token` carries the nonce of `pending`; if so, sign in with it. */
function signInWith(token, pending) {
  const claims = decodeClaims(token);
  if (!claims || typeof claims.nonce !== "string" || claims.nonce !== pending.nonce) return false;
  signIn(token);
  return true;
}

/**
 * Finish the sign-in this tab started with the token the IdP returned and the state it came
 * back with. Signs in and answers true only if the state is the one started here and the
 * token's nonce claim is the one sent; otherwise answers false and signs nobody in.
 */
export function completeSignIn(token, state) {
  const pending = takePending();
  if (!pending || typeof state !== "string" || state !== pending.state) return false;
  return signInWith(token, pending);
}

/** The S256 code_challenge of a verifier: BASE64URL(SHA-256(verifier)). */
async function codeChallenge(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The provider's authorisation URL for a new code-flow sign-in of this tab. `provider` is the
 * hub's GET /sign-in/provider: {issuer, authorization_endpoint, client_id, scope, redirect_uri}. */
export async function codeSignInUrl(provider) {
  const { state, nonce, verifier } = beginSignIn(provider.issuer);
  const url = new URL(provider.authorization_endpoint);
  const params = {
    response_type: "code",
    response_mode: "fragment", // the code stays out of the hub's access log
    scope: provider.scope || "openid",
    client_id: provider.client_id,
    redirect_uri: provider.redirect_uri,
    state,
    nonce,
    code_challenge: await codeChallenge(verifier),
    code_challenge_method: "S256",
  };
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

/**
 * Finish a code-flow sign-in from the provider's answer (the fragment's parameters). Resolves
 * to null when signed in, else to the i18n key saying why not: `signin.unsolicited` for an
 * answer to no sign-in of this tab (wrong or replayed state, another issuer), the hub's refusal
 * of the code (`signin.code_refused`), an unreachable provider (`signin.provider_unavailable`).
 */
export async function completeCodeSignIn(params) {
  const pending = takePending();
  const state = params.get("state");
  if (!pending || !pending.verifier || typeof state !== "string" || state !== pending.state) {
    return "signin.unsolicited";
  }
  const iss = params.get("iss"); // RFC 9207: the provider says who answered
  if (iss !== null && iss !== pending.issuer) return "signin.unsolicited";
  let answer;
  try {
    answer = await api("/sign-in/token", {
      method: "POST",
      body: { code: params.get("code"), code_verifier: pending.verifier, nonce: pending.nonce },
      auth: false,
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 503) return "signin.provider_unavailable";
    return "signin.code_refused";
  }
  return signInWith(answer.id_token, pending) ? null : "signin.unsolicited";
}

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = "10X98765432";

/** Why `number` cannot be a resident ID (GB 11643) — an i18n key — or null if its shape and
 * check character are right (the hub checks the division and birth date too). */
export function residentIdProblem(number) {
  if (!/^[0-9]{17}[0-9Xx]$/.test(number)) return "signin.id_shape";
  const sum = WEIGHTS.reduce((total, weight, i) => total + weight * Number(number[i]), 0);
  return CHECK[sum % 11] === number[17].toUpperCase() ? null : "signin.id_check_digit";
}
