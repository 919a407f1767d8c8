// drover's status page: loads api/v1/status every two seconds and renders
// it. Standard JavaScript only; no libraries, nothing fetched from outside.
'use strict';

const REFRESH_MS = 2000;
// At most this many targets are rendered until "show all" is asked for:
// a node with thousands keeps a page that refreshes without stalling.
const TARGET_ROWS = 500;
const view = {
  allTargets: false,
  token: sessionStorage.getItem('drover.token') || '',
  data: null,
  timer: null,
};

// A token may come in the fragment (#token=...): it never reaches a server
// log; it is kept for the tab's session and removed from the address.
(function takeTokenFromFragment() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    view.token = decodeURIComponent(m[1]);
    sessionStorage.setItem('drover.token', view.token);
    history.replaceState(null, '', location.pathname + location.search);
  }
})();

const $ = (sel) => document.querySelector(sel);

function esc(s) {
  return String(s === undefined || s === null ? '' : s)
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function num(n) {
  if (n === undefined || n === null) return '';
  if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function bytes(n) {
  if (!n) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}

function isSet(t) { return t && !t.startsWith('0001-01-01'); }

// ago says how long before the document's time t was.
function ago(t) {
  if (!isSet(t)) return '<span class="muted">never</span>';
  const s = Math.max(0, (Date.parse(view.data.time) - Date.parse(t)) / 1000);
  let text;
  if (s < 1) text = 'now';
  else if (s < 120) text = Math.round(s) + 's ago';
  else if (s < 7200) text = Math.round(s / 60) + 'm ago';
  else if (s < 172800) text = Math.round(s / 3600) + 'h ago';
  else text = Math.round(s / 86400) + 'd ago';
  return '<time datetime="' + esc(t) + '" title="' + esc(t) + '">' + text + '</time>';
}

function badge(state) {
  return '<span class="badge ' + esc(state) + '">' + esc(state) + '</span>';
}

async function load() {
  const headers = view.token ? { Authorization: 'Bearer ' + view.token } : {};
  let resp;
  try {
    resp = await fetch('api/v1/status', { headers, cache: 'no-store' });
  } catch (e) {
    showError('drover does not answer: ' + e.message);
    return;
  }
  if (resp.status === 401) {
    $('#login').hidden = false;
    $('#login-error').textContent = view.token ? 'the token was refused' : '';
    return;
  }
  if (!resp.ok) {
    showError('api/v1/status answered ' + resp.status + ': ' + (await resp.text()));
    return;
  }
  $('#login').hidden = true;
  $('#error').hidden = true;
  view.data = await resp.json();
  render();
}

function showError(msg) {
  const e = $('#error');
  e.textContent = msg;
  e.hidden = false;
}

function render() {
  const t0 = performance.now();
  const d = view.data;
  $('#host').textContent = d.host;
  $('#version').textContent = d.version;
  const h = $('#health');
  h.textContent = d.health.status + (d.health.ready ? '' : ' (not ready)');
  h.className = 'badge ' + d.health.status;
  $('#updated').textContent = 'updated ' + new Date(d.time).toLocaleTimeString();
  renderReasons(d);
  renderGraph(d);
  renderSinks(d);
  renderTargets();
  renderDetails(d);
  renderReloads(d);
  const ms = performance.now() - t0;
  document.body.dataset.renderMs = ms.toFixed(1);
  document.body.dataset.loaded = 'true';
}

function renderReasons(d) {
  const rs = d.health.reasons || [];
  $('#reasons-section').hidden = rs.length === 0;
  $('#reasons').innerHTML = rs.map((r) => '<li>' + esc(r.message || JSON.stringify(r)) + '</li>').join('');
}

// owner returns the component that produces an input ("id" or "id.name").
function owner(input, ids) {
  if (ids.has(input)) return input;
  const i = input.lastIndexOf('.');
  return i > 0 ? input.slice(0, i) : input;
}

function renderGraph(d) {
  const ids = new Set(d.components.map((c) => c.id));
  const byId = new Map(d.components.map((c) => [c.kind + '/' + c.id, c]));
  const producer = (input) => d.components.find((c) => c.kind !== 'sink' && c.id === owner(input, ids)) ||
    d.components.find((c) => c.id === owner(input, ids));
  const depth = new Map();
  const depthOf = (c, seen) => {
    const key = c.kind + '/' + c.id;
    if (depth.has(key)) return depth.get(key);
    let n = 0;
    if (c.kind !== 'source' && seen < 64) {
      for (const i of c.inputs) {
        const p = producer(i);
        if (p && p.kind === 'transform') n = Math.max(n, depthOf(p, seen + 1) + 1);
      }
    }
    depth.set(key, n);
    return n;
  };
  const cols = [{ title: 'sources', items: [] }];
  let maxT = -1;
  for (const c of d.components) if (c.kind === 'transform') maxT = Math.max(maxT, depthOf(c, 0));
  for (let i = 0; i <= maxT; i++) cols.push({ title: i === 0 ? 'transforms' : '', items: [] });
  cols.push({ title: 'sinks', items: [] });
  for (const c of d.components) {
    if (c.kind === 'source') cols[0].items.push(c);
    else if (c.kind === 'transform') cols[1 + depthOf(c, 0)].items.push(c);
    else cols[cols.length - 1].items.push(c);
  }
  $('#columns').innerHTML = cols.map((col) => '<div class="col"><h3>' + esc(col.title) + '</h3>' +
    col.items.map(nodeHTML).join('') + '</div>').join('');
  // Edges, from each input's producer to its consumer.
  const svg = $('#edges');
  const box = $('#graph').getBoundingClientRect();
  const cols2 = $('#columns');
  svg.setAttribute('width', cols2.scrollWidth);
  svg.setAttribute('height', cols2.scrollHeight);
  const paths = [];
  for (const c of d.components) {
    const to = document.querySelector('.node[data-key="' + CSS.escape(c.kind + '/' + c.id) + '"]');
    for (const i of c.inputs) {
      const p = producer(i);
      if (!p || !to) continue;
      const from = document.querySelector('.node[data-key="' + CSS.escape(p.kind + '/' + p.id) + '"]');
      if (!from) continue;
      const a = from.getBoundingClientRect(), b = to.getBoundingClientRect();
      const x1 = a.right - box.left, y1 = a.top + a.height / 2 - box.top;
      const x2 = b.left - box.left, y2 = b.top + b.height / 2 - box.top;
      const mx = (x1 + x2) / 2;
      const failing = byId.get(c.kind + '/' + c.id).state === 'failing';
      paths.push('<path d="M' + x1 + ',' + y1 + ' C' + mx + ',' + y1 + ' ' + mx + ',' + y2 + ' ' + x2 + ',' + y2 +
        '" fill="none" stroke="' + (failing ? '#cf222e' : '#8c959f') + '" stroke-width="2"/>');
      if (i !== p.id) {
        paths.push('<text x="' + (mx - 20) + '" y="' + ((y1 + y2) / 2 - 4) + '" font-size="11" fill="#656d76">' +
          esc(i.slice(p.id.length + 1)) + '</text>');
      }
    }
  }
  svg.innerHTML = paths.join('');
}

function nodeHTML(c) {
  const conds = (c.conditions || []).map((k) => '<div class="cond">' + esc(k.name) + ': ' + esc(k.reason) +
    (k.message ? ' &mdash; ' + esc(k.message) : '') + '</div>').join('');
  let figs = 'in ' + num(c.rate_in) + '/s &middot; out ' + num(c.rate_out) + '/s';
  if (c.errors) figs += ' &middot; <span class="err">' + num(c.errors) + ' errors</span>';
  if (c.discarded) figs += ' &middot; ' + num(c.discarded) + ' discarded';
  if (c.kind === 'source' && c.bytes_behind) figs += '<br>' + bytes(c.bytes_behind) + ' behind';
  if (c.kind === 'source' && c.targets) figs += '<br>' + c.targets + ' targets';
  if (c.sink) figs += '<br>queue ' + num(c.sink.queue_events);
  return '<div class="node state-' + esc(c.state) + '" data-key="' + esc(c.kind + '/' + c.id) + '" data-id="' +
    esc(c.id) + '" data-state="' + esc(c.state) + '"><div class="id">' + esc(c.id) + ' ' + badge(c.state) +
    '</div><div class="type">' + esc(c.kind) + ' &middot; ' + esc(c.type) + '</div><div class="figs">' + figs +
    '</div>' + conds + '</div>';
}

function renderSinks(d) {
  const rows = d.components.filter((c) => c.kind === 'sink').map((c) => {
    const s = c.sink || {};
    const retry = s.retrying ? '<span class="err">retrying (' + esc(s.reason) + ') since ' + ago(s.retrying_since) + '</span>' : 'no';
    return '<tr data-id="' + esc(c.id) + '" data-state="' + esc(c.state) + '"><td>' + esc(c.id) + '</td><td>' + esc(c.type) +
      '</td><td>' + badge(c.state) + '</td><td class="num">' + num(c.rate_out) + '</td><td class="num">' +
      num(s.queue_events) + '</td><td class="num">' + num(s.requests_in_flight) + '</td><td>' + retry + '</td><td class="err">' + esc(s.last_error) + '</td><td>' +
      ago(s.last_delivery) + '</td><td class="num">' + num(s.failures) + '</td></tr>';
  });
  $('#sinks tbody').innerHTML = rows.join('');
}

function targetName(t) {
  const l = t.labels || {};
  if (t.kind === 'nomad_task_stream') {
    const job = l.job ? l.job + '/' : '';
    return job + (l.task || '') + ' ' + (l.stream || '') + ' <span class="muted">' + esc((l.alloc_id || '').slice(0, 8)) + '</span>';
  }
  if (t.kind === 'pod_container') return esc((l.namespace || '') + '/' + (l.pod || '') + ' ' + (l.container || ''));
  return esc(t.path || l.file || t.key);
}

function targetText(t) {
  return [t.component, t.key, t.path, t.state, t.reason].concat(Object.values(t.labels || {})).join(' ').toLowerCase();
}

const stateRank = { failing: 0, waiting_for_room: 1, waiting_for_metadata: 2, waiting_for_file: 3, draining: 4, following: 5, parked: 6, released: 7, excluded: 8 };

function renderTargets() {
  const d = view.data;
  const q = $('#filter').value.trim().toLowerCase();
  const st = $('#state-filter').value;
  let ts = d.targets.filter((t) => (!st || t.state === st) && (!q || targetText(t).includes(q)));
  const sort = $('#sort').value;
  const name = (t) => (t.labels && (t.labels.job || '') + (t.labels.task || '')) + (t.path || t.key);
  const cmp = {
    behind: (a, b) => b.bytes_behind - a.bytes_behind || (stateRank[a.state] - stateRank[b.state]),
    name: (a, b) => name(a).localeCompare(name(b)),
    state: (a, b) => stateRank[a.state] - stateRank[b.state] || b.bytes_behind - a.bytes_behind,
    read: (a, b) => Date.parse(a.last_read) - Date.parse(b.last_read),
  }[sort];
  ts = ts.slice().sort(cmp);
  $('#target-count').textContent = '(' + ts.length + (ts.length !== d.targets.length ? ' of ' + d.targets.length : '') + ')';
  const shown = view.allTargets ? ts.length : Math.min(ts.length, TARGET_ROWS);
  const rows = new Array(shown);
  for (let i = 0; i < shown; i++) {
    const t = ts[i];
    const reason = t.reason ? '<div class="muted">' + esc(t.reason) + '</div>' : '';
    const pos = t.state === 'excluded' ? '' : num(t.acknowledged) + ' / ' + num(t.read_offset) + (t.unacknowledged ? ' <span class="muted">(in flight)</span>' : '');
    rows[i] = '<tr data-key="' + esc(t.key) + '" data-state="' + esc(t.state) + '" data-behind="' + t.bytes_behind + '"><td>' + esc(t.component) + '</td><td title="' +
      esc(t.path) + '">' + targetName(t) + '</td><td>' + badge(t.state) + reason + '</td><td class="num">' + pos +
      '</td><td class="num">' + (t.state === 'excluded' ? '' : bytes(t.bytes_behind)) + '</td><td>' +
      (t.state === 'excluded' ? '' : ago(t.last_read)) + '</td><td>' + (t.state === 'excluded' ? '' : ago(t.last_acknowledged)) + '</td></tr>';
  }
  if (shown < ts.length) {
    rows.push('<tr class="more"><td colspan="7">' + (ts.length - shown) +
      ' more (filter, or <button type="button" id="show-all">show all</button>)</td></tr>');
  }
  $('#targets tbody').innerHTML = rows.join('');
  const all = $('#show-all');
  if (all) all.addEventListener('click', () => { view.allTargets = true; renderTargets(); });
}

function detailHTML(v) {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) {
    if (v.length === 0) return '<span class="muted">none</span>';
    if (typeof v[0] === 'object') {
      const keys = Object.keys(v[0]);
      return '<table><thead><tr>' + keys.map((k) => '<th>' + esc(k) + '</th>').join('') + '</tr></thead><tbody>' +
        v.map((r) => '<tr>' + keys.map((k) => '<td>' + esc(typeof r[k] === 'object' ? JSON.stringify(r[k]) : r[k]) + '</td>').join('') + '</tr>').join('') +
        '</tbody></table>';
    }
    return esc(v.join(', '));
  }
  if (typeof v === 'object') {
    return '<dl>' + Object.keys(v).map((k) => '<dt>' + esc(k.replace(/_/g, ' ')) + '</dt><dd>' +
      (typeof v[k] === 'string' && /^\d{4}-\d\d-\d\dT/.test(v[k]) ? ago(v[k]) : detailHTML(v[k])) + '</dd>').join('') + '</dl>';
  }
  if (typeof v === 'number' && !Number.isInteger(v)) return esc(String(+v.toPrecision(3))); // a lag in seconds
  return esc(v);
}

function renderDetails(d) {
  const cs = d.components.filter((c) => c.kind === 'source');
  $('#details').innerHTML = cs.map((c) => '<div class="detail" data-id="' + esc(c.id) + '"><h3>' + esc(c.id) +
    ' <span class="muted">' + esc(c.type) + '</span></h3>' + detailHTML({
      events_read: c.events_in, events_sent: c.events_out, bytes_behind: bytes(c.bytes_behind),
      unacknowledged_batches: c.unacknowledged_batches || 0, errors: c.errors,
    }) + detailHTML(c.detail) + '</div>').join('');
}

function renderReloads(d) {
  const rs = d.reloads || [];
  $('#reloads').innerHTML = rs.length === 0 ? '<li class="muted">none since the start</li>' : rs.map((r) => '<li>' + ago(r.time) + ' ' +
    (r.ok ? 'applied' : '<span class="err">refused: ' + esc(r.error) + '</span>') +
    ['added', 'changed', 'removed'].filter((k) => r[k] && r[k].length).map((k) => ' &middot; ' + k + ' ' + esc(r[k].join(', '))).join('') +
    '</li>').join('');
}

function schedule() {
  clearTimeout(view.timer);
  view.timer = setTimeout(async () => {
    if (!$('#pause').checked) await load();
    schedule();
  }, REFRESH_MS);
}

$('#login').addEventListener('submit', (e) => {
  e.preventDefault();
  view.token = $('#token').value.trim();
  sessionStorage.setItem('drover.token', view.token);
  load();
});
for (const id of ['#filter', '#state-filter', '#sort']) {
  $(id).addEventListener('input', () => { if (view.data) renderTargets(); });
}
window.addEventListener('resize', () => { if (view.data) renderGraph(view.data); });
load().then(schedule);
