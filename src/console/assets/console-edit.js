// vigil console, one config: create and edit (validation, diff before every
// publish, compare-and-set so a concurrent change is a visible conflict),
// beta, the read-only detail with comparisons, and history with rollback.
// Live: a watch stream on the key marks the page when it changes elsewhere.
'use strict';

// The stored config (show=all), or null when absent.
async function loadDetail(tenant, group, dataId) {
  const r = await api('GET', '/v1/cs/configs', { show: 'all', dataId, group, tenant });
  if (r.status !== 200) throw new Error(failure(r));
  return r.json && r.json.dataId !== undefined ? r.json : null;
}

// Publishes a formal config with casMd5 = the md5 the editor started from.
async function publishConfig(c, casMd5, headers) {
  const form = { dataId: c.dataId, group: c.group, tenant: V.ns, content: c.content, type: c.type };
  for (const k of ['desc', 'appName', 'config_tags']) if (c[k]) form[k] = c[k];
  if (casMd5) form.casMd5 = casMd5;
  return api('POST', '/v1/cs/configs', {}, { form, headers });
}

function isConflict(r) {
  return r.status !== 200 && /cas publish fail/i.test(r.text);
}

V.pages.edit = async function (view, params) {
  const creating = !params.dataId;
  let stored = creating ? null : await loadDetail(V.ns, params.group, params.dataId);
  if (!creating && !stored) { say(`${params.group} / ${params.dataId} does not exist in ${nsName(V.ns)}.`, true); }
  let baseMd5 = stored ? stored.md5 : '';
  let baseContent = stored ? stored.content : '';
  const f = {
    dataId: h('input.mono', { name: 'dataId', value: params.dataId || '', readonly: !creating, required: true }),
    group: h('input.mono', { name: 'group', value: params.group || 'DEFAULT_GROUP', readonly: !creating, required: true }),
    desc: h('input', { name: 'desc', value: (stored && stored.desc) || '' }),
    appName: h('input', { name: 'appName', value: (stored && stored.appName) || '' }),
    tags: h('input', { name: 'config_tags', value: (stored && stored.configTags) || '' }),
  };
  const type = (stored && stored.type) || guessType(params.dataId || '');
  const fmt = select('Format', FORMATS.map((x) => [x, x]), type, { name: 'type' });
  const problems = h('div', { id: 'problems', role: 'alert' });
  const writable = await canWrite(V.ns, params.group, params.dataId);
  const remote = h('div', { id: 'remote' });
  const ed = editor(baseContent, type, { label: 'Content', tall: true, onInput: () => swap(problems) });
  fmt.addEventListener('change', () => { ed.setFormat(fmt.value); swap(problems); });
  f.dataId.addEventListener('change', () => { if (creating) { fmt.value = guessType(f.dataId.value); ed.setFormat(fmt.value); } });
  const live = liveMarker();
  const current = () => ({
    dataId: f.dataId.value.trim(), group: f.group.value.trim(), content: ed.value(), type: fmt.value,
    desc: f.desc.value, appName: f.appName.value.trim(), config_tags: f.tags.value.trim(),
  });

  const check = () => {
    const e = validate(fmt.value, ed.value());
    ed.markError(e ? e.line : null);
    if (!e) { swap(problems, h('div.banner.ok', {}, `Valid ${fmt.value}.`)); return true; }
    swap(problems, h('div.banner.error', { 'data-line': e.line }, `Invalid ${fmt.value} at line ${e.line}: ${e.message}`));
    return false;
  };

  const review = async () => {
    const c = current();
    if (!c.dataId || !c.group) { swap(problems, h('div.banner.error', {}, 'Data ID and group are required.')); return; }
    if (!c.content.trim()) { swap(problems, h('div.banner.error', {}, 'The content is empty.')); return; }
    const valid = check();
    const now = await loadDetail(V.ns, c.group, c.dataId);
    if (creating && now) { swap(problems, h('div.banner.error', {}, `${c.group} / ${c.dataId} already exists: edit it instead.`)); return; }
    const go_ = await dialog(creating ? 'Review the new config' : 'Review changes before publishing', (close) => h('div', {},
      valid ? null : h('div.banner.error', {}, `The content is not valid ${c.type}; publish anyway only if that is intended.`),
      now && now.md5 !== baseMd5 ? h('div.banner.warn', {}, 'The stored version changed since you opened it: this diff is against the stored version.') : null,
      diffView(now ? now.content : '', c.content, now ? 'stored version' : '(new config)', 'your version'),
      h('div.buttons', {},
        h('button', { type: 'button', onclick: () => close(false) }, 'Keep editing'),
        h('button.primary', { type: 'button', id: 'confirm-publish', onclick: () => close(true) }, valid ? 'Publish' : 'Publish anyway'))));
    if (!go_) return;
    const r = await publishConfig(c, creating ? '' : baseMd5);
    if (r.status === 200 && r.text.trim() === 'true') {
      say(`Published ${c.group} / ${c.dataId}.`);
      go('detail', { dataId: c.dataId, group: c.group });
      return;
    }
    if (isConflict(r)) { conflict(c); return; }
    swap(problems, h('div.banner.error', {}, 'Publish failed: ' + failure(r)));
  };

  // Someone else published since the editor opened: show what they changed
  // against what the operator wrote, and let them choose.
  const conflict = async (mine) => {
    const theirs = await loadDetail(V.ns, mine.group, mine.dataId);
    const choice = await dialog('Conflict: changed by someone else', (close) => h('div', { id: 'conflict' },
      h('div.banner.error', {}, 'Your publish was refused: the config changed since you opened it. Nothing was overwritten.'),
      diffView(theirs ? theirs.content : '', mine.content, 'their version (stored now)', 'your version'),
      h('div.buttons', {},
        h('button', { type: 'button', onclick: () => close('keep') }, 'Keep editing'),
        h('button', { type: 'button', onclick: () => close('theirs') }, 'Discard mine, load theirs'),
        h('button.danger', { type: 'button', onclick: () => close('mine') }, 'Review mine over theirs'))));
    if (choice === 'theirs') { ed.setValue(theirs ? theirs.content : ''); }
    if (choice === 'theirs' || choice === 'mine') {
      baseMd5 = theirs ? theirs.md5 : '';
      baseContent = theirs ? theirs.content : '';
      swap(remote);
    }
    if (choice === 'mine') review();
  };

  put(view, 
    h('h1', {}, creating ? 'New config' : 'Edit config', creating ? null : live),
    h('div.row', {},
      h('label', {}, 'Data ID', f.dataId), h('label', {}, 'Group', f.group), h('label', {}, 'Format', fmt),
      h('label', {}, 'App name', f.appName), h('label', {}, 'Tags', f.tags), h('label.grow', {}, 'Description', f.desc)),
    writable ? null : h('div.banner.warn', {}, 'You have read access only here: the server will refuse a publish.'),
    remote, problems, ed.el,
    h('div.row', {},
      h('button', { type: 'button', onclick: check }, 'Validate'),
      h('button.primary', { type: 'button', id: 'review', onclick: review }, creating ? 'Review & create' : 'Review & publish'),
      h('button', { type: 'button', onclick: () => history.back() }, 'Cancel')),
    creating ? null : betaPanel(params, () => ed.value()));

  if (!creating) {
    watch({ tenant: V.ns, group: params.group, dataId: params.dataId }, (kind, d) => {
      if (kind === 'reset' || (d.md5 || '') === baseMd5) return;
      const when = fmtTime(d.lastModified || Date.now());
      swap(remote, h('div.banner.warn', { id: 'remote-change', 'data-md5': d.md5 || '' },
        h('span.pill.changed', {}, kind === 'delete' ? 'deleted elsewhere' : 'changed elsewhere'), ' ',
        `${kind === 'delete' ? 'Deleted' : 'Published'} by another client at ${when}. Publishing now would be refused as a conflict. `,
        h('button', { type: 'button', onclick: async () => {
          const theirs = await loadDetail(V.ns, params.group, params.dataId);
          dialog('Changed elsewhere', (close) => h('div', {}, diffView(baseContent, theirs ? theirs.content : '', 'the version you opened', 'stored now'),
            h('div.buttons', {}, h('button', { type: 'button', onclick: () => close() }, 'Close'))));
        } }, 'Show their change')));
    }, live.set);
  }
  ed.focus();
};

