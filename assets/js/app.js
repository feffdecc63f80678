// Boot for every signed-in page. app.html is one shell rendered with `page` and `version`; this
// module checks the session, builds the shell (sidebar, top bar, banners, socket), then imports
// pages/<page>.js (/static/js/pages/<page>.js) and calls its mount(root, ctx). Pages not written yet
// use pages/placeholder.js.
//
// Page modules must not import app.js (it is loaded with a cache-busting query, so a second copy
// would start a second socket); everything they need comes in `ctx`.

import * as api from './api.js';
import { byId, clear } from './dom.js';
import { DashboardSocket } from './ws.js';
import { initSidebar, initUserChip, initWsPill, initAlarmBell, bootFailure } from './shell.js';
import { initSearch } from './search.js';
import { initBanners, setCertFingerprint } from './health.js';
import { errorState } from './ui.js';

const PAGE_NAME = /^[a-z][a-z0-9-]{0,40}$/;

function pageName() {
  const name = document.body.dataset.page || '';
  return PAGE_NAME.test(name) ? name : 'not-found';
}

// Pages that have their own module in pages/. Add a page's name here when its module lands; every
// other page gets pages/placeholder.js. (A list rather than "try, then fall back" so that a broken
// page module shows its error instead of silently turning into the placeholder, and so that pages
// not built yet cause no 404 in the console.)
const PAGE_MODULES = new Set(['dashboard', 'account', 'admin-nodes', 'flows', 'node-detail', 'node-config', 'topology', 'events', 'admin-audit-log', 'admin-users', 'admin-settings', 'ai-assistant', 'ai-keys']);

function loadPageModule(page) {
  return PAGE_MODULES.has(page) ? import(`./pages/${page}.js`) : import('./pages/placeholder.js');
}

/** Path parameters of the signed-in routes: /nodes/{id} and /nodes/{id}/config. */
function routeParams() {
  const match = location.pathname.match(/^\/nodes\/([^/]+)(?:\/config)?\/?$/);
  return match ? { nodeId: decodeURIComponent(match[1]) } : {};
}

async function boot() {
  const page = pageName();
  const version = document.body.dataset.version || '';
  const root = byId('page-root');
  const modulePromise = loadPageModule(page);
  modulePromise.catch(() => {}); // handled after the session check

  let me;
  try {
    me = await api.get('/api/v1/auth/me');
  } catch (err) {
    if (err.status === 401) return; // api.js is already on its way to /login
    bootFailure(root, err, () => location.reload());
    return;
  }
  api.setCsrfToken(me.csrf_token);
  const user = me.user;
  if (user.must_change_password && page !== 'account') {
    // A generated first-run password must be replaced before anything else (the API insists too).
    location.replace('/account?first=1');
    return;
  }

  const socket = new DashboardSocket();
  initSidebar(user, page);
  initUserChip(user);
  initWsPill(socket);
  initAlarmBell(user, socket);
  initSearch();
  initBanners(user, socket);
  socket.connect();

  const ctx = {
    page,
    version,
    me,
    user,
    api,
    socket,
    params: routeParams(),
    query: new URLSearchParams(location.search),
    hasRole: (minRole) => api.hasRole(user, minRole),
    setTitle: (title) => { document.title = title ? `${title} · bilbycast manager` : 'bilbycast manager'; },
    setCertFingerprint,
  };

  clear(root);
  root.removeAttribute('aria-busy');
  try {
    const mod = await modulePromise;
    await mod.mount(root, ctx);
  } catch (err) {
    console.error(`mount of "${page}" failed`, err);
    clear(root);
    root.append(errorState(err, () => location.reload()));
  }
}

boot();
