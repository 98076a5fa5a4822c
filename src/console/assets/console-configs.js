// vigil console, the config list: search, paging, preview, selection across
// pages, bulk delete, export, import and clone. Live: a namespace watch
// stream refreshes the page and marks the rows that changed.
'use strict';

const list = {
  q: { dataId: '', group: '', appName: '', tags: '', exact: false },
  pageNo: 1,
  pageSize: 10,
  selected: new Map(), // id -> {id, dataId, group}
  selectedNs: null,
};

V.pages.configs = async function (view) {
  if (list.selectedNs !== V.ns) { list.selected.clear(); list.selectedNs = V.ns; }
  const writable = await canWrite(V.ns);
  const live = liveMarker();
  const inputs = {
    dataId: h('input', { name: 'dataId', value: list.q.dataId, placeholder: 'app.yaml or app*', 'aria-label': 'Data ID' }),
    group: h('input', { name: 'group', value: list.q.group, placeholder: 'DEFAULT_GROUP or *', 'aria-label': 'Group' }),
    appName: h('input', { name: 'appName', value: list.q.appName, 'aria-label': 'App name' }),
    tags: h('input', { name: 'tags', value: list.q.tags, placeholder: 'a,b', 'aria-label': 'Tags' }),
    exact: h('input', { type: 'checkbox', name: 'exact', checked: list.q.exact }),
  };
  const results = h('div', { id: 'results' });
  const selBar = h('div', { id: 'selection' });
  const search = (e) => {
    if (e) e.preventDefault();
    for (const k of ['dataId', 'group', 'appName', 'tags']) list.q[k] = inputs[k].value.trim();
    list.q.exact = inputs.exact.checked;
    list.pageNo = 1;
    load();
  };
  put(view, 
    h('h1', {}, 'Configs', h('span.muted', {}, nsName(V.ns)), live),
    h('form.row', { onsubmit: search, role: 'search', 'aria-label': 'Search configs' },
      h('label', {}, 'Data ID', inputs.dataId),
      h('label', {}, 'Group', inputs.group),
      h('label', {}, 'App name', inputs.appName),
      h('label', {}, 'Tags', inputs.tags),
      h('label.inline', {}, inputs.exact, 'Exact match'),
      h('button.primary', { type: 'submit' }, 'Search'),
      h('span.grow'),
      writable ? h('button', { type: 'button', onclick: () => go('edit', {}) }, 'New config') : null,
      writable ? h('button', { type: 'button', onclick: importDialog }, 'Import') : null,
      h('button', { type: 'button', onclick: () => exportDialog(null) }, 'Export results')),
    selBar, results);

  const changed = new Set();
  let timer = null;
  watch({ tenant: V.ns }, (kind, d) => {
    if (kind === 'reset' || kind === 'snapshot') return;
    changed.add(d.group + '/' + d.dataId);
    clearTimeout(timer);
    timer = setTimeout(() => load(true), 300);
  }, live.set);

  async function load(fromWatch) {
    const p = {
      search: list.q.exact ? 'accurate' : 'blur',
      dataId: list.q.dataId,
      group: list.q.group,
      appName: list.q.appName,
      config_tags: list.q.tags,
      tenant: V.ns,
      pageNo: list.pageNo,
      pageSize: list.pageSize,
    };
    if (!list.q.exact) {
      if (!/\*/.test(p.dataId) && p.dataId) p.dataId = '*' + p.dataId + '*';
      if (!/\*/.test(p.group) && p.group) p.group = '*' + p.group + '*';
    }
    const r = await api('GET', '/v1/cs/configs', p);
    if (r.status !== 200 || !r.json) { say('Search failed: ' + failure(r), true); return; }
    renderPage(r.json, fromWatch);
  }

  function renderPage(page, fromWatch) {
    const items = page.pageItems || [];
    const allOnPage = items.length > 0 && items.every((c) => list.selected.has(c.id));
    const rows = [];
    for (const c of items) {
      const key = c.group + '/' + c.dataId;
      const isNew = fromWatch && changed.has(key);
      const preview = h('tr.preview', { hidden: true }, h('td', { colspan: 6 }, h('pre.mono', { html: highlight(c.type || guessType(c.dataId), c.content.split('\n').slice(0, 40).join('\n')) })));
      const toggle = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-label': `Preview ${c.dataId}` }, 'Preview');
      toggle.addEventListener('click', () => {
        preview.hidden = !preview.hidden;
        toggle.setAttribute('aria-expanded', String(!preview.hidden));
      });
      const params = { dataId: c.dataId, group: c.group };
      rows.push(h('tr', { class: isNew ? 'changed' : null, 'data-key': key },
        h('td', {}, h('input', {
          type: 'checkbox', 'aria-label': `Select ${c.dataId}`, checked: list.selected.has(c.id),
          onchange: (e) => { if (e.target.checked) list.selected.set(c.id, { id: c.id, dataId: c.dataId, group: c.group }); else list.selected.delete(c.id); renderSel(); },
        })),
        h('td.mono.nowrap', {}, h('a', { href: '#/detail?' + new URLSearchParams(params) }, c.dataId), ' ', isNew ? h('span.pill.changed', {}, 'updated') : null),
        h('td.mono.nowrap', {}, c.group),
        h('td.nowrap', {}, c.appName || ''),
        h('td.mono.muted.clip', { title: c.content.slice(0, 500) }, c.content.slice(0, 200).replace(/\s+/g, ' ')),
        h('td.actions', {}, toggle, ' ',
          h('button', { type: 'button', onclick: () => go('detail', params) }, 'Detail'), ' ',
          writable ? h('button', { type: 'button', onclick: () => go('edit', params) }, 'Edit') : null, ' ',
          h('button', { type: 'button', onclick: () => go('history', params) }, 'History'), ' ',
          h('button', { type: 'button', onclick: () => go('listeners', params) }, 'Listeners'), ' ',
          writable ? h('button.danger', { type: 'button', onclick: () => deleteItems([{ id: c.id, dataId: c.dataId, group: c.group }]) }, 'Delete') : null)));
      rows.push(preview);
    }
    if (fromWatch) changed.clear();
    const pages = page.pagesAvailable || 1;
    swap(results, 
      h('table', { 'aria-label': 'Configs' },
        h('thead', {}, h('tr', {},
          h('th', {}, h('input', {
            type: 'checkbox', 'aria-label': 'Select all on this page', checked: allOnPage,
            onchange: (e) => { for (const c of items) { if (e.target.checked) list.selected.set(c.id, { id: c.id, dataId: c.dataId, group: c.group }); else list.selected.delete(c.id); } renderPage(page); renderSel(); },
          })),
          h('th', {}, 'Data ID'), h('th', {}, 'Group'), h('th', {}, 'App'), h('th', {}, 'Content'), h('th', {}, 'Actions'))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 6 }, 'No configs match.')))),
      h('div.pager', {},
        h('button', { type: 'button', disabled: list.pageNo <= 1, onclick: () => { list.pageNo--; load(); } }, 'Previous'),
        h('span', { id: 'page-info' }, `Page ${page.pageNumber || list.pageNo} of ${pages}, ${page.totalCount} configs`),
        h('button', { type: 'button', disabled: list.pageNo >= pages, onclick: () => { list.pageNo++; load(); } }, 'Next'),
        h('label.inline', {}, 'Per page', select('Per page', [['10', '10'], ['20', '20'], ['50', '50'], ['100', '100']], String(list.pageSize), {
          onchange: (e) => { list.pageSize = +e.target.value; list.pageNo = 1; load(); },
        }))));
  }

  function renderSel() {
    const n = list.selected.size;
    if (!n) { swap(selBar); return; }
    const items = [...list.selected.values()];
    swap(selBar, h('div.selection', { role: 'region', 'aria-label': 'Selection' },
      h('strong', {}, `${n} selected`),
      writable ? h('button.danger', { type: 'button', onclick: () => deleteItems(items) }, 'Delete selected') : null,
      h('button', { type: 'button', onclick: () => exportDialog(items) }, 'Export selected'),
      h('button', { type: 'button', onclick: () => cloneDialog(items) }, 'Clone selected'),
      h('button', { type: 'button', onclick: () => { list.selected.clear(); renderSel(); load(); } }, 'Clear selection')));
  }

  async function deleteItems(items) {
    const names = h('ul', {}, items.slice(0, 20).map((c) => h('li.mono', {}, `${c.group} / ${c.dataId}`)));
    if (!(await confirmDialog(`Delete ${items.length} config(s)?`, names, 'Delete', true))) return;
    const r = await api('DELETE', '/v1/cs/configs', { delType: 'ids', ids: items.map((c) => c.id).join(','), tenant: V.ns });
    if (r.status !== 200) { say('Delete failed: ' + failure(r), true); return; }
    items.forEach((c) => list.selected.delete(c.id));
    say(`Deleted ${items.length} config(s).`);
    renderSel();
    load();
  }

  function exportParams(items) {
    if (items) return { tenant: V.ns, ids: items.map((c) => c.id).join(',') };
    let dataId = list.q.dataId;
    if (!list.q.exact && dataId && !/\*/.test(dataId)) dataId = '*' + dataId + '*';
    return { tenant: V.ns, dataId, group: list.q.group, appName: list.q.appName, ids: '' };
  }

  function exportDialog(items) {
    dialog(items ? `Export ${items.length} selected config(s)` : 'Export the search results', (close) => {
      const p = exportParams(items);
      return h('div', {},
        h('p', {}, 'v2 keeps each config\'s type, description and app name; v1 is what Nacos 1.x imports.'),
        h('div.row', {},
          h('a.btn', { href: url('/v1/cs/configs', Object.assign({ exportV2: 'true' }, p)), download: '', id: 'export-v2' }, 'Download (v2)'),
          h('a.btn', { href: url('/v1/cs/configs', Object.assign({ export: 'true' }, p)), download: '', id: 'export-v1' }, 'Download (v1)')),
        h('div.buttons', {}, h('button', { type: 'button', onclick: () => close() }, 'Close')));
    });
  }

  renderSel();
  await load();
};

