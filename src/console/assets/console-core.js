// vigil console, core: DOM helper, API client, session, router, dialogs and
// the watch stream. Every request goes to this server's public HTTP API.
'use strict';

const V = {
  base: '/nacos',
  ns: localStorage.getItem('vigil.ns') || '',
  token: localStorage.getItem('vigil.token') || '',
  user: localStorage.getItem('vigil.user') || '',
  admin: localStorage.getItem('vigil.admin') === 'true',
  authOn: false,
  namespaces: [],
  pages: {},
  cleanup: [],
};

// h('tag.class', {attr: v, onclick: f}, child, ...): children may be
// strings, nodes, arrays or null.
function h(spec, attrs, ...kids) {
  const [tag, ...classes] = spec.split('.');
  const e = document.createElement(tag || 'div');
  if (classes.length) e.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'value') e.value = v;
    else if (k === 'checked') e.checked = !!v;
    else if (k === 'html') e.innerHTML = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  const add = (k) => {
    if (k === null || k === undefined || k === false) return;
    if (Array.isArray(k)) k.forEach(add);
    else e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  };
  kids.forEach(add);
  return e;
}

// Appends children to `parent`, skipping null and false (Node.append
// would write them as text).
function put(parent, ...kids) {
  parent.append(h('div.page', {}, kids));
}

// Replaces the children of `el`, skipping null and false as h() does.
function swap(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// A labelled input: field('Data ID', {name: 'dataId'}) -> <label>text<input></label>.
function field(text, attrs, control) {
  const c = control || h('input', attrs);
  return h('label', { class: attrs && attrs.wide ? 'grow' : null }, text, c);
}

function select(label, options, value, attrs) {
  const s = h('select', Object.assign({ 'aria-label': label }, attrs || {}),
    options.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));
  return s;
}

function say(msg, isError) {
  const s = document.getElementById('status');
  s.textContent = msg || '';
  s.className = 'status' + (isError ? ' error' : '');
}

function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(typeof ms === 'number' ? ms : Date.parse(ms));
  return isNaN(d) ? String(ms) : d.toLocaleString();
}

// The query string of `params`, with the access token when logged in.
function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null) p.append(k, v);
  }
  if (V.token && V.token !== 'AUTH_DISABLED') p.append('accessToken', V.token);
  return p.toString();
}

function url(path, params) {
  return V.base + path + '?' + qs(params);
}

// One API call. `form` is sent form-encoded; `body` as is. Resolves to
// {status, text, json}; never rejects on an HTTP error status.
async function api(method, path, params, opts) {
  opts = opts || {};
  const init = { method, headers: Object.assign({}, opts.headers || {}) };
  if (opts.form) {
    init.body = new URLSearchParams(opts.form).toString();
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
  } else if (opts.body !== undefined) {
    init.body = opts.body;
    if (opts.type) init.headers['Content-Type'] = opts.type;
  }
  let r;
  try {
    r = await fetch(url(path, params), init);
  } catch (e) {
    return { status: 0, text: 'network error: ' + e.message, json: null };
  }
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  if (r.status === 403 && V.authOn && /token|user not found/i.test(text) && !opts.quiet) {
    logout('Your session ended: log in again.');
  }
  return { status: r.status, text, json };
}

// The error text of a failed call, for the status line.
function failure(r) {
  if (r.json && r.json.message) return `${r.status}: ${r.json.message}`;
  return `${r.status}: ${String(r.text).slice(0, 300)}`;
}

function tenantParam() { return V.ns; }

function nsName(id) {
  const n = V.namespaces.find((x) => x.namespace === id);
  return n ? (n.namespaceShowName || 'public') : (id || 'public');
}

// Whether the caller may write configs in the namespace (or to one key).
// A publish without content is refused by the permission check first (403)
// and only then by validation (400), so it probes without any effect.
async function canWrite(tenant, group, dataId) {
  if (!V.authOn) return true;
  const p = { tenant: tenant || '' };
  if (group) p.group = group;
  if (dataId) p.dataId = dataId;
  const r = await api('POST', '/v1/cs/configs', p, { form: {}, quiet: true });
  return r.status !== 403;
}

// ---- dialogs --------------------------------------------------------------

// Opens a modal; `build(close)` returns its content. Resolves with the
// value passed to close().
function dialog(title, build) {
  return new Promise((resolve) => {
    const d = h('dialog', { 'aria-label': title });
    const close = (v) => { d.close(); d.remove(); resolve(v); };
    d.append(h('div.dlg', {}, h('h2', {}, title), build(close)));
    d.addEventListener('cancel', (e) => { e.preventDefault(); close(undefined); });
    document.body.append(d);
    d.showModal();
  });
}

function confirmDialog(title, body, okText, danger) {
  return dialog(title, (close) => h('div', {},
    body,
    h('div.buttons', {},
      h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: danger ? 'danger' : 'primary', onclick: () => close(true) }, okText || 'OK'))));
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {
    const t = h('textarea', { value: text });
    document.body.append(t); t.select(); document.execCommand('copy'); t.remove();
  }
  say('Copied to the clipboard.');
}

