// Weir web console: a small read-only single-page UI over the broker's JSON API (/api/...).
// Hash routes: #/  #/topics  #/topic/<name>  #/topic/<name>/records  #/groups  #/group/<id>.
// Names, keys, values and headers are untrusted: the DOM is built with createElement and
// textContent only (never innerHTML), and names are URI-encoded in API URLs and the hash.
// body[data-state] is "loading" while a page loads, "ready" once rendered, "error" on failure.
'use strict';

const REFRESH_MS = 5000;
const SVG_NS = 'http://www.w3.org/2000/svg';
const enc = encodeURIComponent;

// ---------------------------------------------------------------- DOM helpers

function append(parent, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
  return parent;
}

// h('td', {class: 'num', text: 5}); attributes go through setAttribute, text through textContent.
function h(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  return append(e, children);
}

function s(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text != null) e.textContent = String(text);
  return e;
}

const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const dim = (t) => h('span', {class: 'dim', text: t});
// A value that may be null/undefined (unknown on this broker).
const maybe = (v, f = String) => (v == null ? dim('–') : f(v));
const td = (...c) => h('td', null, ...c);
const tdNum = (v) => h('td', {class: 'num mono'}, maybe(v));
const topicLink = (name) => h('a', {href: '#/topic/' + enc(name), class: 'mono', text: name});
const groupLink = (id) => h('a', {href: '#/group/' + enc(id), class: 'mono', text: id});

// Column names starting with '#' are numeric (right-aligned).
const headRow = (cols) => h('tr', null, cols.map((c) => (c.startsWith('#')
  ? h('th', {scope: 'col', class: 'num', text: c.slice(1)}) : h('th', {scope: 'col', text: c}))));

function table(id, cols, rows) {
  const head = headRow(cols);
  return h('div', {class: 'table-wrap'},
    h('table', {id}, h('thead', null, head), h('tbody', null, rows)));
}

// A <dl> of [label, value, field] items; dd gets data-field for tests and scripts.
function summary(id, items) {
  const dl = h('dl', {id, class: 'summary'});
  for (const [label, value, field, cls] of items) {
    dl.append(h('div', {class: cls ? 'item ' + cls : 'item'},
      h('dt', {text: label}), h('dd', {'data-field': field}, value)));
  }
  return dl;
}

// ---------------------------------------------------------------- formatting

function fmtTime(ms) {
  if (typeof ms !== 'number' || !isFinite(ms)) return dim('–');
  const d = new Date(ms);
  return h('time', {datetime: d.toISOString(), title: d.toISOString(), text: d.toLocaleString()});
}

function isoTime(ms) {
  if (typeof ms !== 'number' || ms < 0 || !isFinite(ms)) return null;
  const d = new Date(ms);
  return isNaN(d.getTime()) ? null : d.toISOString();
}

function fmtBytes(n) {
  if (typeof n !== 'number') return dim('–');
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return h('span', {title: n + ' bytes', text: (i ? v.toFixed(1) : v) + ' ' + units[i]});
}

function fmtVal(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  return Number.isInteger(v) ? String(v) : v.toFixed(a < 10 ? 2 : 1);
}

function fmtSpan(ms) {
  const sec = Math.round(ms / 1000);
  if (sec < 60) return sec + 's';
  if (sec < 3600) return Math.floor(sec / 60) + 'm ' + (sec % 60) + 's';
  return Math.floor(sec / 3600) + 'h ' + Math.floor((sec % 3600) / 60) + 'm';
}

// ---------------------------------------------------------------- plot

