// AI assistant (product.md §4.14, §8): threads on the left, the conversation in the middle, the
// target node / provider / model bar on top. Replies stream in as the model writes them and are
// rendered by our own allow-list markdown renderer; proposals come back as cards with the
// server's diff, applied only by a click. Viewers can ask; changes need an operator.

import { h, replace, clear } from '../dom.js';
import { pageHeader, toastError, skeletonRows } from '../ui.js';
import { formatRelative, formatAbsolute } from '../format.js';
import { renderMarkdown } from './ai/markdown.js';
import { proposalCard } from './ai/proposal-card.js';
import { providerBar } from './ai/provider-bar.js';
import { streamChat } from './ai/stream.js';
import { threadList } from './ai/thread-list.js';

const MAX_CHARS = 10000;
const THREAD_LIMIT = 200;
const EXAMPLES = [
  'Why is Edge 1 showing warnings?',
  'Create an SRT listener on Edge 2 port 9110 feeding RTP to 192.168.50.233:7004',
  'Which flows are above 20 Mbps?',
];

export async function mount(root, ctx) {
  ctx.setTitle('AI Assistant');
  let threadId = ctx.query.get('thread') || null;
  let threadFull = false;
  let inFlight = null;

  const bar = providerBar(ctx, {});
  const threads = threadList(ctx, {
    onSelect: (id) => openThread(id),
    onNew: () => newThread(),
    onDeleted: (id) => { if (id === threadId) newThread(); },
  });
  const conversation = h('div', { id: 'ai-conversation', class: 'ai-conversation', role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  const input = h('textarea', { id: 'ai-input', class: 'input ai-input', rows: 2, maxlength: MAX_CHARS, placeholder: 'Ask about your nodes, or ask for a change…', 'aria-label': 'Message' });
  const counter = h('span', { class: 'text-[11px] text-muted tabular-nums' });
  const send = h('button', { type: 'submit', id: 'ai-send', class: 'btn btn-primary' }, 'Send');
  const stop = h('button', { type: 'button', id: 'ai-stop', class: 'btn btn-secondary', hidden: true }, 'Stop');
  const fullNote = h('p', { class: 'text-xs text-warn', hidden: true, role: 'status' }, `This thread has reached ${THREAD_LIMIT} messages — start a new thread to continue.`);
  const composer = h('form', { class: 'ai-composer', id: 'ai-composer' },
    fullNote,
    h('div', { class: 'flex items-end gap-2' }, input, h('div', { class: 'flex flex-col items-end gap-1' }, counter, h('div', { class: 'flex gap-2' }, stop, send))),
    h('p', { class: 'mt-1 text-[11px] text-muted' }, 'Enter sends, Shift+Enter adds a line. The assistant only proposes; nothing changes until you click Apply.'));

  root.append(
    pageHeader({ title: 'AI Assistant', subtitle: 'Ask about the live plant; changes come back as proposals you review and apply' }),
    h('div', { class: 'ai-layout' },
      threads.node,
      h('section', { class: 'ai-main', 'aria-label': 'Assistant' }, bar.node, conversation, composer)));

  const updateCounter = () => {
    counter.textContent = input.value.length > MAX_CHARS * 0.8 ? `${input.value.length} / ${MAX_CHARS}` : '';
  };
  input.addEventListener('input', updateCounter);
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text && !inFlight && !threadFull) sendMessage(text);
  });
  stop.addEventListener('click', () => inFlight?.abort());

  replace(conversation, skeletonRows(3));
  try {
    await bar.load();
  } catch (err) {
    toastError(err);
  }
  threads.setActive(threadId);
  threads.refresh();
  if (threadId) await openThread(threadId);
  else showEmpty();

  // -- threads ------------------------------------------------------------------------------
  function setUrl() {
    const url = new URL(location.href);
    if (threadId) url.searchParams.set('thread', threadId);
    else url.searchParams.delete('thread');
    history.replaceState(null, '', url.pathname + url.search);
  }

  function newThread() {
    inFlight?.abort();
    threadId = null;
    threadFull = false;
    setUrl();
    threads.setActive(null);
    showEmpty();
    input.focus();
  }

  async function openThread(id) {
    inFlight?.abort();
    threadId = id;
    setUrl();
    threads.setActive(id);
    replace(conversation, skeletonRows(3));
    try {
      const thread = await ctx.api.get(`/api/v1/ai/threads/${encodeURIComponent(id)}`);
      clear(conversation);
      if (thread.node_id) bar.setNode(thread.node_id);
      for (const message of thread.messages) conversation.append(message.role === 'user' ? userBubble(message.content, message.created_at) : assistantView(message));
      setFull(thread.message_count >= THREAD_LIMIT - 1);
      scrollDown();
    } catch (err) {
      if (err.status === 404) {
        toastError('That thread no longer exists');
        newThread();
      } else {
        toastError(err);
      }
    }
  }

  function setFull(full) {
    threadFull = full;
    fullNote.hidden = !full;
    input.disabled = full;
    send.disabled = full;
  }

  function showEmpty() {
    setFull(false);
    const chips = EXAMPLES.map((text) => {
      const chip = h('button', { type: 'button', class: 'ai-example' }, text);
      chip.addEventListener('click', () => {
        input.value = text;
        updateCounter();
        composer.requestSubmit();
      });
      return chip;
    });
    replace(conversation, h('div', { class: 'ai-empty', id: 'ai-empty' },
      h('p', { class: 'text-base font-semibold text-white' }, 'Ask about your nodes'),
      h('p', { class: 'mt-1 max-w-prose text-sm text-muted' }, 'The assistant sees the live state of the nodes you can see, with every secret replaced by a placeholder. Try one of these:'),
      h('div', { class: 'mt-4 flex flex-wrap justify-center gap-2' }, chips)));
  }

  // -- messages -----------------------------------------------------------------------------
  function scrollDown() {
    conversation.scrollTop = conversation.scrollHeight;
  }

  function userBubble(text, createdAt) {
    return h('div', { class: 'ai-row ai-row-user' },
      h('div', { class: 'ai-user', title: createdAt ? formatAbsolute(createdAt) : '' }, text));
  }

  function meta(message) {
    const parts = [message.provider === 'manager' ? 'bilbycast-manager' : [message.provider, message.model].filter(Boolean).join(' · ')];
    return h('p', { class: 'ai-meta', title: formatAbsolute(message.created_at) }, `${parts.join('')} · ${formatRelative(message.created_at)}`);
  }

  function assistantView(message) {
    const body = h('div', { class: 'ai-assistant-body' }, renderMarkdown(message.content));
    const card = h('div', { class: 'ai-assistant', dataset: { messageId: message.id } }, body, meta(message));
    const proposals = message.proposals || [];
    if (proposals.length) card.append(proposalList(proposals));
    return h('div', { class: 'ai-row ai-row-assistant' }, card);
  }

  function proposalList(proposals) {
    const cards = proposals.map((p) => proposalCard(p, ctx));
    const wrap = h('div', { class: 'ai-proposals' });
    const pending = cards.filter((c) => c.isPending());
    if (pending.length >= 2) {
      const all = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', dataset: { action: 'apply-all' } }, `Apply all (${pending.length})`);
      all.addEventListener('click', async () => {
        all.disabled = true;
        for (const card of cards) {
          if (!card.isPending()) continue;
          if (!(await card.apply())) break; // stop at the first failure
        }
        all.disabled = !cards.some((c) => c.isPending());
      });
      wrap.append(h('div', { class: 'flex items-center justify-between' }, h('span', { class: 'text-xs font-semibold uppercase tracking-wider text-muted' }, `${proposals.length} proposals`), all));
    }
    for (const card of cards) wrap.append(card.node);
    return wrap;
  }

  async function sendMessage(text) {
    if (conversation.querySelector('#ai-empty')) clear(conversation);
    conversation.append(userBubble(text, null));
    input.value = '';
    updateCounter();
    const body = h('div', { class: 'ai-assistant-body' });
    const typing = h('div', { class: 'ai-typing', role: 'status', 'aria-label': 'The assistant is writing' }, h('span'), h('span'), h('span'));
    const note = h('p', { class: 'ai-meta', hidden: true });
    const card = h('div', { class: 'ai-assistant ai-assistant-live' }, body, typing, note);
    conversation.append(h('div', { class: 'ai-row ai-row-assistant' }, card));
    scrollDown();

    const controller = new AbortController();
    inFlight = controller;
    send.disabled = true;
    stop.hidden = false;
    let streamed = '';
    let frame = 0;
    const paint = () => {
      frame = 0;
      replace(body, renderMarkdown(streamed));
      scrollDown();
    };
    const selection = bar.selection();
    const request = { thread_id: threadId, message: text, node_id: selection.node_id, provider: selection.provider, model: selection.model };
    try {
      const result = await streamChat(ctx.api, request, {
        csrf: ctx.api.readCookie('csrf_token') || ctx.me.csrf_token,
        signal: controller.signal,
        onEvent: (kind, data) => {
          if (kind === 'delta') {
            streamed += data.text;
            if (!frame) frame = requestAnimationFrame(paint);
          } else if (kind === 'repair') {
            streamed = '';
            note.hidden = false;
            note.textContent = 'Every proposal was refused by the server; asking the model to correct them…';
            replace(body);
          }
        },
      });
      if (frame) cancelAnimationFrame(frame);
      const message = { ...result.message, proposals: result.proposals };
      card.parentElement.replaceWith(assistantView(message));
      threadId = result.thread_id;
      setUrl();
      threads.setActive(threadId);
      const list = await threads.refresh();
      const current = list.find((t) => t.id === threadId);
      if (current) setFull(current.message_count >= THREAD_LIMIT - 1);
      scrollDown();
    } catch (err) {
      if (frame) cancelAnimationFrame(frame);
      typing.remove();
      if (err && err.name === 'AbortError') {
        note.hidden = false;
        note.textContent = 'Stopped. Nothing was saved.';
      } else {
        card.classList.add('ai-assistant-error');
        const retry = h('button', { type: 'button', class: 'btn btn-secondary btn-sm ml-auto' }, 'Retry');
        retry.addEventListener('click', () => {
          card.parentElement.previousElementSibling?.remove();
          card.parentElement.remove();
          sendMessage(text);
        });
        card.append(h('div', { class: 'ai-callout-crit mt-2 flex flex-wrap items-center gap-2', role: 'alert' },
          h('span', { class: 'break-words' }, err.error || err.message || 'The assistant failed'),
          err.code ? h('span', { class: 'chip-code' }, err.code) : null,
          err.body?.fix ? h('code', { class: 'ai-md-code' }, err.body.fix) : null,
          retry));
        toastError(err);
      }
    } finally {
      inFlight = null;
      send.disabled = threadFull;
      stop.hidden = true;
    }
  }
}