function guessType(dataId) {
  const ext = (dataId.split('.').pop() || '').toLowerCase();
  return { yml: 'yaml', yaml: 'yaml', json: 'json', xml: 'xml', html: 'html', htm: 'html', properties: 'properties' }[ext] || 'text';
}

// Import a zip into the current namespace with a policy; shows the result.
function importDialog() {
  dialog(`Import into ${nsName(V.ns)}`, (close) => {
    const file = h('input', { type: 'file', accept: '.zip,application/zip', name: 'file', id: 'import-file' });
    const policy = select('Policy', [['ABORT', 'Abort on the first existing config'], ['SKIP', 'Skip existing configs'], ['OVERWRITE', 'Overwrite existing configs']], 'ABORT', { id: 'import-policy' });
    const out = h('div', { id: 'import-result', role: 'status' });
    const run = async () => {
      if (!file.files.length) { swap(out, h('div.banner.error', {}, 'Choose a zip file first.')); return; }
      const fd = new FormData();
      fd.append('file', file.files[0]);
      fd.append('policy', policy.value);
      const r = await api('POST', '/v1/cs/configs', { import: 'true', namespace: V.ns, policy: policy.value }, { body: fd });
      swap(out, transferResult(r));
    };
    return h('div', {},
      h('div.row', {}, h('label', {}, 'Zip file', file), h('label', {}, 'When a config exists', policy)),
      out,
      h('div.buttons', {},
        h('button', { type: 'button', onclick: () => { close(); route(); } }, 'Close'),
        h('button.primary', { type: 'button', onclick: run, id: 'import-run' }, 'Import')));
  });
}

