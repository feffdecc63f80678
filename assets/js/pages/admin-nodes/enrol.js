// The enrol dialog (product.md §4.7, §5.1; api.md §5.2): shown after Add Node and after
// Regenerate token. It shows the one-time registration token, the manager URL(s), the
// certificate fingerprint when self-signed, and the exact node-side settings for the driver,
// and it closes only with "I have copied the token".

import { h } from '../../dom.js';
import { modal, toast } from '../../ui.js';
import { typeTag } from '../../components/node-badges.js';

/** Copy text to the clipboard, with a fallback for browsers without the async clipboard API. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection-based copy
  }
  const area = h('textarea', { class: 'sr-only', readonly: true, 'aria-hidden': 'true' });
  area.value = text;
  (document.querySelector('dialog[open]') || document.body).append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** A small "Copy" button that copies getText() and says "Copied" for a moment. */
export function copyButton(getText, what) {
  const button = h('button', { type: 'button', class: 'btn btn-secondary btn-sm shrink-0', 'aria-label': `Copy ${what}` }, 'Copy');
  let timer = null;
  button.addEventListener('click', async () => {
    const ok = await copyText(getText());
    if (!ok) {
      toast(`Could not copy the ${what} — select it and copy it by hand`, { kind: 'info' });
      return;
    }
    button.textContent = 'Copied';
    clearTimeout(timer);
    timer = setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  });
  return button;
}

function field(label, value, { what = label.toLowerCase(), testId = null } = {}) {
  return h('div', { class: 'mt-3' },
    h('p', { class: 'label' }, label),
    h('div', { class: 'copy-field' },
      h('code', { class: 'copy-value', dataset: testId ? { testid: testId } : undefined }, value),
      copyButton(() => value, what)));
}

function snippetBlock(title, text, what, note = null) {
  return h('div', { class: 'mt-4' },
    h('div', { class: 'mb-1.5 flex items-center justify-between gap-2' },
      h('p', { class: 'label mb-0' }, title),
      copyButton(() => text, what)),
    h('pre', { class: 'snippet' }, text),
    note ? h('p', { class: 'hint' }, note) : null);
}

const jsonList = (urls) => `[${urls.map((u) => JSON.stringify(u)).join(', ')}]`;

/** The node-side settings for a driver, as {title, text, note} blocks. */
export function nodeSettings(deviceType, enrolment) {
  const urls = enrolment.manager_urls?.length ? enrolment.manager_urls : ['wss://<manager-host>:8443/ws/node'];
  const token = enrolment.registration_token;
  const insecure = !!enrolment.self_signed_cert;
  const envNote = insecure
    ? 'The node process also needs the environment variable BILBYCAST_ALLOW_INSECURE=1 (systemd Environment=, docker run -e …), or it refuses the self-signed certificate.'
    : null;
  const blocks = [];
  if (deviceType === 'appear_x') {
    const lines = ['[manager]', `urls = ${jsonList(urls)}`, `registration_token = ${JSON.stringify(token)}`];
    if (insecure) lines.push('accept_self_signed_cert = true');
    blocks.push({ title: 'Gateway sidecar config — [manager] section (TOML)', text: lines.join('\n'), what: 'sidecar settings', note: envNote });
  } else {
    const lines = ['  "enabled": true', `  "urls": ${jsonList(urls)}`];
    if (insecure) lines.push('  "accept_self_signed_cert": true');
    lines.push(`  "registration_token": ${JSON.stringify(token)}`);
    const json = `"manager": {\n${lines.join(',\n')}\n}`;
    const title = deviceType === 'relay' ? 'Relay config file — manager block' : deviceType === 'edge' ? 'Edge config.json — manager block' : 'Node config — manager block';
    blocks.push({ title, text: json, what: 'node settings', note: envNote });
    if (deviceType === 'edge') {
      const wizard = [`Manager URL(s):            ${urls.join(', ')}`, `Registration token:        ${token}`,
        `Accept self-signed cert:   ${insecure ? 'on' : 'off'}`].join('\n');
      blocks.push({ title: 'Or in the edge setup wizard (/setup)', text: wizard, what: 'setup wizard fields' });
    }
  }
  const sim = ['python manager.py simulate', `--token ${token}`, `--url ${urls[0]}`];
  if (deviceType && deviceType !== 'edge' && ['relay', 'appear_x'].includes(deviceType)) sim.push(`--device-type ${deviceType}`);
  if (insecure) sim.push('--insecure');
  blocks.push({
    title: 'Or try it with the built-in simulator',
    text: `${insecure ? 'BILBYCAST_ALLOW_INSECURE=1 ' : ''}${sim.join(' ')}`,
    what: 'simulator command',
    note: 'Runs a simulated node of this type that enrols with this token.',
  });
  return blocks;
}