function copyButton(text, what) {
  return h('button', { type: 'button', title: 'Copy ' + what, 'aria-label': 'Copy ' + what, onclick: () => copy(text) }, 'Copy');
}

// ---- watch stream ---------------------------------------------------------

// Watches configs (`params`: tenant, group, dataId) and calls onEvent(kind,
// data) for every snapshot event (a config's state on connect), change,
// delete or reset; onState(live) says whether the
// stream is up. Returns a function that closes it. Closed on page change.
function watch(params, onEvent, onState) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) p.append(k, v);
  if (V.token && V.token !== 'AUTH_DISABLED') p.append('accessToken', V.token);
  let es;
  try {
    es = new EventSource(V.base + '/v1/cs/configs/watch?' + p.toString());
  } catch (e) {
    onState && onState(false);
    return () => {};
  }
  // Snapshot events (on connect, and after a reset) carry no id: until the
  // first live change, the browser's last event id stays what it was.
  let snapshotId = '';
  const handle = (type) => (ev) => {
    let data = {};
    try { data = JSON.parse(ev.data); } catch (e) { /* keep {} */ }
    if (type === 'reset') snapshotId = ev.lastEventId;
    const snapshot = type === 'change' && ev.lastEventId === snapshotId;
    onEvent(snapshot ? 'snapshot' : type, data, ev.lastEventId);
  };
  es.addEventListener('change', handle('change'));
  es.addEventListener('delete', handle('delete'));
  es.addEventListener('reset', handle('reset'));
  es.onopen = () => onState && onState(true);
  es.onerror = () => onState && onState(es.readyState === EventSource.OPEN);
  const stop = () => es.close();
  V.cleanup.push(stop);
  return stop;
}

// A "live" marker that follows a watch stream's state.
function liveMarker() {
  const m = h('span.pill.off', { title: 'Live updates from the watch stream', 'data-live': 'off' }, 'connecting');
  m.set = (live) => {
    m.className = 'pill ' + (live ? 'live' : 'off');
    m.textContent = live ? 'live' : 'not live';
    m.dataset.live = live ? 'on' : 'off';
  };
  return m;
}

// ---- session and router ---------------------------------------------------

function saveSession() {
  localStorage.setItem('vigil.token', V.token);
  localStorage.setItem('vigil.user', V.user);
  localStorage.setItem('vigil.admin', String(V.admin));
}

function logout(msg) {
  V.token = ''; V.user = ''; V.admin = false;
  saveSession();
  location.hash = '#/login';
  if (msg) say(msg, true);
}

async function loadNamespaces() {
  const r = await api('GET', '/v1/console/namespaces', {}, { quiet: true });
  if (r.status === 403) return false;
  V.namespaces = (r.json && r.json.data) || [{ namespace: '', namespaceShowName: 'public' }];
  if (!V.namespaces.some((n) => n.namespace === V.ns)) V.ns = '';
  const s = document.getElementById('ns-switch');
  swap(s, ...V.namespaces.map((n) =>
    h('option', { value: n.namespace, selected: n.namespace === V.ns },
      (n.namespaceShowName || 'public') + (n.namespace ? ` (${n.namespace})` : ''))));
  return true;
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [name, query] = raw.split('?');
  return { name: name || 'configs', params: Object.fromEntries(new URLSearchParams(query || '')) };
}

function go(name, params) {
  const q = new URLSearchParams(params || {}).toString();
  location.hash = '#/' + name + (q ? '?' + q : '');
}

async function route() {
  V.cleanup.splice(0).forEach((f) => f());
  const { name, params } = parseHash();
  const view = document.getElementById('view');
  const authed = !V.authOn || V.token;
  const page = authed ? (V.pages[name] || V.pages.configs) : V.pages.login;
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('on', a.dataset.nav === name);
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.getElementById('who').textContent = V.authOn && V.user ? V.user + (V.admin ? ' (admin)' : '') : '';
  document.getElementById('logout').hidden = !(V.authOn && V.token);
  document.getElementById('nav-users').hidden = !(V.admin && V.authOn);
  document.body.classList.toggle('anon', !authed);
  swap(view);
  view.dataset.page = authed ? name : 'login';
  try {
    await page(view, params);
  } catch (e) {
    say('This page failed: ' + e.message, true);
  }
}

async function start() {
  // Auth is on when listing namespaces needs a user.
  const probe = await fetch(V.base + '/v1/console/namespaces');
  V.authOn = probe.status === 403;
  if (!V.authOn) { V.token = ''; V.admin = true; }
  if (!V.authOn || V.token) {
    if (!(await loadNamespaces())) logout();
  }
  document.getElementById('ns-switch').addEventListener('change', (e) => {
    V.ns = e.target.value;
    localStorage.setItem('vigil.ns', V.ns);
    say('');
    route();
  });
  document.getElementById('logout').addEventListener('click', () => logout('Logged out.'));
  window.addEventListener('hashchange', () => { say(''); route(); });
  route();
}

document.addEventListener('DOMContentLoaded', start);
