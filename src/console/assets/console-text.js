// vigil console, text: line diff, per-format validation, highlighting and
// the editor (a highlighted <pre> under a transparent <textarea>).
'use strict';

const FORMATS = ['text', 'json', 'yaml', 'properties', 'xml', 'html'];

// ---- diff -----------------------------------------------------------------

// Line diff of a -> b as [{op: ' '|'-'|'+', a: lineNo, b: lineNo, text}].
// Common head and tail are cut first; the middle is an LCS table, which is
// bounded: past it the middle is shown as removed then added.
function diffLines(a, b) {
  const A = a === '' ? [] : a.split('\n');
  const B = b === '' ? [] : b.split('\n');
  let s = 0;
  while (s < A.length && s < B.length && A[s] === B[s]) s++;
  let ea = A.length, eb = B.length;
  while (ea > s && eb > s && A[ea - 1] === B[eb - 1]) { ea--; eb--; }
  const out = [];
  for (let i = 0; i < s; i++) out.push({ op: ' ', a: i + 1, b: i + 1, text: A[i] });
  const n = ea - s, m = eb - s;
  if (n * m > 4e6) {
    for (let i = s; i < ea; i++) out.push({ op: '-', a: i + 1, text: A[i] });
    for (let j = s; j < eb; j++) out.push({ op: '+', b: j + 1, text: B[j] });
  } else {
    const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        L[i][j] = A[s + i] === B[s + j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
      }
    }
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && A[s + i] === B[s + j]) { out.push({ op: ' ', a: s + i + 1, b: s + j + 1, text: A[s + i] }); i++; j++; }
      else if (i < n && (j === m || L[i + 1][j] >= L[i][j + 1])) { out.push({ op: '-', a: s + i + 1, text: A[s + i] }); i++; }
      else { out.push({ op: '+', b: s + j + 1, text: B[s + j] }); j++; }
    }
  }
  for (let k = 0; k < A.length - ea; k++) out.push({ op: ' ', a: ea + k + 1, b: eb + k + 1, text: A[ea + k] });
  return out;
}

// A unified diff view with 3 lines of context around each change.
function diffView(a, b, labelA, labelB) {
  const d = diffLines(a, b);
  const adds = d.filter((x) => x.op === '+').length, dels = d.filter((x) => x.op === '-').length;
  const keep = new Uint8Array(d.length);
  d.forEach((x, i) => { if (x.op !== ' ') for (let k = Math.max(0, i - 3); k <= Math.min(d.length - 1, i + 3); k++) keep[k] = 1; });
  const rows = [];
  let gap = false;
  d.forEach((x, i) => {
    if (!keep[i]) { if (!gap) rows.push(h('tr.gap', {}, h('td.n', {}, ''), h('td.n', {}, ''), h('td.m', {}, ''), h('td.c', {}, '...'))); gap = true; return; }
    gap = false;
    rows.push(h('tr', { class: x.op === '+' ? 'add' : x.op === '-' ? 'del' : null },
      h('td.n', {}, x.a || ''), h('td.n', {}, x.b || ''), h('td.m', {}, x.op), h('td.c', {}, x.text)));
  });
  const same = adds === 0 && dels === 0;
  return h('div.diffbox', { 'data-adds': adds, 'data-dels': dels },
    h('div.diff-head', {}, h('span.del', {}, `- ${labelA}`), h('span.add', {}, `+ ${labelB}`),
      h('span', {}, same ? 'no differences' : `${dels} removed, ${adds} added`)),
    same ? null : h('div.diff', { tabindex: 0, role: 'region', 'aria-label': 'Differences' }, h('table', {}, h('tbody', {}, rows))));
}

// ---- validation -----------------------------------------------------------

// Validates `text` as `format`: null when valid, else {line, message}.
function validate(format, text) {
  switch (format) {
    case 'json': return validateJson(text);
    case 'yaml': return validateYaml(text);
    case 'xml': return validateXml(text);
    case 'properties': return validateProperties(text);
    default: return null;
  }
}

function lineOf(text, pos) {
  return text.slice(0, pos).split('\n').length;
}

function validateJson(text) {
  try { JSON.parse(text); return null; } catch (e) {
    const msg = e.message;
    let m = /line (\d+)/.exec(msg);
    if (m) return { line: +m[1], message: msg };
    m = /position (\d+)/.exec(msg);
    return { line: m ? lineOf(text, +m[1]) : 1, message: msg };
  }
}

function validateXml(text) {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  const err = doc.querySelector('parsererror');
  if (!err) return null;
  const msg = err.textContent.replace(/\s+/g, ' ').trim();
  const m = /line (\d+)/i.exec(msg);
  return { line: m ? +m[1] : 1, message: msg.replace(/^This page contains the following errors:\s*/, '').replace(/Below is a rendering.*$/, '') };
}

