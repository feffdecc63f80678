// A small allow-list markdown renderer for model replies (product.md §4.14). It builds DOM nodes
// directly — headings, paragraphs, bullet and numbered lists, tables, fenced code, inline code,
// bold, italic and links — and never parses HTML: model output is untrusted text. Links open in a
// new tab with rel="noopener noreferrer" and only for http(s) URLs; images are shown as their alt
// text, never loaded. Secret placeholders ({{secret:…}}) become a neutral "secret" chip.

import { h } from '../../dom.js';

const FENCE = /^\s*(```|~~~)\s*([\w+-]*)\s*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^(\s*)[-*+]\s+(.*)$/;
const NUMBERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const MAX_CHARS = 40000;

/** Render markdown text into a DocumentFragment-like container element. */
export function renderMarkdown(text) {
  const root = h('div', { class: 'ai-md' });
  const lines = String(text ?? '').slice(0, MAX_CHARS).replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) root.append(h('p', {}, inline(paragraph.join('\n'))));
    paragraph = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(FENCE);
    if (fence) {
      flush();
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // closing fence (or end of text while streaming)
      root.append(h('pre', { class: 'ai-md-pre' }, h('code', { dataset: fence[2] ? { lang: fence[2] } : undefined }, body.join('\n'))));
      continue;
    }
    if (!line.trim()) {
      flush();
      i += 1;
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      flush();
      const level = Math.min(6, Math.max(3, heading[1].length + 2)); // h3..h6 inside a message
      root.append(h(`h${level}`, { class: 'ai-md-h' }, inline(heading[2])));
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      flush();
      root.append(h('hr', { class: 'ai-md-hr' }));
      i += 1;
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      flush();
      const header = cells(line);
      const rows = [];
      i += 2;
      while (i < lines.length && lines[i].includes('|') && lines[i].trim()) {
        rows.push(cells(lines[i]));
        i += 1;
      }
      root.append(table(header, rows));
      continue;
    }
    if (BULLET.test(line) || NUMBERED.test(line)) {
      flush();
      const [list, next] = parseList(lines, i);
      root.append(list);
      i = next;
      continue;
    }
    const quote = line.match(QUOTE);
    if (quote) {
      flush();
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) {
        body.push(lines[i].match(QUOTE)[1]);
        i += 1;
      }
      root.append(h('blockquote', { class: 'ai-md-quote' }, inline(body.join('\n'))));
      continue;
    }
    paragraph.push(line);
    i += 1;
  }
  flush();
  return root;
}

function parseList(lines, start) {
  const first = lines[start];
  const ordered = NUMBERED.test(first) && !BULLET.test(first);
  const indent = (first.match(/^\s*/) || [''])[0].length;
  const list = ordered ? h('ol', { class: 'ai-md-ol' }) : h('ul', { class: 'ai-md-ul' });
  let i = start;
  let item = null;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      // A blank line ends the list unless the next line continues it.
      const next = lines[i + 1] || '';
      if (BULLET.test(next) || NUMBERED.test(next)) { i += 1; continue; }
      break;
    }
    const bullet = line.match(BULLET);
    const numbered = line.match(NUMBERED);
    const marker = bullet || numbered;
    const depth = marker ? marker[1].length : (line.match(/^\s*/) || [''])[0].length;
    if (marker && depth > indent && item) {
      const [sub, next] = parseList(lines, i);
      item.append(sub);
      i = next;
      continue;
    }
    if (marker && depth <= indent) {
      if (depth < indent) break;
      item = h('li', {}, inline(bullet ? bullet[2] : numbered[3]));
      list.append(item);
      i += 1;
      continue;
    }
    if (item && depth > indent) {
      item.append(' ', inline(line.trim()));
      i += 1;
      continue;
    }
    break;
  }
  return [list, i];
}

function cells(line) {
  let text = line.trim();
  if (text.startsWith('|')) text = text.slice(1);
  if (text.endsWith('|') && !text.endsWith('\\|')) text = text.slice(0, -1);
  return text.split(/(?<!\\)\|/).map((cell) => cell.trim().replaceAll('\\|', '|'));
}

function table(header, rows) {
  return h('div', { class: 'ai-md-table-wrap' },
    h('table', { class: 'ai-md-table' },
      h('thead', {}, h('tr', {}, header.map((cell) => h('th', {}, inline(cell))))),
      h('tbody', {}, rows.map((row) => h('tr', {}, header.map((_, index) => h('td', {}, inline(row[index] ?? ''))))))));
}

// Inline spans, earliest match first: `code`, **bold**, *italic* / _italic_, [text](url),
// ![alt](src) (alt text only), {{secret:ref}} chips, and bare http(s) URLs.
const INLINE = [
  ['code', /`([^`\n]+)`/],
  ['image', /!\[([^\]\n]*)\]\(([^)\s]+)\)/],
  ['link', /\[([^\]\n]+)\]\(([^)\s]+)\)/],
  ['bold', /\*\*([^*\n][^*]*?)\*\*|__([^_\n][^_]*?)__/],
  ['italic', /(?<![*\w])\*([^*\s][^*\n]*?)\*(?!\*)|(?<![_\w])_([^_\s][^_\n]*?)_(?![_\w])/],
  ['secret', /\{\{secret(?::[A-Za-z0-9_-]{1,40})?\}\}/],
  ['url', /\bhttps?:\/\/[^\s<>()]+[^\s<>().,;:!?'"]/],
];

export function inline(text, depth = 0) {
  const out = [];
  let rest = String(text ?? '');
  while (rest) {
    let best = null;
    for (const [kind, re] of INLINE) {
      const match = re.exec(rest);
      if (match && (best === null || match.index < best.match.index)) best = { kind, match };
    }
    if (!best) {
      out.push(...textWithBreaks(rest));
      break;
    }
    const { kind, match } = best;
    if (match.index > 0) out.push(...textWithBreaks(rest.slice(0, match.index)));
    out.push(span(kind, match, depth));
    rest = rest.slice(match.index + match[0].length);
  }
  return out;
}

function span(kind, match, depth) {
  const inner = (value) => (depth > 4 ? [value] : inline(value, depth + 1));
  switch (kind) {
    case 'code':
      return h('code', { class: 'ai-md-code' }, match[1]);
    case 'image':
      return h('span', { class: 'text-muted' }, `[image: ${match[1] || 'no description'}]`);
    case 'link':
      return safeLink(match[2], inner(match[1]));
    case 'bold':
      return h('strong', { class: 'font-semibold text-white' }, inner(match[1] ?? match[2]));
    case 'italic':
      return h('em', {}, inner(match[1] ?? match[2]));
    case 'secret':
      return h('span', { class: 'ai-secret-chip', title: 'A secret, kept on the server' }, 'secret');
    default:
      return safeLink(match[0], [match[0]]);
  }
}

function safeLink(href, children) {
  let url = null;
  try {
    url = new URL(href, location.origin);
  } catch {
    url = null;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol)) return h('span', {}, children);
  return h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer' }, children);
}

function textWithBreaks(text) {
  const parts = text.split('\n');
  const out = [];
  parts.forEach((part, index) => {
    if (index > 0) out.push(h('br'));
    if (part) out.push(part);
  });
  return out;
}
