// Add / Edit node dialog (product.md §4.7, api.md §5.2): name, description, device type
// (immutable after creation), optional expiry in the future, optional device web-UI URL.
// Server validation problems are shown next to their fields; anything else as a form error.

import { h } from '../../dom.js';
import { modal } from '../../ui.js';

const TYPE_DOT = { edge: 'bg-type-edge', relay: 'bg-type-relay', appear_x: 'bg-type-appear-x' };

function pad(n) {
  return String(n).padStart(2, '0');
}

/** RFC 3339 → value for <input type="datetime-local"> in the browser's zone. */
function toLocalInput(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function row(id, label, control, hint = null) {
  const error = h('p', { id: `${id}-error`, class: 'field-error', hidden: true });
  const hintNode = hint ? h('p', { id: `${id}-hint`, class: 'hint' }, hint) : null;
  control.setAttribute('aria-describedby', [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' '));
  return {
    el: h('div', { class: 'mb-4' }, h('label', { class: 'label', for: id }, label), control, hintNode, error),
    setError(message) {
      error.textContent = message || '';
      error.hidden = !message;
      if (message) control.setAttribute('aria-invalid', 'true');
      else control.removeAttribute('aria-invalid');
    },
  };
}

/**
 * openNodeForm({api, types, node, onSaved}) — node null for Add. onSaved(result, isNew) gets the
 * API answer (for Add it carries the enrolment fields).
 */
export function openNodeForm({ api, types, node = null, onSaved }) {
  const isNew = !node;
  const name = h('input', { id: 'node-name', name: 'name', class: 'input', maxlength: '128', required: true, autocomplete: 'off', spellcheck: 'false' });
  const description = h('textarea', { id: 'node-description', name: 'description', class: 'input min-h-16', maxlength: '512', rows: '2' });
  const typeSelect = h('select', { id: 'node-type', name: 'device_type', class: 'input', disabled: !isNew });
  const typeDot = h('span', { class: 'dot size-2.5', 'aria-hidden': 'true' });
  const expires = h('input', { id: 'node-expires', name: 'expires_at', type: 'datetime-local', class: 'input' });
  const webUi = h('input', { id: 'node-web-ui', name: 'web_ui_url', type: 'url', class: 'input', maxlength: '2048', placeholder: 'https://192.168.50.11:8080', autocomplete: 'off' });

  const typeList = [...types.values()];
  if (typeList.length === 0) typeList.push({ device_type: 'edge', display_name: 'Edge Transport Node' });
  for (const t of typeList) typeSelect.append(h('option', { value: t.device_type }, `${t.display_name || t.device_type} (${t.device_type})`));
  if (node && !types.has(node.device_type)) typeSelect.append(h('option', { value: node.device_type }, node.device_type));
  const syncDot = () => {
    typeDot.className = `dot size-2.5 ${TYPE_DOT[typeSelect.value] || 'bg-offline'}`;
  };
  typeSelect.addEventListener('change', syncDot);

  name.value = node?.name || '';
  description.value = node?.description || '';
  typeSelect.value = node?.device_type || (types.has('edge') ? 'edge' : typeList[0].device_type);
  expires.value = toLocalInput(node?.expires_at);
  webUi.value = node?.web_ui_url || '';
  syncDot();

  const rows = {
    name: row('node-name', 'Name', name),
    description: row('node-description', 'Description', description, 'Optional, up to 512 characters.'),
    device_type: row('node-type', 'Device type', h('div', { class: 'flex items-center gap-2' }, typeDot, typeSelect),
      isNew ? 'Cannot be changed after the node is created.' : 'Fixed when the node was created.'),
    expires_at: row('node-expires', 'Expires', expires, 'Optional. After this time the node is disconnected and refused.'),
    web_ui_url: row('node-web-ui', 'Device web UI', webUi, 'Optional http(s) link shown on the node page.'),
  };
  const formError = h('div', { class: 'form-error mb-4', role: 'alert', hidden: true });
  const form = h('form', { id: 'node-form', novalidate: true }, formError, Object.values(rows).map((r) => r.el));

  const clearErrors = () => {
    formError.hidden = true;
    for (const r of Object.values(rows)) r.setError('');
  };

  const collect = () => {
    clearErrors();
    let ok = true;
    const body = {};
    const nameValue = name.value.trim();
    if (!nameValue) {
      rows.name.setError('Give the node a name.');
      ok = false;
    }
    let expiresIso = null;
    if (expires.value) {
      const d = new Date(expires.value);
      if (Number.isNaN(d.getTime())) {
        rows.expires_at.setError('Not a valid date and time.');
        ok = false;
      } else if (d.getTime() <= Date.now()) {
        rows.expires_at.setError('The expiry must be in the future.');
        ok = false;
      } else expiresIso = d.toISOString();
    }
    const url = webUi.value.trim();
    if (url && !/^https?:\/\/[^\s]+$/i.test(url)) {
      rows.web_ui_url.setError('Use an http:// or https:// address.');
      ok = false;
    }
    const desc = description.value;
    if (isNew) {
      Object.assign(body, { name: nameValue, description: desc || null, device_type: typeSelect.value, expires_at: expiresIso, web_ui_url: url || null });
    } else {
      if (nameValue !== node.name) body.name = nameValue;
      if ((desc || null) !== (node.description || null)) body.description = desc || null;
      if (toLocalInput(node.expires_at) !== expires.value) body.expires_at = expiresIso;
      if ((url || null) !== (node.web_ui_url || null)) body.web_ui_url = url || null;
    }
    return ok ? body : null;
  };

  const showError = (err) => {
    let placed = false;
    for (const f of err.fields || []) {
      const key = String(f.path || '').replace(/^\//, '').split('/')[0];
      if (rows[key]) {
        rows[key].setError(f.message);
        placed = true;
      }
    }
    if (!placed || !(err.fields || []).length) {
      formError.textContent = err.error || err.message || 'Could not save the node';
      formError.hidden = false;
    }
  };

  const submit = async (close, button) => {
    const body = collect();
    if (!body) return;
    if (!isNew && Object.keys(body).length === 0) {
      close();
      return;
    }
    button.disabled = true;
    try {
      const result = isNew
        ? await api.post('/api/v1/nodes', body)
        : await api.put(`/api/v1/nodes/${encodeURIComponent(node.id)}`, body);
      close(result);
      onSaved(result, isNew);
    } catch (err) {
      showError(err);
      button.disabled = false;
    }
  };

  const dlg = modal({
    title: isNew ? 'Add node' : `Edit ${node.name}`,
    description: isNew ? 'Create the node record; the next step shows its one-time registration token.' : null,
    body: form,
    actions: [
      { label: 'Cancel', kind: 'secondary' },
      { label: isNew ? 'Add node' : 'Save changes', kind: 'primary', onClick: submit },
    ],
  });
  const primary = dlg.footer.lastElementChild;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    primary.click();
  });
  // Enter in a single-line field submits (the buttons live outside the <form>).
  for (const input of [name, expires, webUi]) {
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        primary.click();
      }
    });
  }
  name.focus();
  return dlg;
}