function validateProperties(text) {
  const lines = text.split('\n');
  let cont = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].replace(/\r$/, '');
    const t = l.trim();
    const wasCont = cont;
    cont = /(^|[^\\])(\\\\)*\\$/.test(l);
    if (wasCont || t === '' || t[0] === '#' || t[0] === '!') continue;
    if (t[0] === '=' || t[0] === ':') return { line: i + 1, message: 'a property needs a key before "' + t[0] + '"' };
  }
  return null;
}

// A YAML checker for what breaks configs in practice: tabs, indentation that
// matches no parent, `key: value` structure, a mapping value inside a plain
// value, duplicate keys, unclosed quotes and brackets. Block scalars and
// multi-line plain values are skipped.
function validateYaml(text) {
  const lines = text.split('\n');
  const stack = [{ indent: -1, keys: new Set(), seq: false }];
  let block = -1; // indent of the key owning a block scalar
  let plainFrom = -1; // indent of a key whose plain value may continue
  let flow = 0;
  const err = (i, message) => ({ line: i + 1, message });
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, '');
    if (/^\s*$/.test(raw) || /^\s*#/.test(raw)) continue;
    const indent = raw.length - raw.replace(/^ */, '').length;
    if (block >= 0 && indent > block) continue;
    block = -1;
    if (/^ *\t/.test(raw)) return err(i, 'tabs are not allowed in indentation');
    if (indent === 0 && /^(---|\.\.\.)(\s|$)/.test(raw)) { stack.length = 1; stack[0].keys = new Set(); plainFrom = -1; continue; }
    if (flow > 0) { flow += bracketDelta(raw); if (flow < 0) return err(i, 'unbalanced brackets'); continue; }
    if (plainFrom >= 0 && indent > plainFrom) continue;
    plainFrom = -1;
    while (stack.length > 1 && indent < stack[stack.length - 1].indent) stack.pop();
    let top = stack[stack.length - 1];
    if (indent > top.indent && top.open) {
      top.open = false;
      stack.push(top = { indent, keys: new Set() });
    } else if (indent !== top.indent && !(top.indent === -1 && stack.length === 1)) {
      return err(i, `bad indentation: ${indent} spaces match no enclosing block`);
    } else if (top.indent === -1) {
      top.indent = indent;
    }
    let rest = raw.slice(indent);
    let itemIndent = indent;
    while (/^-( |$)/.test(rest)) {
      if (top.kind === 'map') return err(i, 'a sequence item where a mapping key was expected');
      top.kind = 'seq';
      const after = rest.slice(1).replace(/^ +/, '');
      itemIndent += rest.length - after.length;
      rest = after;
      if (rest === '') { top.open = true; break; }
      top.open = false;
      stack.push(top = { indent: itemIndent, keys: new Set() });
    }
    if (rest === '') continue;
    const kv = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"{[\]}&*!|>%@`,?:-][^#]*?|[-?:][^\s#][^#]*?)\s*:(\s+|$)(.*)$/.exec(rest);
    if (!kv) {
      if (top.kind === 'map') return err(i, 'expected "key: value"');
      const bad = scalarError(rest);
      if (bad) return err(i, bad);
      if (/^[[{]/.test(rest)) { flow = bracketDelta(rest); if (flow < 0) return err(i, 'unbalanced brackets'); }
      top.kind = top.kind || 'scalar';
      if (stack.length === 1 && top.kind === 'scalar') plainFrom = indent - 1;
      continue;
    }
    if (top.kind === 'seq' && itemIndent === top.indent) return err(i, 'a mapping key where a sequence item was expected');
    if (top.kind === 'scalar') return err(i, 'a mapping key after a plain value');
    top.kind = 'map';
    const key = kv[1].replace(/^["']|["']$/g, '');
    if (top.keys.has(key)) return err(i, `duplicate key "${key}"`);
    top.keys.add(key);
    const value = kv[3].replace(/\s+#.*$/, '').trim();
    if (value === '') { top.open = true; continue; }
    top.open = false;
    if (/^[|>][-+0-9]*$/.test(value)) { block = itemIndent; continue; }
    if (/^[[{]/.test(value)) { flow = bracketDelta(value); if (flow < 0) return err(i, 'unbalanced brackets'); continue; }
    const bad = scalarError(value);
    if (bad) return err(i, bad);
    plainFrom = itemIndent;
  }
  if (flow > 0) return err(lines.length - 1, 'a bracket is never closed');
  return null;
}

function scalarError(v) {
  if (/^"/.test(v) && !/^"(?:[^"\\]|\\.)*"\s*(#.*)?$/.test(v)) return 'unclosed or misplaced double quote';
  if (/^'/.test(v) && !/^'(?:[^']|'')*'\s*(#.*)?$/.test(v)) return 'unclosed or misplaced single quote';
  if (/^[^"'].*?:\s/.test(v) && !/^[[{]/.test(v)) return 'mapping values are not allowed here (quote the value)';
  if (/^[@`]/.test(v)) return `a plain value cannot start with "${v[0]}"`;
  return null;
}

function bracketDelta(s) {
  let d = 0, q = '';
  for (const c of s) {
    if (q) { if (c === q) q = ''; continue; }
    if (c === '"' || c === "'") q = c;
    else if (c === '#') break;
    else if (c === '[' || c === '{') d++;
    else if (c === ']' || c === '}') d--;
  }
  return d;
}

// ---- highlighting ---------------------------------------------------------

const RULES = {
  json: [[/"(?:[^"\\]|\\.)*"(?=\s*:)/y, 't-key'], [/"(?:[^"\\]|\\.)*"?/y, 't-str'], [/-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/y, 't-num'], [/\b(?:true|false|null)\b/y, 't-kw'], [/[{}[\],:]/y, 't-punc']],
  yaml: [[/#.*/y, 't-com'], [/(?:^|(?<=^\s*-?\s*))[^\s#:'"][^:#]*?(?=:(\s|$))/y, 't-key'], [/"(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?/y, 't-str'], [/\b(?:true|false|null|yes|no|on|off)\b/y, 't-kw'], [/-?\b\d+(?:\.\d+)?\b/y, 't-num'], [/^\s*-(?=\s)|---|[{}[\],]/y, 't-punc']],
  properties: [[/^\s*[#!].*/y, 't-com'], [/^\s*[^=:\s]+(?=\s*[=:])/y, 't-key'], [/[=:]/y, 't-punc']],
  xml: [[/<!--[\s\S]*?(?:-->|$)/y, 't-com'], [/<\/?[\w:.-]+|\/?>/y, 't-tag'], [/[\w:.-]+(?==)/y, 't-attr'], [/"[^"]*"?|'[^']*'?/y, 't-str']],
};
RULES.html = RULES.xml;

// The HTML of one line of `format`, escaped, with token spans.
function highlightLine(format, line) {
  const rules = RULES[format];
  if (!rules) return esc(line);
  let out = '', plain = '', i = 0;
  outer: while (i < line.length) {
    for (const [re, cls] of rules) {
      re.lastIndex = i;
      if (re.source.startsWith('^') || re.source.startsWith('(?:^')) {
        // Anchored rules only match at the line start (or after indentation).
        if (line.slice(0, i).trim() !== '' && !/^\s*-\s*$/.test(line.slice(0, i))) continue;
      }
      const m = re.exec(line);
      if (m && m[0].length && m.index === i) {
        out += esc(plain) + `<span class="${cls}">${esc(m[0])}</span>`;
        plain = '';
        i += m[0].length;
        continue outer;
      }
    }
    plain += line[i++];
  }
  return out + esc(plain);
}

function highlight(format, text) {
  return text.split('\n').map((l) => highlightLine(format, l)).join('\n');
}

// ---- editor ---------------------------------------------------------------

// An editor for `text` in `format`: {el, value(), setValue(), setFormat(),
// markError(line|null), focus()}. Read-only shows the same view, no textarea.
function editor(text, format, opts) {
  opts = opts || {};
  const gutter = h('pre.gutter', { 'aria-hidden': 'true' });
  const pre = h('pre', { 'aria-hidden': opts.readonly ? null : 'true', class: 'hl' });
  const code = h('div.code', {}, pre);
  let ta = null;
  let errLine = null;
  const el = h('div.editor', { class: 'editor' + (opts.readonly ? ' readonly' : '') + (opts.tall ? ' tall' : '') }, gutter, code);
  const render = () => {
    const v = ta ? ta.value : text;
    pre.innerHTML = highlight(format, v) + '\n';
    const n = v.split('\n').length;
    let g = '';
    for (let i = 1; i <= n; i++) g += (i === errLine ? `<span class="err">${i}</span>` : i) + '\n';
    gutter.innerHTML = g;
  };
  if (!opts.readonly) {
    ta = h('textarea', { spellcheck: 'false', 'aria-label': opts.label || 'Content', wrap: 'off', value: text, name: 'content' });
    ta.addEventListener('input', () => { render(); opts.onInput && opts.onInput(); });
    ta.addEventListener('scroll', () => { pre.scrollTop = ta.scrollTop; pre.scrollLeft = ta.scrollLeft; gutter.scrollTop = ta.scrollTop; });
    code.append(ta);
  } else {
    pre.setAttribute('tabindex', '0');
    pre.setAttribute('aria-label', opts.label || 'Content');
    pre.setAttribute('role', 'region');
  }
  render();
  return {
    el,
    value: () => (ta ? ta.value : text),
    setValue: (v) => { if (ta) ta.value = v; else text = v; render(); },
    setFormat: (f) => { format = f; render(); },
    markError: (line) => { errLine = line; render(); },
    focus: () => ta && ta.focus(),
  };
}