// The result of an import or clone: counts and the lists of names.
function transferResult(r) {
  if (!r.json || r.json.code === undefined) return h('div.banner.error', {}, 'Failed: ' + failure(r));
  const d = r.json.data || {};
  const names = (l) => (l || []).map((x) => x.itemName || `${x.group}/${x.dataId}`).join(', ');
  const ok = r.json.code === 200;
  // The server's messages are Nacos's (some in Chinese); say it in English.
  const why = {
    100001: 'the target namespace does not exist',
    100002: 'the metadata in the zip is not valid',
    100004: 'the upload could not be read',
    100005: 'no config found in the file',
    100006: 'no config selected',
  }[r.json.code];
  return h('div', { class: 'banner ' + (ok ? 'ok' : 'error'), 'data-code': r.json.code },
    h('div', {}, h('strong', {}, ok ? 'Done' : `Refused (${r.json.code}): ${why || r.json.message}`)),
    h('div', { class: 'counts' }, `imported ${d.succCount || 0}, skipped ${d.skipCount || 0}, failed ${(d.failData || []).length}, unrecognised ${d.unrecognizedCount || 0}`),
    d.failData ? h('div', {}, 'Failed: ', names(d.failData)) : null,
    d.skipData ? h('div', {}, 'Skipped: ', names(d.skipData)) : null,
    d.unrecognizedData ? h('div', {}, 'Unrecognised: ', names(d.unrecognizedData)) : null);
}

// Clone a selection into another namespace, renaming items on the way.
function cloneDialog(items) {
  dialog(`Clone ${items.length} config(s)`, (close) => {
    const others = V.namespaces.map((n) => [n.namespace, (n.namespaceShowName || 'public') + (n.namespace ? ` (${n.namespace})` : '')]);
    const target = select('Target namespace', others, (V.namespaces.find((n) => n.namespace !== V.ns) || {}).namespace || '', { id: 'clone-target' });
    const policy = select('Policy', [['ABORT', 'Abort on the first existing config'], ['SKIP', 'Skip existing configs'], ['OVERWRITE', 'Overwrite existing configs']], 'ABORT', { id: 'clone-policy' });
    const rows = items.map((c) => {
      const d = h('input', { value: c.dataId, 'aria-label': `New data ID for ${c.dataId}`, class: 'mono' });
      const g = h('input', { value: c.group, 'aria-label': `New group for ${c.dataId}`, class: 'mono' });
      return { c, d, g, tr: h('tr', {}, h('td.mono', {}, `${c.group} / ${c.dataId}`), h('td', {}, d), h('td', {}, g)) };
    });
    const out = h('div', { id: 'clone-result', role: 'status' });
    const run = async () => {
      const body = JSON.stringify(rows.map((r) => ({ cfgId: +r.c.id, dataId: r.d.value.trim(), group: r.g.value.trim() })));
      const r = await api('POST', '/v1/cs/configs', { clone: 'true', tenant: target.value, policy: policy.value, namespaceId: target.value }, { body, type: 'application/json' });
      swap(out, transferResult(r));
    };
    return h('div', {},
      h('div.row', {}, h('label', {}, 'Target namespace', target), h('label', {}, 'When a config exists', policy)),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Source'), h('th', {}, 'Data ID'), h('th', {}, 'Group'))), h('tbody', {}, rows.map((r) => r.tr))),
      out,
      h('div.buttons', {},
        h('button', { type: 'button', onclick: () => close() }, 'Close'),
        h('button.primary', { type: 'button', onclick: run, id: 'clone-run' }, 'Clone')));
  });
}