// An inline SVG line plot of [[t_ms, value], ...]: time on x, value on y.
function plot(series, title, points) {
  const W = 440, H = 170, L = 50, R = 12, T = 28, B = 24;
  const pts = (Array.isArray(points) ? points : [])
    .filter((p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]))
    .sort((a, b) => a[0] - b[0]);
  const svg = s('svg', {class: 'plot', viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': title, 'data-series': series, 'data-points': pts.length});
  svg.append(s('title', null, title), s('text', {x: 8, y: 18, class: 'plot-title'}, title),
    s('line', {x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis'}),
    s('line', {x1: L, y1: T, x2: L, y2: H - B, class: 'axis'}));
  const fig = h('figure', {class: 'plot-fig'}, svg);
  if (!pts.length) {
    svg.append(s('text', {x: (L + W - R) / 2, y: (T + H - B) / 2, class: 'no-data',
      'text-anchor': 'middle'}, 'no samples yet'));
    return fig;
  }
  const last = pts[pts.length - 1];
  svg.setAttribute('data-last', String(last[1]));
  const t0 = pts[0][0], t1 = last[0];
  let lo = Math.min(...pts.map((p) => p[1])), hi = Math.max(...pts.map((p) => p[1]));
  const vmin = lo, vmax = hi;
  if (hi === lo) { hi += 1; lo = Math.max(0, lo - 1); if (hi === lo) hi = lo + 1; }
  const x = (t) => L + (t1 === t0 ? (W - L - R) : ((t - t0) / (t1 - t0)) * (W - L - R));
  const y = (v) => H - B - ((v - lo) / (hi - lo)) * (H - B - T);
  const coords = pts.map((p) => x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1)).join(' ');
  svg.append(
    s('text', {x: L - 6, y: y(vmax) + 4, 'text-anchor': 'end', class: 'label'}, fmtVal(vmax)),
    s('text', {x: L - 6, y: y(vmin) + 4, 'text-anchor': 'end', class: 'label'}, fmtVal(vmin)),
    s('text', {x: L, y: H - 6, class: 'label'}, '−' + fmtSpan(t1 - t0)),
    s('text', {x: W - R, y: H - 6, 'text-anchor': 'end', class: 'label'},
      new Date(t1).toLocaleTimeString()),
    s('text', {x: W - R, y: 18, 'text-anchor': 'end', class: 'label last'},
      'last ' + fmtVal(last[1])),
    s('polyline', {points: coords, class: 'line', fill: 'none'}),
    s('circle', {cx: x(t1).toFixed(1), cy: y(last[1]).toFixed(1), r: 3, class: 'dot'}));
  return fig;
}

// ---------------------------------------------------------------- API

async function api(path) {
  let res;
  try {
    res = await fetch(path, {headers: {Accept: 'application/json'}, cache: 'no-store'});
  } catch (e) {
    throw new Error('network error: ' + e.message);
  }
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const msg = body && typeof body.error === 'string' ? body.error : '';
    throw new Error(msg || `HTTP ${res.status} ${res.statusText}`.trim());
  }
  if (body === null || typeof body !== 'object') throw new Error('the answer was not JSON');
  return body;
}

// ---------------------------------------------------------------- pages
// A page function builds the static part of its view (h1, controls) once and returns
// {update, auto}: update() fetches and re-renders the data part; auto => refresh every 5 s.

function overviewPage(ctx) {
  ctx.title('Cluster');
  const region = ctx.region();
  return {auto: true, async update() {
    const d = await api('/api/overview');
    ctx.check();
    const ready = d.ready === 'ready';
    const bad = (n) => (n > 0 ? 'bad' : null);
    const sum = summary('overview-summary', [
      ['Console on node', maybe(d.node_id), 'node_id'],
      ['Cluster id', h('span', {class: 'mono', text: d.cluster_id ?? '–'}), 'cluster_id'],
      ['Controller', maybe(d.controller), 'controller'],
      ['Health', h('span', {class: ready ? 'ok' : 'bad', text: d.ready ?? 'unknown'}), 'ready',
        ready ? null : 'bad'],
      ['Brokers', (d.brokers || []).length, 'brokers'],
      ['Topics', maybe(d.topics), 'topics'],
      ['Partitions', maybe(d.partitions), 'partitions'],
      ['Offline partitions', maybe(d.offline_partitions), 'offline_partitions',
        bad(d.offline_partitions)],
      ['Under-replicated', maybe(d.under_replicated_partitions), 'under_replicated_partitions',
        bad(d.under_replicated_partitions)],
      ['Groups', maybe(d.groups), 'groups'],
      ['Taken at', fmtTime(d.taken_ms), 'taken_ms'],
    ]);
    const rows = document.createDocumentFragment();
    for (const b of d.brokers || []) {
      const isCtl = b.node_id === d.controller;
      rows.append(h('tr', {'data-node-id': b.node_id, class: isCtl ? 'controller' : null},
        tdNum(b.node_id),
        td(h('span', {class: 'mono', text: `${b.host}:${b.port}`})),
        td(maybe(b.rack)),
        td(h('span', {class: b.fenced ? 'bad' : 'ok', text: b.fenced ? 'fenced' : 'active'})),
        td(isCtl ? h('span', {class: 'badge', text: '★ controller'}) : null,
          b.node_id === d.node_id ? h('span', {class: 'badge self', text: 'this node'}) : null)));
    }
    region.replaceChildren(sum, h('h2', {text: 'Brokers'}),
      table('brokers', ['#Node', 'Host:port', 'Rack', 'State', ''], rows));
  }};
}

function topicsPage(ctx) {
  ctx.title('Topics');
  const filter = h('input', {id: 'topic-filter', type: 'search', placeholder: 'Filter by name',
    'aria-label': 'Filter topics by name', autocomplete: 'off', spellcheck: 'false'});
  const internal = h('input', {id: 'show-internal', type: 'checkbox'});
  const count = h('span', {id: 'topic-count', class: 'dim'});
  ctx.main.append(h('div', {class: 'toolbar'}, filter,
    h('label', null, internal, ' Show internal topics'), count));
  const tbody = h('tbody');
  const head = headRow(['Name', '#Partitions', '#Replication', '#Under-replicated', '#Offline',
    'Id']);
  const wrap = h('div', {class: 'table-wrap tall'},
    h('table', {id: 'topics'}, h('thead', null, head), tbody));
  ctx.region().append(wrap);
  let rows = []; // [{name, lower, internal, tr}]
  // Laying out thousands of rows at once takes the browser most of a second, so rows are
  // added a chunk at a time as the end of the table scrolls into view; the filter searches
  // them all.
  const CHUNK = 200;
  let matched = [];
  let rendered = 0;
  const moreCell = h('td', {colspan: '6', class: 'dim'});
  const sentinel = h('tr', {class: 'more'}, moreCell);
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) more();
  }, {root: wrap, rootMargin: '200px'});
  observer.observe(sentinel);

  function more() {
    const end = Math.min(matched.length, Math.max(rendered + CHUNK, CHUNK));
    const frag = document.createDocumentFragment();
    for (let i = rendered; i < end; i++) frag.append(matched[i].tr);
    rendered = end;
    sentinel.remove();
    tbody.append(frag);
    if (rendered < matched.length) {
      moreCell.textContent = `${matched.length - rendered} more topics below: scroll on`;
      tbody.append(sentinel);
    }
  }

  function apply(keep) {
    const q = filter.value.trim().toLowerCase();
    matched = rows.filter((r) => (!r.internal || internal.checked) && (!q || r.lower.includes(q)));
    const want = keep ? rendered : 0;
    rendered = 0;
    tbody.replaceChildren();
    while (rendered < Math.min(want, matched.length) || rendered === 0) {
      more();
      if (rendered >= matched.length) break;
    }
    count.textContent = `${matched.length} of ${rows.length} topics`;
  }
  // Typing re-filters once the keys pause, not on every key.
  let pending = 0;
  filter.addEventListener('input', () => {
    clearTimeout(pending);
    pending = setTimeout(() => apply(false), 120);
  });
  internal.addEventListener('change', () => apply(false));

  return {auto: true, async update() {
    const d = await api('/api/topics');
    ctx.check();
    const list = (d.topics || []).slice().sort((a, b) => cmp(a.name, b.name));
    rows = list.map((t) => ({name: t.name, lower: String(t.name).toLowerCase(),
      internal: !!t.internal,
      tr: h('tr', {'data-topic': t.name, class: (t.offline > 0 || t.under_replicated > 0) ? 'bad' : null},
        td(topicLink(t.name), t.internal ? h('span', {class: 'badge', text: 'internal'}) : null),
        tdNum(t.partitions), tdNum(t.replication_factor),
        tdNum(t.under_replicated), tdNum(t.offline),
        td(h('span', {class: 'mono dim small', text: t.id ?? ''})))}));
    apply(true); // a refresh keeps as many rows as the user had scrolled to
  }};
}