// Beta: publish the editor's content to listed addresses, view, stop.
function betaPanel(params, content) {
  const ips = h('input.mono', { name: 'betaIps', placeholder: '10.0.0.7,10.0.0.8' });
  const out = h('div', { id: 'beta-out' });
  const key = { dataId: params.dataId, group: params.group, tenant: V.ns };
  const show = async () => {
    const r = await api('GET', '/v1/cs/configs', Object.assign({ beta: 'true' }, key));
    const d = r.json && r.json.data;
    swap(out, d ? h('div', {}, h('p', {}, 'Beta for ', h('code', {}, d.betaIps || '')), editor(d.content, guessType(params.dataId), { readonly: true, label: 'Beta content' }).el)
      : h('p.muted', {}, 'No beta is running.'));
  };
  return h('section.card', { 'aria-label': 'Beta' },
    h('h2', {}, 'Beta (gray) release'),
    h('div.row', {},
      h('label.grow', {}, 'Beta addresses (comma-separated)', ips),
      h('button', { type: 'button', onclick: async () => {
        if (!ips.value.trim()) { say('List at least one address for a beta.', true); return; }
        const r = await api('POST', '/v1/cs/configs', {}, { form: { dataId: params.dataId, group: params.group, tenant: V.ns, content: content() }, headers: { betaIps: ips.value.trim() } });
        say(r.status === 200 ? 'Beta published.' : 'Beta publish failed: ' + failure(r), r.status !== 200);
        show();
      } }, 'Publish to beta'),
      h('button', { type: 'button', onclick: show }, 'Show beta'),
      h('button.danger', { type: 'button', onclick: async () => {
        const r = await api('DELETE', '/v1/cs/configs', Object.assign({ beta: 'true' }, key));
        say(r.status === 200 ? 'Beta stopped.' : 'Stop failed: ' + failure(r), r.status !== 200);
        show();
      } }, 'Stop beta')),
    out);
}

