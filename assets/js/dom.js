// Tiny DOM builder. Text always goes in through textContent, never through HTML parsing, so
// API data (node names, event messages, error text) cannot inject markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * h('div', {class: 'card', dataset: {id: 'x'}, onclick: fn, hidden: true}, 'text', childNode, [more])
 * - `class`/`className` set the class list; `dataset` sets data-* keys;
 * - keys starting with "on" attach listeners (never an on*= attribute);
 * - `text` sets textContent; booleans true/false add/omit the attribute; null/undefined is skipped.
 * Children may be strings (text nodes), nodes, arrays, or null/false (skipped).
 * `style` strings are refused: the CSP forbids them, use classes.
 */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  applyAttrs(node, attrs);
  append(node, children);
  return node;
}

/** Same as h() for SVG elements (icons). */
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  applyAttrs(node, attrs);
  append(node, children);
  return node;
}

function applyAttrs(node, attrs) {
  if (!attrs) return;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class' || key === 'className') {
      node.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (key === 'text') {
      node.textContent = String(value);
    } else if (key === 'style') {
      throw new Error('h(): style attributes are not allowed (CSP); use classes');
    } else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (value === true) {
      node.setAttribute(key, '');
    } else {
      node.setAttribute(key, String(value));
    }
  }
}

/** Append children (strings become text nodes). */
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Remove every child of a node. */
export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

/** Replace the children of a node. */
export function replace(node, ...children) {
  clear(node);
  return append(node, children);
}

/** Escape text for the rare place a string of HTML is unavoidable. Prefer h()/textContent. */
export function escapeHtml(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Shorthand for document.getElementById. */
export const byId = (id) => document.getElementById(id);
