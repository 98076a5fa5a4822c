// vigil console, the other pages: login, listeners, server (live charts),
// namespaces, and users/roles/permissions for administrators.
'use strict';

V.pages.login = async function (view) {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('div', { role: 'alert' });
  put(view, h('form.login', {
    'aria-label': 'Log in',
    onsubmit: async (e) => {
      e.preventDefault();
      const r = await api('POST', '/v1/auth/login', {}, { form: { username: user.value, password: pass.value }, quiet: true });
      if (r.status !== 200 || !r.json || !r.json.accessToken) {
        swap(err, h('div.banner.error', {}, r.status === 403 ? 'Unknown user or wrong password.' : 'Login failed: ' + failure(r)));
        return;
      }
      V.token = r.json.accessToken; V.user = user.value; V.admin = !!r.json.globalAdmin;
      saveSession();
      await loadNamespaces();
      say('');
      go('configs');
    },
  }, h('h1', {}, 'Log in to vigil'), h('label', {}, 'User name', user), h('label', {}, 'Password', pass), err,
  h('button.primary', { type: 'submit' }, 'Log in')));
  user.focus();
};

V.pages.listeners = async function (view, params) {
  const dataId = h('input.mono', { name: 'dataId', value: params.dataId || '' });
  const group = h('input.mono', { name: 'group', value: params.group || 'DEFAULT_GROUP' });
  const ip = h('input.mono', { name: 'ip', value: params.ip || '' });
  const byKey = h('div', { id: 'by-key' });
  const byIp = h('div', { id: 'by-ip' });
  const queryKey = async (e) => {
    if (e) e.preventDefault();
    const key = { dataId: dataId.value.trim(), group: group.value.trim(), tenant: V.ns };
    const [r, d] = await Promise.all([api('GET', '/v1/cs/configs/listener', key), loadDetail(V.ns, key.group, key.dataId).catch(() => null)]);
    if (r.status !== 200 || !r.json) { swap(byKey, h('div.banner.error', {}, failure(r))); return; }
    const m = r.json.lisentersGroupkeyStatus || {};
    const current = d ? d.md5 : '';
    const rows = Object.entries(m).map(([addr, md5]) => h('tr', {},
      h('td.mono', {}, h('button', { type: 'button', title: 'What this address listens to', onclick: () => { ip.value = addr; queryIp(); } }, addr)),
      h('td.mono', {}, md5 || '(none)'),
      h('td', {}, md5 === current ? h('span.pill.ok', {}, 'up to date') : h('span.pill.stale', {}, 'stale'))));
    swap(byKey, 
      h('p', {}, `${rows.length} listener(s) on ${key.group} / ${key.dataId}; current md5 `, h('code', {}, current || '(absent)')),
      h('table', { 'aria-label': 'Listeners of the config' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Address'), h('th', {}, 'MD5 it holds'), h('th', {}, 'State'))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 3 }, 'Nobody listens to this config.')))));
  };
  const queryIp = async (e) => {
    if (e) e.preventDefault();
    const r = await api('GET', '/v1/cs/listener', { ip: ip.value.trim(), all: 'true', tenant: V.ns });
    if (r.status !== 200 || !r.json) { swap(byIp, h('div.banner.error', {}, failure(r))); return; }
    const m = r.json.lisentersGroupkeyStatus || {};
    const rows = Object.entries(m).map(([gk, md5]) => {
      const [d, g] = gk.split('+');
      return h('tr', {}, h('td.mono', {}, h('a', { href: '#/detail?' + new URLSearchParams({ dataId: d, group: g }) }, gk)), h('td.mono', {}, md5 || '(none)'));
    });
    swap(byIp, h('table', { 'aria-label': 'Configs the address listens to' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Config (dataId+group[+tenant])'), h('th', {}, 'MD5 it holds'))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 2 }, 'This address listens to nothing.')))));
  };
  put(view, h('h1', {}, 'Listeners'),
    h('div.grid2', {},
      h('section', { 'aria-label': 'By config' }, h('h2', {}, 'Who listens to a config'),
        h('form.row', { onsubmit: queryKey }, h('label', {}, 'Data ID', dataId), h('label', {}, 'Group', group), h('button.primary', { type: 'submit' }, 'Query')), byKey),
      h('section', { 'aria-label': 'By address' }, h('h2', {}, 'What an address listens to'),
        h('form.row', { onsubmit: queryIp }, h('label', {}, 'Address', ip), h('button.primary', { type: 'submit' }, 'Query')), byIp)));
  if (params.dataId) await queryKey();
  if (params.ip) await queryIp();
};

// Prometheus text -> {name: value} for unlabelled samples.
function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+) ([0-9.eE+-]+)$/.exec(line);
    if (m) out[m[1]] = +m[2];
  }
  return out;
}

function chart(title, unit) {
  const value = h('div.v', {}, '-');
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 300 100');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title + ' over the last minute');
  const axis = document.createElementNS(ns, 'line');
  for (const [k, v] of Object.entries({ x1: 0, y1: 99, x2: 300, y2: 99, class: 'axis' })) axis.setAttribute(k, v);
  const line = document.createElementNS(ns, 'polyline');
  svg.append(axis, line);
  const points = [];
  const el = h('div.chart', { 'data-metric': title }, h('div.muted', {}, title), value, svg);
  el.push = (v) => {
    points.push(v);
    if (points.length > 60) points.shift();
    value.textContent = (Number.isInteger(v) ? v : v.toFixed(1)) + (unit ? ' ' + unit : '');
    const max = Math.max(1, ...points);
    line.setAttribute('points', points.map((p, i) => `${(i * 300) / 59},${98 - (p / max) * 94}`).join(' '));
  };
  return el;
}

V.pages.server = async function (view) {
  const charts = {
    parked: chart('Parked listeners'), conns: chart('Connections'),
    pubs: chart('Publishes per second', '/s'), wakes: chart('Wake-ups per second', '/s'),
  };
  const info = h('div.muted');
  put(view, h('h1', {}, 'Server', h('span.pill.live', {}, 'refreshing every second')), info,
    h('div.charts', {}, Object.values(charts)));
  const st = await api('GET', '/v1/console/server/state', {});
  let prev = null;
  const tick = async () => {
    const r = await api('GET', '/actuator/prometheus', {});
    if (r.status !== 200) return;
    const m = parseMetrics(r.text);
    const t = performance.now();
    charts.parked.push(m.vigil_parked_polls || 0);
    charts.conns.push(m.vigil_connections || 0);
    if (prev) {
      const dt = Math.max(0.001, (t - prev.t) / 1000);
      charts.pubs.push(Math.max(0, (m.vigil_publishes_total - prev.m.vigil_publishes_total) / dt));
      charts.wakes.push(Math.max(0, (m.vigil_wakeups_total - prev.m.vigil_wakeups_total) / dt));
    }
    prev = { m, t };
    info.textContent = `${m.vigil_configs || 0} configs, ${m.vigil_requests_total || 0} requests served` + (st.json ? `; Nacos API ${st.json.version}, ${st.json.standalone_mode}` : '');
  };
  await tick();
  const timer = setInterval(tick, 1000);
  V.cleanup.push(() => clearInterval(timer));
};

V.pages.namespaces = async function (view) {
  const table = h('div');
  const load = async () => {
    await loadNamespaces();
    swap(table, h('table', { 'aria-label': 'Namespaces' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'ID'), h('th', {}, 'Configs'), h('th', {}, 'Actions'))),
      h('tbody', {}, V.namespaces.map((n) => h('tr', {},
        h('td', {}, n.namespaceShowName || 'public'), h('td.mono', {}, n.namespace || '(public)'), h('td', {}, n.configCount),
        h('td.actions', {},
          h('button', { type: 'button', onclick: () => { V.ns = n.namespace; localStorage.setItem('vigil.ns', V.ns); loadNamespaces().then(() => go('configs')); } }, 'Open'), ' ',
          n.namespace && V.admin ? h('button', { type: 'button', onclick: () => edit(n) }, 'Edit') : null, ' ',
          n.namespace && V.admin ? h('button.danger', { type: 'button', onclick: () => remove(n) }, 'Delete') : null))))));
  };
  const edit = (n) => dialog(`Edit namespace ${n.namespace}`, (close) => {
    const name = h('input', { value: n.namespaceShowName || '' });
    const desc = h('input', { value: n.namespaceDesc || '' });
    return h('div', {}, h('div.row', {}, h('label', {}, 'Name', name), h('label.grow', {}, 'Description', desc)),
      h('div.buttons', {}, h('button', { type: 'button', onclick: () => close() }, 'Cancel'),
        h('button.primary', { type: 'button', onclick: async () => {
          const r = await api('PUT', '/v1/console/namespaces', {}, { form: { namespace: n.namespace, namespaceShowName: name.value, namespaceDesc: desc.value } });
          say(r.status === 200 ? 'Namespace saved.' : 'Save failed: ' + failure(r), r.status !== 200);
          close(); load();
        } }, 'Save')));
  });
  const remove = async (n) => {
    if (!(await confirmDialog(`Delete namespace ${n.namespaceShowName}?`, h('p', {}, `Its ${n.configCount} config(s) are kept but no longer listed under a namespace.`), 'Delete', true))) return;
    const r = await api('DELETE', '/v1/console/namespaces', { namespaceId: n.namespace });
    say(r.status === 200 ? 'Namespace deleted.' : 'Delete failed: ' + failure(r), r.status !== 200);
    if (V.ns === n.namespace) V.ns = '';
    load();
  };
  const id = h('input.mono', { name: 'customNamespaceId', placeholder: 'blank: generated' });
  const name = h('input', { name: 'namespaceName', required: true });
  const desc = h('input', { name: 'namespaceDesc' });
  put(view, h('h1', {}, 'Namespaces'),
    V.admin ? h('form.row', {
      'aria-label': 'Create a namespace',
      onsubmit: async (e) => {
        e.preventDefault();
        const r = await api('POST', '/v1/console/namespaces', {}, { form: { customNamespaceId: id.value.trim(), namespaceName: name.value.trim(), namespaceDesc: desc.value } });
        const ok = r.status === 200 && r.text.trim() === 'true';
        say(ok ? 'Namespace created.' : 'Create failed: ' + failure(r), !ok);
        if (ok) { id.value = ''; name.value = ''; desc.value = ''; }
        load();
      },
    }, h('label', {}, 'ID', id), h('label', {}, 'Name', name), h('label.grow', {}, 'Description', desc), h('button.primary', { type: 'submit' }, 'Create')) : null,
    table);
  await load();
};

V.pages.users = async function (view) {
  const forms = [
    ['Create a user', 'POST', '/v1/auth/users', [['username', 'User name'], ['password', 'Password', 'password']]],
    ['Change a password', 'PUT', '/v1/auth/users', [['username', 'User name'], ['newPassword', 'New password', 'password']]],
    ['Delete a user', 'DELETE', '/v1/auth/users', [['username', 'User name']]],
    ['Give a user a role', 'POST', '/v1/auth/roles', [['role', 'Role'], ['username', 'User name']]],
    ['Take a role away', 'DELETE', '/v1/auth/roles', [['role', 'Role'], ['username', 'User name (blank: everyone)']]],
    ['Grant a permission', 'POST', '/v1/auth/permissions', [['role', 'Role'], ['resource', 'Resource (namespace:group:config/dataId, * allowed)'], ['action', 'Action (r, w or rw)']]],
    ['Revoke a permission', 'DELETE', '/v1/auth/permissions', [['role', 'Role'], ['resource', 'Resource'], ['action', 'Action']]],
  ];
  put(view, h('h1', {}, 'Users, roles and permissions'),
    V.admin ? null : h('div.banner.warn', {}, 'Only administrators manage users.'),
    h('p.muted', {}, 'vigil serves no listing of users, roles or permissions (the Nacos 1.x API lists them; vigil answers writes only), so these are forms.'),
    h('div.grid2', {}, forms.map(([title, method, path, fields]) => {
      const inputs = fields.map(([n, , t]) => h('input', { name: n, type: t || 'text', autocomplete: 'off' }));
      return h('form.card', {
        'aria-label': title,
        onsubmit: async (e) => {
          e.preventDefault();
          const p = Object.fromEntries(fields.map(([n], i) => [n, inputs[i].value.trim()]));
          const r = method === 'DELETE' ? await api(method, path, p) : await api(method, path, {}, { form: p });
          say(r.status === 200 ? `${title}: done.` : `${title} failed: ` + failure(r), r.status !== 200);
          if (r.status === 200) inputs.forEach((i) => { i.value = ''; });
        },
      }, h('h2', {}, title), h('div.row', {}, fields.map(([, label], i) => h('label', {}, label, inputs[i])), h('button', { type: 'submit' }, method === 'DELETE' ? 'Remove' : 'Save')));
    })));
};
