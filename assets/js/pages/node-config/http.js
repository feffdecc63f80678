// Config reads and writes that need response headers (api.md §7.1): ETag, X-Config-Source and
// X-Config-Fetched-At on GET, If-Match on PUT. Same cookies and CSRF header as api.js; failures
// become the same ApiError.

function csrfToken(ctx) {
  return ctx.api.readCookie('csrf_token') || ctx.me?.csrf_token || null;
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function send(ctx, method, url, { body, headers = {} } = {}) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  if (method !== 'GET') {
    const token = csrfToken(ctx);
    if (token) init.headers['X-CSRF-Token'] = token;
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ctx.api.ApiError(0, {}, 'Cannot reach the manager — check the connection and try again');
  }
  const data = await readJson(response);
  if (!response.ok) {
    if (response.status === 401) ctx.api.redirectToLogin();
    throw new ctx.api.ApiError(response.status, data && typeof data === 'object' ? data : {}, response.statusText);
  }
  return { data, response };
}

/** GET /nodes/{id}/config → {config, etag, source, fetchedAt}. */
export async function fetchConfig(ctx, nodeId, { reveal = false, refresh = false } = {}) {
  const params = new URLSearchParams();
  if (reveal) params.set('reveal_secrets', 'true');
  if (refresh) params.set('refresh', 'true');
  const qs = params.toString();
  const { data, response } = await send(ctx, 'GET', `/api/v1/nodes/${encodeURIComponent(nodeId)}/config${qs ? `?${qs}` : ''}`);
  return {
    config: data,
    etag: response.headers.get('ETag'),
    source: response.headers.get('X-Config-Source') || null,
    fetchedAt: response.headers.get('X-Config-Fetched-At') || null,
  };
}

/** PUT /nodes/{id}/config with If-Match (when an ETag is known) → the command result. */
export async function putConfig(ctx, nodeId, config, etag) {
  const headers = etag ? { 'If-Match': etag } : {};
  const { data } = await send(ctx, 'PUT', `/api/v1/nodes/${encodeURIComponent(nodeId)}/config`, { body: config, headers });
  return data;
}
