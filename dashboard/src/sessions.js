// sessions.js — the session list: the list API's filters (search q,
// status, optimizer, tag), client-side sorting by created time, name,
// status, step or last loss (click a header; again to reverse), trend
// badges from each session's summary, and the ticks that choose the
// sessions to compare.
import { api, listSessions } from './api.js';
import { $, dash, el, showError, MAX_SUMMARIES, MAX_COMPARE } from './state.js';
import { badge, created, fmt } from './format.js';
import { refreshCompare } from './compare.js';
import { select } from './detail.js';

const STATUS_ORDER = { active: 0, diverged: 1, finished: 2, archived: 3 };

function sortValue(s, key) {
  switch (key) {
    case 'created': return s.created_ms;
    case 'loss': return s.last_loss;
    case 'step': return s.step;
    case 'status': return STATUS_ORDER[s.status] ?? 9;
    case 'name': return s.name || '';
    default: return null;
  }
}

// Sorted copy: by the key in dash.sort, missing values (no loss yet) last
// whatever the direction, ties newest first.
export function sortedSessions() {
  const { key, dir } = dash.sort;
  return dash.sessions.slice().sort((a, b) => {
    const x = sortValue(a, key), y = sortValue(b, key);
    const xm = x === null || x === undefined, ym = y === null || y === undefined;
    if (xm !== ym) return xm ? 1 : -1;
    if (!xm && x !== y) return (x < y ? -1 : 1) * dir;
    return (b.created_ms - a.created_ms) || (a.id < b.id ? -1 : 1);
  });
}

export async function refreshSessions() {
  const list = await listSessions(dash.filters);
  const old = new Map(dash.sessions.map((s) => [s.id, s]));
  const summaries = await Promise.all(list.slice(0, MAX_SUMMARIES).map((s) =>
    api(`/v1/sessions/${encodeURIComponent(s.id)}/summary`).catch(() => null)));
  dash.sessions = list.map((s, i) => {
    const o = old.get(s.id) || {};
    const sum = summaries[i];
    return {
      id: s.id, name: s.name || '', optimizer: s.optimizer, status: s.status, step: s.step,
      last_loss: s.last_loss, created_ms: s.created_ms, hyperparams: s.hyperparams || {}, tags: s.tags || {},
      schedule: s.schedule,
      trend: sum ? sum.trend : o.trend || null,
      best_loss: sum ? sum.best_loss : o.best_loss ?? null,
    };
  });
  for (const s of list) dash.optimizersSeen.add(s.optimizer);
  if (!dash.compareTouched) {
    dash.compare = new Set(dash.sessions.slice(0, 8).map((s) => s.id));
  } else {
    for (const id of [...dash.compare]) if (!dash.sessions.some((s) => s.id === id)) dash.compare.delete(id);
  }
  renderSessions();
  if (!dash.selected || !dash.sessions.some((s) => s.id === dash.selected)) {
    const want = decodeURIComponent((location.hash.match(/s=([^&]+)/) || [])[1] || '');
    const pick = dash.sessions.find((s) => s.id === want) || dash.sessions[0];
    if (pick) await select(pick.id);
  }
  await refreshCompare();
}

function renderOptimizerFilter() {
  const sel = $('f-optimizer');
  const have = new Set([...sel.options].map((o) => o.value));
  for (const name of [...dash.optimizersSeen].sort()) {
    if (!have.has(name)) sel.append(el('option', { value: name }, name));
  }
}

export function renderSessions() {
  renderOptimizerFilter();
  for (const th of $('sessions').tHead.rows[0].cells) {
    const k = th.dataset.sort;
    if (!k) continue;
    th.classList.toggle('sorted', k === dash.sort.key);
    th.dataset.dir = k === dash.sort.key ? (dash.sort.dir > 0 ? 'asc' : 'desc') : '';
  }
  const tb = $('sessions').tBodies[0];
  tb.textContent = '';
  for (const s of sortedSessions()) {
    const tr = el('tr', { 'data-id': s.id });
    if (s.id === dash.selected) tr.classList.add('selected');
    const td0 = el('td');
    const cb = el('input', { type: 'checkbox', title: 'compare: overlay its loss and list its hyperparameters' });
    cb.checked = dash.compare.has(s.id);
    cb.addEventListener('click', (ev) => ev.stopPropagation());
    cb.addEventListener('change', () => {
      dash.compareTouched = true;
      if (cb.checked) {
        if (dash.compare.size >= MAX_COMPARE) { cb.checked = false; return; }
        dash.compare.add(s.id);
      } else dash.compare.delete(s.id);
      refreshCompare().catch(showError);
    });
    td0.append(cb);
    const tags = Object.entries(s.tags).map(([k, v]) => (v ? `${k}:${v}` : k)).join(' ');
    tr.append(td0, el('td', { class: 'id' }, s.id), el('td', { title: tags }, s.name), el('td', {}, s.optimizer),
      el('td', { class: `status ${s.status}` }, s.status), el('td', { class: 'created' }, created(s.created_ms)),
      el('td', { class: 'num' }, fmt(s.step)), el('td', { class: 'num loss' }, fmt(s.last_loss)));
    const tdb = el('td');
    tdb.append(badge(s.trend));
    tr.append(tdb);
    tr.addEventListener('click', () => select(s.id).catch(showError));
    tb.append(tr);
  }
  const filtered = Object.values(dash.filters).some((v) => v);
  $('sessions-empty').hidden = dash.sessions.length > 0;
  $('sessions-empty').textContent = filtered ? 'No session matches the filters.' : 'No sessions yet.';
  $('sessions-count').textContent = `${dash.sessions.length}${filtered ? ' matching' : ''}`;
}

// Wires the search box, the filters and the sortable headers.
export function initSessionControls(refresh) {
  let t = null;
  const apply = () => {
    dash.filters = {
      q: $('f-q').value.trim(), status: $('f-status').value, optimizer: $('f-optimizer').value,
      tag: $('f-tag').value.trim(),
    };
    refresh();
  };
  for (const id of ['f-q', 'f-tag']) {
    $(id).addEventListener('input', () => { clearTimeout(t); t = setTimeout(apply, 250); });
  }
  for (const id of ['f-status', 'f-optimizer']) $(id).addEventListener('change', apply);
  for (const th of $('sessions').tHead.rows[0].cells) {
    const k = th.dataset.sort;
    if (!k) continue;
    th.addEventListener('click', () => {
      if (dash.sort.key === k) dash.sort.dir = -dash.sort.dir;
      else dash.sort = { key: k, dir: k === 'created' ? -1 : 1 };
      renderSessions();
    });
  }
}
