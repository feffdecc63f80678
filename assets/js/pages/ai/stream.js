// POST /api/v1/ai/chat with `Accept: text/event-stream` (api.md §12.3, streamed variant): the reply
// text arrives as `delta` events while the model writes it; `done` carries the same JSON body as
// the non-streamed call, `error` an error body with its HTTP status. Refusals before the model is
// asked (validation, rate limit, provider not configured) come back as ordinary JSON errors.

/**
 * streamChat(api, body, {csrf, signal, onEvent}) → Promise<done body>
 * onEvent(kind, data) receives `start`, `delta` ({text}) and `repair`. Throws api.ApiError.
 */
export async function streamChat(api, body, { csrf, signal, onEvent }) {
  let response;
  try {
    response = await fetch('/api/v1/ai/chat', {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
      headers: { Accept: 'text/event-stream', 'Content-Type': 'application/json', 'X-CSRF-Token': csrf || '' },
      body: JSON.stringify(body),
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new api.ApiError(0, {}, 'Cannot reach the manager — check the connection and try again');
  }
  const type = response.headers.get('Content-Type') || '';
  if (!type.includes('text/event-stream')) {
    let data = {};
    try {
      data = await response.json();
    } catch {
      data = {};
    }
    if (response.ok) return data;
    if (response.status === 401) api.redirectToLogin();
    const retry = parseInt(response.headers.get('Retry-After') || '', 10);
    if (data && data.retry_after_secs == null && Number.isFinite(retry)) data.retry_after_secs = retry;
    throw new api.ApiError(response.status, data || {}, response.statusText);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = nextBoundary(buffer)) !== null) {
      const block = buffer.slice(0, cut.start);
      buffer = buffer.slice(cut.end);
      const event = parseEvent(block);
      if (!event) continue;
      if (event.name === 'done') return event.data;
      if (event.name === 'error') throw new api.ApiError(event.data?.status || 502, event.data || {});
      onEvent(event.name, event.data);
    }
    if (done) break;
  }
  throw new api.ApiError(502, { error: 'The reply stream ended early; try again', code: 'ai_provider_error' });
}

function nextBoundary(text) {
  const match = /\r?\n\r?\n/.exec(text);
  return match ? { start: match.index, end: match.index + match[0].length } : null;
}

function parseEvent(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return null;
  try {
    return { name, data: JSON.parse(data.join('\n')) };
  } catch {
    return null;
  }
}