V.pages.detail = async function (view, params) {
  const key = { dataId: params.dataId, group: params.group, tenant: V.ns };
  let c = await loadDetail(V.ns, params.group, params.dataId);
  const writable = await canWrite(V.ns, params.group, params.dataId);
  const live = liveMarker();
  const marker = h('span', { id: 'live-updated' });
  const body = h('div');
  const compare = h('div', { id: 'compare' });
  const render = () => {
    if (!c) { swap(body, h('div.banner.warn', {}, `${params.group} / ${params.dataId} does not exist in ${nsName(V.ns)}.`)); return; }
    const t = c.type || guessType(c.dataId);
    swap(body, 
      h('dl.meta', {},
        h('dt', {}, 'Data ID'), h('dd', {}, h('code', { id: 'd-dataId' }, c.dataId), copyButton(c.dataId, 'data ID')),
        h('dt', {}, 'Group'), h('dd', {}, h('code', {}, c.group), copyButton(c.group, 'group')),
        h('dt', {}, 'Namespace'), h('dd', {}, nsName(V.ns)),
        h('dt', {}, 'Format'), h('dd', {}, t),
        h('dt', {}, 'MD5'), h('dd', {}, h('code', { id: 'd-md5' }, c.md5 || '')),
        h('dt', {}, 'App'), h('dd', {}, c.appName || ''),
        h('dt', {}, 'Tags'), h('dd', {}, c.configTags || ''),
        h('dt', {}, 'Description'), h('dd', {}, c.desc || ''),
        h('dt', {}, 'Modified'), h('dd', {}, fmtTime(c.modifyTime), ' by ', c.createUser || '?', ' from ', c.createIp || '?')),
      h('div.row', {}, h('strong', {}, 'Content'), copyButton(c.content, 'content')),
      editor(c.content, t, { readonly: true, label: 'Content' }).el);
  };
  const others = V.namespaces.filter((n) => n.namespace !== V.ns).map((n) => [n.namespace, n.namespaceShowName || 'public']);
  const otherNs = select('Other namespace', others, others.length ? others[0][0] : '');
  const tag = h('input.mono', { name: 'tag', 'aria-label': 'Tag variant name', placeholder: 'tag name' });
  put(view, 
    h('h1', {}, 'Config', h('span.mono', {}, `${params.group} / ${params.dataId}`), live, marker),
    h('div.row', {},
      writable ? h('button.primary', { type: 'button', onclick: () => go('edit', params) }, 'Edit') : null,
      h('button', { type: 'button', onclick: () => go('history', params) }, 'History'),
      h('button', { type: 'button', onclick: () => go('listeners', params) }, 'Listeners'),
      h('button', { type: 'button', id: 'cmp-prev', onclick: async () => {
        const r = await api('GET', '/v1/cs/history/previous', Object.assign({ id: c.id }, key));
        if (r.status !== 200 || !r.json) { swap(compare, h('div.banner.warn', {}, 'No previous version: ' + failure(r))); return; }
        swap(compare, h('h2', {}, 'Previous version → current'), diffView(r.json.content || '', c.content, `previous (#${r.json.id})`, 'current'));
      } }, 'Compare with previous'),
      others.length ? h('label.inline', {}, 'Compare with namespace', otherNs) : null,
      others.length ? h('button', { type: 'button', onclick: async () => {
        const r = await api('GET', '/v1/cs/configs', { dataId: params.dataId, group: params.group, tenant: otherNs.value });
        const theirs = r.status === 200 ? r.text : '';
        swap(compare, h('h2', {}, `${nsName(otherNs.value)} → ${nsName(V.ns)}`),
          r.status === 200 ? null : h('div.banner.warn', {}, `Not in ${nsName(otherNs.value)}.`),
          diffView(theirs, c.content, nsName(otherNs.value), nsName(V.ns)));
      } }, 'Compare') : null,
      h('label.inline', {}, 'Tag variant', tag),
      h('button', { type: 'button', onclick: async () => {
        const r = await api('GET', '/v1/cs/configs', Object.assign({ tag: tag.value.trim() }, key));
        swap(compare, h('h2', {}, `Tag variant "${tag.value.trim()}" beside the formal config`),
          r.status === 200 ? diffView(c.content, r.text, 'formal', 'tag ' + tag.value.trim()) : h('div.banner.warn', {}, 'No such tag variant.'));
      } }, 'Show variant'),
      h('button', { type: 'button', onclick: async () => {
        const r = await api('GET', '/v1/cs/configs', Object.assign({ beta: 'true' }, key));
        const d = r.json && r.json.data;
        swap(compare, h('h2', {}, 'Beta beside the formal config'),
          d ? h('div', {}, h('p', {}, 'Addresses: ', h('code', {}, d.betaIps || '')), diffView(c.content, d.content, 'formal', 'beta')) : h('p.muted', {}, 'No beta is running.'));
      } }, 'Show beta')),
    compare, body);
  render();
  watch({ tenant: V.ns, group: params.group, dataId: params.dataId }, async (kind, d) => {
    if (kind !== 'reset' && c && (d.md5 || '') === c.md5) return;
    c = await loadDetail(V.ns, params.group, params.dataId);
    render();
    if (kind === 'reset') return;
    swap(marker, h('span.pill.changed', {}, `updated live ${new Date().toLocaleTimeString()}`));
  }, live.set);
};

