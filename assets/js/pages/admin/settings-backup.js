// Backup card of the settings page (product.md §4.13, api.md §13; super_admin only): encrypted
// export with a passphrase typed twice and optional events / audit log, and import of a backup
// file, which replaces all manager data and signs everyone out (confirm by typing IMPORT).

import { h } from '../../dom.js';
import { toastSuccess, confirmDialog } from '../../ui.js';

const MIN_PASSPHRASE = 12;

function stamp() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = h('a', { href: url, download: name, class: 'hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function backupCard(api) {
  // Export
  const pass1 = h('input', { type: 'password', class: 'input', id: 'export-pass', autocomplete: 'new-password', minlength: String(MIN_PASSPHRASE) });
  const pass2 = h('input', { type: 'password', class: 'input', id: 'export-pass2', autocomplete: 'new-password' });
  const withEvents = h('input', { type: 'checkbox', class: 'checkbox', id: 'export-events' });
  const withAudit = h('input', { type: 'checkbox', class: 'checkbox', id: 'export-audit' });
  const exportError = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  const exportButton = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Export backup');
  const exportForm = h('form', { class: 'space-y-3', 'aria-label': 'Export a backup' },
    h('h3', { class: 'text-sm font-semibold text-white' }, 'Export'),
    h('div', {}, h('label', { class: 'label', for: 'export-pass' }, 'Passphrase'), pass1, h('p', { class: 'hint' }, `At least ${MIN_PASSPHRASE} characters. Without it the file cannot be opened.`)),
    h('div', {}, h('label', { class: 'label', for: 'export-pass2' }, 'Passphrase again'), pass2),
    h('label', { class: 'flex items-center gap-2 text-sm', for: 'export-events' }, withEvents, 'Include events'),
    h('label', { class: 'flex items-center gap-2 text-sm', for: 'export-audit' }, withAudit, 'Include audit log'),
    exportError, exportButton);
  exportForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    exportError.hidden = true;
    const fail = (text) => { exportError.textContent = text; exportError.hidden = false; };
    if (pass1.value.length < MIN_PASSPHRASE) return fail(`Use a passphrase of at least ${MIN_PASSPHRASE} characters.`);
    if (pass1.value !== pass2.value) return fail('The two passphrases differ.');
    exportButton.disabled = true;
    try {
      const body = await api.get('/api/v1/export', {
        query: { include_events: String(withEvents.checked), include_audit: String(withAudit.checked) },
        headers: { 'X-Backup-Passphrase': pass1.value },
      });
      download(`bilbycast-manager-backup-${stamp()}.json`, JSON.stringify(body));
      pass1.value = '';
      pass2.value = '';
      toastSuccess('Backup exported');
    } catch (err) {
      fail(err.error || 'Export failed');
    } finally {
      exportButton.disabled = false;
    }
  });

  // Import
  const file = h('input', { type: 'file', class: 'input py-1.5', id: 'import-file', accept: 'application/json,.json' });
  const pass = h('input', { type: 'password', class: 'input', id: 'import-pass', autocomplete: 'off' });
  const replaceAll = h('input', { type: 'checkbox', class: 'checkbox', id: 'import-force' });
  const importError = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  const importButton = h('button', { type: 'submit', class: 'btn btn-danger' }, 'Import backup');
  const importForm = h('form', { class: 'space-y-3', 'aria-label': 'Import a backup' },
    h('h3', { class: 'text-sm font-semibold text-white' }, 'Import'),
    h('div', {}, h('label', { class: 'label', for: 'import-file' }, 'Backup file'), file),
    h('div', {}, h('label', { class: 'label', for: 'import-pass' }, 'Passphrase'), pass),
    h('label', { class: 'flex items-center gap-2 text-sm', for: 'import-force' }, replaceAll, 'Replace existing data'),
    h('p', { class: 'form-error' }, 'Import replaces all manager data and signs everyone out.'),
    importError, importButton);
  importForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    importError.hidden = true;
    const fail = (text) => { importError.textContent = text; importError.hidden = false; };
    const chosen = file.files?.[0];
    if (!chosen) return fail('Choose a backup file.');
    if (!pass.value) return fail('Enter the backup’s passphrase.');
    let payload;
    try {
      payload = JSON.parse(await chosen.text());
    } catch {
      return fail('This file is not a bilbycast backup (not JSON).');
    }
    const ok = await confirmDialog({ action: 'Import backup', objectName: chosen.name, message: 'All users, nodes, settings and keys are replaced, and everyone is signed out — including you.', confirmLabel: 'Import', typeToConfirm: 'IMPORT' });
    if (!ok) return;
    importButton.disabled = true;
    try {
      await api.post('/api/v1/import', payload, { query: { force: String(replaceAll.checked) }, headers: { 'X-Backup-Passphrase': pass.value }, redirectOn401: false });
      toastSuccess('Backup imported — signing in again');
      setTimeout(() => location.assign('/login'), 1500);
    } catch (err) {
      fail(err.code === 'import_target_not_empty' ? `${err.error} Tick “Replace existing data” to overwrite it.` : err.error);
      importButton.disabled = false;
    }
  });

  return h('section', { class: 'card p-5', id: 'backup', 'aria-labelledby': 'backup-title' },
    h('header', { class: 'mb-4' }, h('h2', { id: 'backup-title', class: 'section-title' }, 'Backup'),
      h('p', { class: 'hint mt-0.5' }, 'An encrypted file with users, nodes, settings, keys and layouts. Super admins only.')),
    h('div', { class: 'grid gap-8 md:grid-cols-2' }, exportForm, importForm));
}


