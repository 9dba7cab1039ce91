// The hub's JSON API, called with the signed-in user's ID token. The token lives in
// sessionStorage only (gone when the tab closes); its claims are read for display and for
// choosing pages, never trusted: every route checks the token and the role itself.

const TOKEN = "tongban.id_token";
let expired = false; // the last session ended because its token expired (not yet reported)

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

/** The signed-in session {token, role, subject, department, expires}, or null. */
export function session() {
  const token = sessionStorage.getItem(TOKEN);
  if (!token) return null;
  const claims = decodeClaims(token);
  if (!claims || !claims.role || (claims.exp && claims.exp * 1000 <= Date.now())) {
    expired = Boolean(claims && claims.exp);
    sessionStorage.removeItem(TOKEN);
    return null;
  }
  return {
    token,
    role: claims.role,
    subject: claims.sub,
    department: claims.department || null,
    expires: claims.exp ? new Date(claims.exp * 1000) : null,
  };
}

/** Whether the session just ended because its ID token expired (answered once). */
export function sessionExpired() {
  const was = expired;
  expired = false;
  return was;
}

export function signIn(token) {
  if (!decodeClaims(token)) throw new Error("malformed token");
  sessionStorage.setItem(TOKEN, token);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN);
}

/** The claims of a JWT, unverified (for display and the sign-in's nonce check), or null. */
export function decodeClaims(token) {
  const parts = String(token).split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/**
 * Call the API. Options: method, body (JSON unless a string with contentType), contentType,
 * query (object; empty values dropped), as ("json" | "text"), auth (default true).
 * Resolves to the parsed answer; rejects with ApiError carrying the problem+json.
 */
export async function api(path, options = {}) {
  const { method = "GET", body, contentType, query, as = "json", auth = true } = options;
  const headers = { Accept: as === "text" ? "text/plain" : "application/json" };
  const current = session();
  if (auth && current) headers.Authorization = `Bearer ${current.token}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const response = await fetch(url, { method, headers, body: payload, credentials: "omit" });
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = null;
    }
    if (response.status === 401 && auth) {
      signOut();
      window.dispatchEvent(new CustomEvent("tongban:signed-out"));
    }
    throw new ApiError(response.status, problem);
  }
  return as === "text" ? response.text() : response.json();
}

/** The answer, or null when the endpoint is missing or refuses (optional features). */
export async function optional(path, options) {
  try {
    return await api(path, options);
  } catch (error) {
    if (error instanceof ApiError) return null;
    throw error;
  }
}