/**
 * openEnrolDialog({node, enrolment, onClose, setCertFingerprint}): node = {id, name, device_type}.
 * Escape and the backdrop do not close it: only "I have copied the token".
 */
export function openEnrolDialog({ node, enrolment, onClose = null, setCertFingerprint = null }) {
  if (enrolment.cert_fingerprint_sha256 && setCertFingerprint) setCertFingerprint(enrolment.cert_fingerprint_sha256);
  const urls = enrolment.manager_urls || [];
  const body = [
    h('div', { class: 'form-error mb-1 flex items-start gap-2 border-amber-400/40 bg-amber-400/10 text-warn', role: 'note' },
      h('span', { 'aria-hidden': 'true' }, '⚠'),
      h('span', {}, h('strong', { class: 'font-semibold' }, 'The registration token is shown only once. '),
        'Copy it now and give it to the node; it is valid for one registration.')),
    h('div', { class: 'mt-3 flex items-center gap-2 text-sm' }, h('span', { class: 'font-semibold text-white' }, node.name), typeTag(node.device_type)),
    field('Node ID', enrolment.node_id || node.id, { what: 'node ID' }),
    field('Registration token', enrolment.registration_token, { what: 'registration token', testId: 'registration-token' }),
  ];
  urls.forEach((url, i) => body.push(field(urls.length > 1 ? `Manager URL ${i + 1}` : 'Manager URL', url, { what: 'manager URL', testId: 'manager-url' })));
  if (enrolment.self_signed_cert) {
    body.push(h('div', { class: 'mt-3' },
      h('p', { class: 'label' }, 'Certificate fingerprint (SHA-256)'),
      enrolment.cert_fingerprint_sha256
        ? h('div', { class: 'copy-field' }, h('code', { class: 'copy-value' }, enrolment.cert_fingerprint_sha256),
          copyButton(() => enrolment.cert_fingerprint_sha256, 'certificate fingerprint'))
        : null,
      h('p', { class: 'hint text-warn' }, 'This manager uses a self-signed certificate: configure the node to accept this self-signed certificate (accept_self_signed_cert: true plus BILBYCAST_ALLOW_INSECURE=1).')));
  }
  for (const block of nodeSettings(node.device_type, enrolment)) body.push(snippetBlock(block.title, block.text, block.what, block.note));
  body.push(h('p', { class: 'mt-4 text-xs text-muted' }, 'The node shows as PENDING until it connects with this token; the row turns ONLINE on its own when it registers.'));

  const dlg = modal({
    title: 'Enrol node',
    description: 'Give these settings to the node',
    body,
    wide: true,
    onClose,
    actions: [{ label: 'I have copied the token', kind: 'primary', onClick: (close) => close(true) }],
  });
  // Only the explicit button closes this dialog: no ✕, Escape does nothing.
  dlg.dialog.querySelector('button[aria-label="Close dialog"]')?.remove();
  dlg.dialog.addEventListener('cancel', (event) => {
    event.preventDefault();
    event.stopImmediatePropagation();
  }, true);
  dlg.body.classList.add('max-h-[70vh]', 'overflow-y-auto');
  return dlg;
}