V.pages.history = async function (view, params) {
  const key = { dataId: params.dataId, group: params.group, tenant: V.ns };
  const writable = await canWrite(V.ns, params.group, params.dataId);
  const out = h('div', { id: 'history-out' });
  const table = h('div');
  const picked = new Set();
  let pageNo = 1;
  // A version's content: a history row's, or the stored one ('current').
  const version = async (nid) => {
    if (nid === 'current') {
      const d = await loadDetail(V.ns, params.group, params.dataId);
      return { id: 'current', content: d ? d.content : '' };
    }
    const r = await api('GET', '/v1/cs/history', Object.assign({ nid }, key));
    if (r.status !== 200 || !r.json) throw new Error(failure(r));
    return r.json;
  };
  const label = (nid) => (nid === 'current' ? 'current' : '#' + nid);
  const compareBtn = h('button.primary', { type: 'button', id: 'compare-two', disabled: true, onclick: async () => {
    // Older first: history ids grow with time and 'current' is the newest.
    const [a, b] = [...picked].sort((x, y) => (x === 'current') - (y === 'current') || x - y);
    const [va, vb] = await Promise.all([version(a), version(b)]);
    swap(out, h('h2', {}, `${label(a)} → ${label(b)}`), diffView(va.content || '', vb.content || '', label(a), label(b)));
  } }, 'Compare the two selected');
  const pick = (nid) => h('input', { type: 'checkbox', 'aria-label': `Pick version ${label(nid)}`, checked: picked.has(nid), onchange: (e) => {
    if (e.target.checked) picked.add(nid); else picked.delete(nid);
    compareBtn.disabled = picked.size !== 2;
  } });
  const rollback = async (item) => {
    const v = await version(item.id);
    const now = await loadDetail(V.ns, params.group, params.dataId);
    const ok = await confirmDialog(`Roll back to version #${item.id}?`, h('div', {},
      h('p', {}, 'This publishes the old content as a new version. What changes:'),
      diffView(now ? now.content : '', v.content || '', now ? 'current' : '(deleted)', `version #${item.id}`)), 'Roll back', true);
    if (!ok) return;
    const c = { dataId: params.dataId, group: params.group, content: v.content, type: (now && now.type) || guessType(params.dataId), appName: v.appName || '' };
    const r = await publishConfig(c, now ? now.md5 : '');
    if (r.status === 200) { say(`Rolled back to version #${item.id}.`); load(); }
    else if (isConflict(r)) say('Rollback refused: the config changed meanwhile. Review again.', true);
    else say('Rollback failed: ' + failure(r), true);
  };
  async function load() {
    const r = await api('GET', '/v1/cs/history', Object.assign({ search: 'accurate', pageNo, pageSize: 20 }, key));
    if (r.status !== 200 || !r.json) { say('History failed: ' + failure(r), true); return; }
    const items = r.json.pageItems || [];
    // As in Nacos, a row keeps the content an operation replaced: a create
    // row the first content, an update row the content before the update.
    const ops = { I: 'created (first content)', U: 'updated (content before)', D: 'deleted (content removed)' };
    swap(table, h('table', { 'aria-label': 'History' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Pick'), h('th', {}, 'Version'), h('th', {}, 'Operation'), h('th', {}, 'When'), h('th', {}, 'By'), h('th', {}, 'From'), h('th', {}, 'Actions'))),
      h('tbody', {},
        pageNo === 1 ? h('tr', { 'data-version': 'current' }, h('td', {}, pick('current')), h('td', {}, 'current'), h('td', {}, 'stored now'), h('td'), h('td'), h('td'), h('td')) : null,
        items.map((it) => h('tr', { 'data-nid': it.id },
        h('td', {}, pick(+it.id)),
        h('td.mono', {}, '#' + it.id), h('td', {}, ops[(it.opType || '').trim()] || it.opType),
        h('td', {}, fmtTime(it.lastModifiedTime)), h('td', {}, it.srcUser || ''), h('td.mono', {}, it.srcIp || ''),
        h('td.actions', {},
          h('button', { type: 'button', onclick: async () => {
            const v = await version(it.id);
            swap(out, h('h2', {}, `Version #${it.id}`), editor(v.content || '', guessType(params.dataId), { readonly: true, label: `Version ${it.id}` }).el);
          } }, 'View'), ' ',
          writable ? h('button.danger', { type: 'button', onclick: () => rollback(it) }, 'Roll back') : null))))),
    h('div.pager', {},
      h('button', { type: 'button', disabled: pageNo <= 1, onclick: () => { pageNo--; load(); } }, 'Newer'),
      h('span', {}, `Page ${pageNo} of ${r.json.pagesAvailable || 1}`),
      h('button', { type: 'button', disabled: pageNo >= (r.json.pagesAvailable || 1), onclick: () => { pageNo++; load(); } }, 'Older')));
  }
  put(view, h('h1', {}, 'History', h('span.mono', {}, `${params.group} / ${params.dataId}`)),
    h('div.row', {}, compareBtn, h('button', { type: 'button', onclick: () => go('detail', params) }, 'Back to the config')),
    table, out);
  await load();
};