function topicPage(ctx, name) {
  ctx.title(name);
  ctx.main.append(h('p', {class: 'links'},
    h('a', {id: 'browse-records', class: 'button', href: '#/topic/' + enc(name) + '/records',
      text: 'Browse records'}),
    ' ', h('a', {href: '#/topics', text: '← all topics'})));
  const region = ctx.region();
  return {auto: true, async update() {
    const d = await api('/api/topics/' + enc(name));
    ctx.check();
    const parts = (d.partitions || []).slice().sort((a, b) => a.partition - b.partition);
    const rows = document.createDocumentFragment();
    let size = 0, sizeKnown = false;
    for (const p of parts) {
      const replicas = p.replicas || [], isr = p.isr || [];
      const under = isr.length < replicas.length || p.leader == null || p.leader < 0;
      if (typeof p.size_bytes === 'number') { size += p.size_bytes; sizeKnown = true; }
      rows.append(h('tr', {'data-partition': p.partition, class: under ? 'bad' : null},
        tdNum(p.partition), tdNum(p.leader), tdNum(p.leader_epoch),
        td(h('span', {class: 'mono', text: replicas.join(', ')})),
        td(h('span', {class: 'mono', text: isr.join(', ')})),
        tdNum(p.log_start_offset), tdNum(p.high_watermark), tdNum(p.log_end_offset),
        h('td', {class: 'num'}, fmtBytes(p.size_bytes))));
    }
    const cfgRows = document.createDocumentFragment();
    for (const k of Object.keys(d.configs || {}).sort()) {
      cfgRows.append(h('tr', {'data-config': k}, td(h('span', {class: 'mono', text: k})),
        td(h('div', {class: 'val mono'}, maybe(d.configs[k])))));
    }
    const hist = d.history || {};
    region.replaceChildren(
      summary('topic-summary', [
        ['Id', h('span', {class: 'mono', text: d.id ?? '–'}), 'id'],
        ['Internal', d.internal ? 'yes' : 'no', 'internal'],
        ['Partitions', parts.length, 'partitions'],
        ['Replication factor', parts.length ? (parts[0].replicas || []).length : dim('–'),
          'replication_factor'],
        ['Size on this broker', sizeKnown ? fmtBytes(size) : dim('–'), 'size_bytes'],
      ]),
      h('div', {class: 'plots'},
        plot('records_in', 'Records in / s', hist.records_in),
        plot('records_out', 'Records out / s', hist.records_out),
        plot('bytes_in', 'Bytes in / s', hist.bytes_in)),
      h('h2', {text: 'Partitions'}),
      table('partitions', ['#Partition', '#Leader', '#Epoch', 'Replicas', 'ISR',
        '#Log start', '#High watermark', '#Log end', '#Size'], rows),
      h('h2', {text: 'Configs'}),
      table('configs', ['Key', 'Value'], cfgRows));
  }};
}

