// Fetch wrapper for the manager's REST API (api.md §1–2): same-origin cookies, JSON in and out,
// X-CSRF-Token on writes, ApiError on failure, and a redirect to /login when the session is gone.

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const LOGIN_PATH = '/api/v1/auth/login';

let csrfFallback = null;

/** An error answer from the API, carrying the §1.3 body fields. */
export class ApiError extends Error {
  constructor(status, body = {}, fallbackText = '') {
    const text = typeof body.error === 'string' && body.error ? body.error : fallbackText || `Request failed (${status})`;
    super(text);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code || (status === 0 ? 'network_error' : `http_${status}`);
    this.error = text;
    this.fields = Array.isArray(body.fields) ? body.fields : [];
    this.node_error_code = body.node_error_code ?? null;
    this.node_error = body.node_error ?? null;
    this.required_role = body.required_role ?? null;
    this.retry_after_secs = Number.isFinite(body.retry_after_secs) ? body.retry_after_secs : null;
    this.request_id = body.request_id ?? null;
    this.command_id = body.command_id ?? null;
    this.body = body;
  }
}

/** Read a cookie by name (the csrf_token cookie is deliberately not HttpOnly). */
export function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

/** Remember the token from /auth/me or login, used when the cookie cannot be read. */
export function setCsrfToken(token) {
  csrfFallback = token || null;
}

/**
 * A `next` value is followed only when it is a same-origin path: starts with "/" but not "//",
 * contains no "\" and no control or whitespace characters (browsers strip tabs and newlines, which
 * would turn "/\t/evil" into "//evil"), and is at most 512 characters. Returns the path or null.
 */
export function safeNextPath(raw) {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 512) return null;
  if (!raw.startsWith('/') || raw.startsWith('//')) return null;
  if (raw.includes('\\')) return null;
  if (/[\u0000-\u0020\u007f-\u009f]/.test(raw)) return null;
  return raw;
}

/** Send the browser to the login page, remembering where it was. */
export function redirectToLogin() {
  const here = location.pathname + location.search + location.hash;
  const next = safeNextPath(here);
  const target = next && next !== '/login' && !next.startsWith('/login?') ? `/login?next=${encodeURIComponent(next)}` : '/login';
  location.assign(target);
}

/**
 * api(method, path, body?, options?) → parsed JSON (or null for 204 / empty bodies).
 * options: {query: {k: v | [v]}, redirectOn401: true, signal, headers}
 * Throws ApiError. A 401 on any route except login sends the browser to /login?next=….
 */
export async function api(method, path, body, options = {}) {
  method = method.toUpperCase();
  const url = withQuery(path, options.query);
  const headers = { Accept: 'application/json', ...(options.headers || {}) };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', signal: options.signal, redirect: 'follow' };
  if (body !== undefined && body !== null) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (WRITE_METHODS.has(method)) {
    const token = readCookie('csrf_token') || csrfFallback;
    if (token) headers['X-CSRF-Token'] = token;
  }

  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, {}, 'Cannot reach the manager — check the connection and try again');
  }

  const data = await readBody(response);
  if (response.ok) return data;

  const errBody = data && typeof data === 'object' ? { ...data } : {};
  if (errBody.retry_after_secs == null) {
    const retry = parseInt(response.headers.get('Retry-After') || '', 10);
    if (Number.isFinite(retry)) errBody.retry_after_secs = retry;
  }
  const error = new ApiError(response.status, errBody, response.statusText);
  const isLogin = new URL(url, location.origin).pathname === LOGIN_PATH;
  if (response.status === 401 && !isLogin && options.redirectOn401 !== false) redirectToLogin();
  throw error;
}

async function readBody(response) {
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') || '';
  const text = await response.text();
  if (!text) return null;
  if (type.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }
  return text;
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === '') continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

export const get = (path, options) => api('GET', path, undefined, options);
export const post = (path, body, options) => api('POST', path, body ?? {}, options);
export const put = (path, body, options) => api('PUT', path, body, options);
export const patch = (path, body, options) => api('PATCH', path, body, options);
export const del = (path, options) => api('DELETE', path, undefined, options);

// Roles (api.md §3.1). The server checks anyway; the UI only hides what a role cannot use.
export const ROLE_LEVEL = Object.freeze({ viewer: 0, operator: 1, admin: 2, super_admin: 3 });

/** True when the user's role is at least `minRole`. Unknown roles count as below viewer. */
export function hasRole(user, minRole) {
  const level = ROLE_LEVEL[user?.role] ?? -1;
  return level >= (ROLE_LEVEL[minRole] ?? Infinity);
}