// A key, value or header value: {text, hex, size, truncated} or null, in the chosen format.
function shownValue(v, format) {
  if (v == null) return h('span', {class: 'null', text: 'null'});
  let text = format === 'hex' ? v.hex : v.text;
  if (text == null) text = v.hex ?? '';
  let cls = 'val mono';
  if (format === 'json' && typeof v.text === 'string' && !v.truncated) {
    try { text = JSON.stringify(JSON.parse(v.text), null, 2); cls += ' json'; } catch (_) { /* text */ }
  }
  const box = h('div', {class: cls, text});
  if (text === '') box.append(dim('(empty)'));
  if (v.truncated) box.append(h('span', {class: 'trunc', text: ` (truncated, ${v.size} bytes)`}));
  return box;
}

function recordsPage(ctx, name) {
  ctx.title('Records: ' + name);
  ctx.main.append(h('p', {class: 'links'},
    h('a', {href: '#/topic/' + enc(name), text: '← topic ' + name})));
  const f = {
    partition: h('input', {id: 'rec-partition', type: 'number', min: 0, step: 1, value: 0}),
    from: h('select', {id: 'rec-from'},
      ['latest', 'earliest', 'offset', 'timestamp'].map((o) => h('option', {value: o, text: o}))),
    offset: h('input', {id: 'rec-offset', type: 'number', min: 0, step: 1, placeholder: 'offset'}),
    timestamp: h('input', {id: 'rec-timestamp', type: 'text', placeholder: 'ms or 2025-01-31T12:00',
      autocomplete: 'off', spellcheck: 'false'}),
    limit: h('input', {id: 'rec-limit', type: 'number', min: 1, max: 100, step: 1, value: 20}),
    format: h('select', {id: 'rec-format'},
      ['text', 'json', 'hex'].map((o) => h('option', {value: o, text: o}))),
  };
  f.offset.addEventListener('input', () => { if (f.offset.value !== '') f.from.value = 'offset'; });
  f.timestamp.addEventListener('input', () => {
    if (f.timestamp.value !== '') f.from.value = 'timestamp';
  });
  const field = (label, input) => h('label', null, h('span', {text: label}), input);
  const form = h('form', {id: 'rec-form', class: 'rec-form', novalidate: true},
    field('Partition', f.partition), field('From', f.from), field('Offset', f.offset),
    field('Timestamp', f.timestamp), field('Limit', f.limit), field('Format', f.format),
    h('button', {id: 'rec-load', type: 'submit', text: 'Load'}));
  const info = h('span', {id: 'rec-info', class: 'dim'});
  const nextOff = h('span', {id: 'rec-next-offset', class: 'mono'});
  const next = h('button', {id: 'rec-next', type: 'button', disabled: true, text: 'Next'});
  ctx.main.append(form, h('p', {class: 'rec-bar'}, info, ' Next offset: ', nextOff, ' ', next));
  const region = ctx.region();
  let last = null, seq = 0;

  function params() {
    const p = new URLSearchParams();
    const part = f.partition.value.trim() === '' ? 0 : Number(f.partition.value);
    if (!Number.isInteger(part) || part < 0) throw new Error('partition must be a number ≥ 0');
    let limit = Number(f.limit.value || 20);
    limit = Number.isFinite(limit) ? Math.min(100, Math.max(1, Math.floor(limit))) : 20;
    f.limit.value = String(limit);
    p.set('partition', String(part));
    p.set('from', f.from.value);
    if (f.from.value === 'offset') {
      const o = Number(f.offset.value);
      if (f.offset.value.trim() === '' || !Number.isInteger(o) || o < 0) {
        throw new Error('from=offset needs an offset ≥ 0');
      }
      p.set('offset', String(o));
    } else if (f.from.value === 'timestamp') {
      const raw = f.timestamp.value.trim();
      const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
      if (!raw || !Number.isFinite(ms)) throw new Error('from=timestamp needs ms or a date and time');
      p.set('timestamp', String(ms));
    }
    p.set('limit', String(limit));
    return p;
  }

  function render() {
    const fmt = f.format.value;
    const rows = document.createDocumentFragment();
    for (const r of last.records || []) {
      const iso = isoTime(r.timestamp);
      const hdrs = h('div', {class: 'headers'});
      for (const hd of r.headers || []) {
        hdrs.append(h('div', {class: 'header'},
          h('span', {class: 'hkey mono', text: hd.key ?? ''}), ': ', shownValue(hd.value, fmt)));
      }
      rows.append(h('tr', {class: 'record', 'data-offset': r.offset},
        tdNum(r.offset),
        td(iso ? h('time', {class: 'mono', datetime: iso, title: String(r.timestamp), text: iso})
          : maybe(r.timestamp)),
        td(shownValue(r.key, fmt)), td(shownValue(r.value, fmt)), td(hdrs)));
    }
    if (!(last.records || []).length) {
      rows.append(h('tr', {class: 'empty'}, h('td', {colspan: 5, class: 'dim', text: 'No records'})));
    }
    const n = (last.records || []).length;
    info.textContent = `Partition ${last.partition}: ${n} record${n === 1 ? '' : 's'}, ` +
      `high watermark ${last.high_watermark ?? '–'}.`;
    nextOff.textContent = last.next_offset == null ? '–' : String(last.next_offset);
    next.disabled = last.next_offset == null;
    region.replaceChildren(table('records', ['#Offset', 'Timestamp', 'Key', 'Value', 'Headers'],
      rows));
  }

  // Fetches and renders; throws STALE if a newer load or another page took over.
  async function fetchRecords() {
    const mine = ++seq;
    const d = await api('/api/topics/' + enc(name) + '/records?' + params().toString());
    if (mine !== seq || !ctx.alive()) throw STALE;
    last = d;
    render();
  }
  async function load() {
    ctx.loading();
    try {
      await fetchRecords();
      ctx.ok();
    } catch (e) {
      if (e !== STALE) ctx.fail(e);
    }
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  next.addEventListener('click', () => {
    if (!last || last.next_offset == null) return;
    f.from.value = 'offset';
    f.offset.value = String(last.next_offset);
    load();
  });
  f.format.addEventListener('change', () => { if (last) render(); });
  // The first load goes through the router; later ones only on Load / Next.
  return {auto: false, update: fetchRecords};
}

function groupsPage(ctx) {
  ctx.title('Groups');
  const taken = h('span', {id: 'groups-taken'});
  ctx.main.append(h('p', {class: 'note'}, 'Consumer groups this broker coordinates, ' +
    'sampled every few seconds; this sample was taken at ', taken, '.'));
  const region = ctx.region();
  return {auto: true, async update() {
    const d = await api('/api/groups');
    ctx.check();
    taken.replaceChildren(fmtTime(d.taken_ms));
    const rows = document.createDocumentFragment();
    const list = (d.groups || []).slice().sort((a, b) => cmp(a.group, b.group));
    for (const g of list) {
      rows.append(h('tr', {'data-group': g.group}, td(groupLink(g.group)), td(maybe(g.type)),
        td(maybe(g.state)), tdNum(g.members), tdNum(g.lag)));
    }
    if (!list.length) {
      rows.append(h('tr', {class: 'empty'}, h('td', {colspan: 5, class: 'dim', text: 'No groups'})));
    }
    region.replaceChildren(table('groups', ['Group', 'Type', 'State', '#Members', '#Lag'], rows));
  }};
}

function groupPage(ctx, id) {
  ctx.title(id);
  ctx.main.append(h('p', {class: 'links'}, h('a', {href: '#/groups', text: '← all groups'})));
  const region = ctx.region();
  return {auto: true, async update() {
    const d = await api('/api/groups/' + enc(id));
    ctx.check();
    const members = d.members || [];
    const owner = new Map();
    const mrows = document.createDocumentFragment();
    for (const m of members) {
      const byTopic = new Map();
      for (const [t, p] of m.assigned || []) {
        owner.set(t + '\u0000' + p, m.client_id);
        if (!byTopic.has(t)) byTopic.set(t, []);
        byTopic.get(t).push(p);
      }
      const assigned = h('div', {class: 'val mono'});
      for (const [t, ps] of byTopic) {
        assigned.append(h('div', null, topicLink(t), ': ' + ps.sort((a, b) => a - b).join(', ')));
      }
      mrows.append(h('tr', {'data-member-id': m.member_id},
        td(h('span', {class: 'mono', text: m.member_id ?? ''})), td(maybe(m.client_id)),
        td(h('span', {class: 'mono', text: m.client_host ?? ''})), td(assigned)));
    }
    const parts = (d.partitions || []).slice().sort((a, b) =>
      (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    let total = 0;
    const prows = document.createDocumentFragment();
    for (const p of parts) {
      if (typeof p.lag === 'number') total += p.lag;
      prows.append(h('tr', {'data-topic': p.topic, 'data-partition': p.partition},
        td(topicLink(p.topic)), tdNum(p.partition), tdNum(p.committed), tdNum(p.log_end),
        tdNum(p.last_stable), tdNum(p.lag),
        td(maybe(owner.get(p.topic + '\u0000' + p.partition)))));
    }
    region.replaceChildren(
      summary('group-summary', [
        ['Type', maybe(d.type), 'type'],
        ['State', maybe(d.state), 'state'],
        ['Members', members.length, 'members'],
        ['Total lag', h('span', {id: 'group-total-lag', 'data-lag': total, text: total}), 'lag'],
      ]),
      h('div', {class: 'plots'}, plot('lag', 'Lag (records)', (d.history || {}).lag)),
      h('h2', {text: 'Members'}),
      table('members', ['Member id', 'Client id', 'Host', 'Assigned'], mrows),
      h('h2', {text: 'Partitions'}),
      table('group-partitions', ['Topic', '#Partition', '#Committed', '#Log end',
        '#Last stable', '#Lag', 'Owner'], prows));
  }};
}

function notFoundPage(ctx) {
  ctx.title('Not found');
  return {auto: false, async update() { throw new Error('no such page: ' + location.hash); }};
}

// ---------------------------------------------------------------- router

function route() {
  let parts;
  try {
    parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  } catch (_) {
    return {nav: null, page: notFoundPage, args: []};
  }
  const [a, b, c] = parts, n = parts.length;
  if (n === 1 && a === '') return {nav: 'overview', page: overviewPage, args: []};
  if (a === 'topics' && (n === 1 || (n === 2 && b === ''))) return {nav: 'topics', page: topicsPage, args: []};
  if (a === 'topic' && n === 2 && b !== '') return {nav: 'topics', page: topicPage, args: [b]};
  if (a === 'topic' && n === 3 && c === 'records') return {nav: 'topics', page: recordsPage, args: [b]};
  if (a === 'groups' && (n === 1 || (n === 2 && b === ''))) return {nav: 'groups', page: groupsPage, args: []};
  if (a === 'group' && n === 2) return {nav: 'groups', page: groupPage, args: [b]};
  return {nav: null, page: notFoundPage, args: []};
}

const STALE = Symbol('stale');
let generation = 0, timer = null;

function setState(st) { document.body.dataset.state = st; }

function show() {
  const gen = ++generation;
  clearTimeout(timer);
  const main = document.getElementById('main');
  main.replaceChildren();
  window.scrollTo(0, 0);
  setState('loading');
  const {nav, page, args} = route();
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.nav === nav);
  }
  let errorBox = null, h1 = null;
  const ctx = {
    main,
    alive: () => gen === generation,
    check() { if (gen !== generation) throw STALE; },
    title(t) {
      h1 = h('h1', {text: t});
      main.append(h1);
      document.title = t + ' · Weir';
    },
    region() { const r = h('div', {class: 'region'}); main.append(r); return r; },
    loading() { if (ctx.alive()) setState('loading'); },
    ok() {
      if (!ctx.alive()) return;
      if (errorBox) { errorBox.remove(); errorBox = null; }
      document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      setState('ready');
    },
    fail(e) {
      if (!ctx.alive()) return;
      if (!errorBox) {
        errorBox = h('p', {class: 'error', role: 'alert'});
        if (h1) h1.after(errorBox); else main.prepend(errorBox);
      }
      errorBox.textContent = e && e.message ? e.message : String(e);
      setState('error');
    },
  };
  const p = page(ctx, ...args);
  const run = async () => {
    try {
      await p.update();
      ctx.ok();
    } catch (e) {
      if (e === STALE || !ctx.alive()) return;
      ctx.fail(e);
    }
    if (p.auto && ctx.alive()) timer = setTimeout(run, REFRESH_MS);
  };
  run();
}

window.addEventListener('hashchange', show);
show();
