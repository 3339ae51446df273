// main.js — the optirsd dashboard (vanilla JS + uPlot).
//
// Data, all from the daemon's own API on the page's origin:
//   GET /v1/sessions (paged)            the session list with status
//   GET /v1/sessions/{id}/summary       trend badge (label and confidence)
//   GET /v1/sessions/{id}/metrics?max_points=…&smooth=ema
//                                       loss (mean, min, max per bucket, EMA),
//                                       lr, gradient and update norms
//   GET /v1/compare?ids=…&smooth=ema    several sessions on one plot
//   GET /v1/meta/jobs, /v1/meta/jobs/{id}  meta-training jobs and curves
//   GET /v1/sessions/{id}/events        live steps (Server-Sent Events)
// Live updates: an EventSource on the selected session's events when no API
// key is set.  EventSource cannot send an Authorization header, so with a key
// (or when the stream is refused) the page polls the session every 2 s
// instead and redraws when its step moved.
//
// State for tests and debugging is kept in window.__dash; every chart's
// container carries data-points (the number of x values it draws).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

const MAX_POINTS = 1000;
const COMPARE_POINTS = 500;
const LIST_EVERY_MS = 5000;
const POLL_EVERY_MS = 2000;
const MAX_SUMMARIES = 100;     // trend badges fetched per list refresh
const MAX_COMPARE = 16;        // the daemon's limit for /v1/compare
const PALETTE = ['#2f6fde', '#e8590c', '#2b8a3e', '#c2255c', '#7048e8', '#0b7285', '#a61e4d', '#5c940d',
  '#d9480f', '#1864ab', '#862e9c', '#087f5b', '#e67700', '#364fc7', '#c92a2a', '#495057'];

// x ticks: whole steps only
const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6,
  1e7, 2e7, 5e7, 1e8, 1e9, 1e10, 1e11, 1e12];

const $ = (id) => document.getElementById(id);

const dash = {
  key: sessionStorage.getItem('optirs.key') || '',
  sessions: [],           // [{id, name, optimizer, status, step, last_loss, trend: {label, confidence}}]
  selected: null,
  compare: new Set(),     // ids ticked for the compare chart
  compareTouched: false,  // the user changed the ticks (otherwise: the first few sessions)
  jobs: [],
  selectedJob: null,
  charts: {},             // name -> {points, series: [labels]}
  curve: null,            // the last metrics answer for the selected session
  live: { mode: 'off', events: 0, lastStep: null, lastLoss: null, refreshes: 0 },
  errors: [],
  loaded: false,
};
window.__dash = dash;

// ---- HTTP ----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path) {
  const headers = { Accept: 'application/json' };
  if (dash.key) headers.Authorization = `Bearer ${dash.key}`;
  const r = await fetch(path, { headers, cache: 'no-store' });
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!r.ok) {
    const e = body && body.error ? body.error : { code: String(r.status), message: text.slice(0, 200) };
    throw new ApiError(r.status, e.code, e.message);
  }
  return body;
}

function setConn(ok, text) {
  const el = $('conn');
  el.textContent = text;
  el.className = `pill ${ok ? 'ok' : 'bad'}`;
}

function showError(e) {
  const b = $('banner');
  if (!e) { b.hidden = true; return; }
  let msg = e.message || String(e);
  if (e.status === 401) msg = 'The daemon needs an API key: enter one above. (' + msg + ')';
  else if (e.status === 403) msg = 'This key may not read that. (' + msg + ')';
  b.textContent = msg;
  b.hidden = false;
  dash.errors.push(msg);
  if (dash.errors.length > 20) dash.errors.shift();
}

// ---- formatting ----------------------------------------------------------

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(3);
  return Number(v.toPrecision(4)).toString();
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

function badge(trend) {
  const label = trend && trend.label ? trend.label : 'unknown';
  const text = label === 'insufficient_data' ? 'insufficient data' : label;
  const conf = trend && typeof trend.confidence === 'number' ? ` ${Math.round(trend.confidence * 100)}%` : '';
  const b = el('span', { class: `badge ${label}`, 'data-trend': label }, text + conf);
  if (trend && typeof trend.change === 'number') b.title = `relative change over the window: ${fmt(trend.change)}`;
  return b;
}

// ---- charts --------------------------------------------------------------

function chartWidth(container) {
  return Math.max(240, Math.floor(container.getBoundingClientRect().width) || 400);
}

// Draws `data` (uPlot's aligned columns, x first) into the container `id`,
// rebuilding the chart when its series changed.
function draw(id, title, series, data, extra = {}) {
  const box = $(id);
  const labels = series.map((s) => s.label);
  const key = JSON.stringify(labels) + JSON.stringify(extra.bands || []);
  let c = dash.charts[id];
  if (!c || c.key !== key) {
    if (c && c.plot) c.plot.destroy();
    box.textContent = '';
    const opts = {
      title,
      width: chartWidth(box),
      height: extra.height || 220,
      scales: { x: { time: false } },
      series: [{ label: 'step', value: (u, v) => (v === null || v === undefined ? '—' : String(v)) },
        ...series.map((s) => ({ spanGaps: true, width: 1.5, value: (u, v) => fmt(v), ...s }))],
      axes: [{ label: extra.xlabel || 'step', incrs: STEP_INCRS }, { size: 60, values: (u, vals) => vals.map(fmt) }],
      bands: extra.bands,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    };
    c = { key, plot: new uPlot(opts, data, box), labels };
    dash.charts[id] = c;
  } else {
    c.plot.setData(data);
  }
  c.points = data[0].length;
  box.dataset.points = String(c.points);
  return c;
}

function resizeCharts() {
  for (const [id, c] of Object.entries(dash.charts)) {
    if (c.plot) c.plot.setSize({ width: chartWidth($(id)), height: c.plot.height });
  }
}

// ---- session list --------------------------------------------------------

async function listSessions() {
  const all = [];
  let token = null;
  for (let page = 0; page < 20; page++) {
    const q = token ? `?limit=1000&page_token=${encodeURIComponent(token)}` : '?limit=1000';
    const r = await api(`/v1/sessions${q}`);
    all.push(...r.sessions);
    token = r.next_page_token;
    if (!token || !r.sessions.length) break;
  }
  return all;
}

async function refreshSessions() {
  const list = await listSessions();
  const old = new Map(dash.sessions.map((s) => [s.id, s]));
  const summaries = await Promise.all(list.slice(0, MAX_SUMMARIES).map((s) =>
    api(`/v1/sessions/${encodeURIComponent(s.id)}/summary`).catch(() => null)));
  dash.sessions = list.map((s, i) => ({
    id: s.id, name: s.name || '', optimizer: s.optimizer, status: s.status, step: s.step,
    last_loss: s.last_loss,
    trend: summaries[i] ? summaries[i].trend : (old.get(s.id) || {}).trend || null,
  }));
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

function renderSessions() {
  const tb = $('sessions').tBodies[0];
  tb.textContent = '';
  for (const s of dash.sessions) {
    const tr = el('tr', { 'data-id': s.id });
    if (s.id === dash.selected) tr.classList.add('selected');
    const td0 = el('td');
    const cb = el('input', { type: 'checkbox', title: 'plot on the compare chart' });
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
    tr.append(td0, el('td', { class: 'id' }, s.id), el('td', {}, s.name), el('td', {}, s.optimizer),
      el('td', { class: `status ${s.status}` }, s.status), el('td', { class: 'num' }, fmt(s.step)),
      el('td', { class: 'num' }, fmt(s.last_loss)));
    const tdb = el('td');
    tdb.append(badge(s.trend));
    tr.append(tdb);
    tr.addEventListener('click', () => select(s.id).catch(showError));
    tb.append(tr);
  }
  $('sessions-empty').hidden = dash.sessions.length > 0;
  $('sessions-count').textContent = `${dash.sessions.length}`;
}

// ---- the selected session ------------------------------------------------

async function select(id) {
  if (dash.selected !== id) {
    dash.selected = id;
    history.replaceState(null, '', `#s=${encodeURIComponent(id)}`);
    for (const tr of $('sessions').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.id === id);
    $('sel-id').textContent = id;
    dash.live.events = 0;
    dash.live.lastStep = null;
    dash.live.lastLoss = null;
    startLive();
  }
  await refreshCurve();
}

let curveBusy = false;
let curveAgain = false;

// Fetches and draws the selected session's curves; calls that arrive while
// one runs coalesce into one more run after it.
async function refreshCurve() {
  if (curveBusy) { curveAgain = true; return; }
  curveBusy = true;
  try {
    do {
      curveAgain = false;
      const id = dash.selected;
      if (!id) return;
      const m = await api(`/v1/sessions/${encodeURIComponent(id)}/metrics?max_points=${MAX_POINTS}&smooth=ema`);
      if (id !== dash.selected) continue;
      dash.curve = m;
      dash.live.refreshes++;
      drawCurve(m);
    } while (curveAgain);
  } finally {
    curveBusy = false;
  }
}

function drawCurve(m) {
  const x = m.steps;
  const s = dash.sessions.find((t) => t.id === m.id);
  $('sel-info').textContent = `${s ? `${s.optimizer}, ${s.status}, ` : ''}${m.total_steps} steps recorded` +
    (m.bucket_width > 1 ? `, ${m.bucket_width} steps per point (mean; band: min–max)` : '');
  draw('chart-loss', 'loss', [
    { label: 'loss max', stroke: 'rgba(47,111,222,0.35)', width: 1 },
    { label: 'loss min', stroke: 'rgba(47,111,222,0.35)', width: 1 },
    { label: 'loss', stroke: '#2f6fde' },
    { label: 'loss (EMA)', stroke: '#e8590c', width: 2 },
  ], [x, m.loss.max, m.loss.min, m.loss.mean, m.loss_smooth || x.map(() => null)],
  { bands: [{ series: [1, 2], fill: 'rgba(47,111,222,0.10)' }] });
  draw('chart-lr', 'learning rate', [{ label: 'lr', stroke: '#2b8a3e' }], [x, m.lr.mean]);
  draw('chart-norms', 'gradient and update norms', [
    { label: 'grad norm', stroke: '#7048e8' },
    { label: 'update norm', stroke: '#c2255c' },
  ], [x, m.grad_norm.mean, m.update_norm.mean]);
}

// ---- live updates --------------------------------------------------------

let source = null;
let pollTimer = null;
let liveTimer = null;

function setLive(mode) {
  dash.live.mode = mode;
  const e = $('live');
  e.textContent = mode === 'sse' ? 'live: SSE' : mode === 'poll' ? 'live: polling every 2 s' : 'live: off';
  e.className = `pill ${mode === 'sse' ? 'ok' : mode === 'poll' ? 'warn' : ''}`;
}

function stopLive() {
  if (source) { source.close(); source = null; }
  if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  setLive('off');
}

// A new step arrived (from either path): redraw soon, at most ~4 times a second.
function onStep(step, loss) {
  dash.live.events++;
  if (step !== undefined && (dash.live.lastStep === null || step > dash.live.lastStep)) dash.live.lastStep = step;
  if (loss !== undefined) dash.live.lastLoss = loss;
  const s = dash.sessions.find((t) => t.id === dash.selected);
  if (s && step !== undefined && step > s.step) {
    s.step = step;
    if (loss !== undefined) s.last_loss = loss;
    renderSessions();
  }
  if (!liveTimer) {
    liveTimer = setTimeout(() => {
      liveTimer = null;
      refreshCurve().catch(showError);
    }, 250);
  }
}

function startLive() {
  stopLive();
  const id = dash.selected;
  if (!id) return;
  if (dash.key || typeof EventSource === 'undefined') { startPolling(id); return; }
  const es = new EventSource(`/v1/sessions/${encodeURIComponent(id)}/events`);
  source = es;
  es.addEventListener('open', () => { if (source === es) setLive('sse'); });
  es.addEventListener('step', (ev) => {
    if (source !== es) return;
    let d = null;
    try { d = JSON.parse(ev.data); } catch { return; }
    onStep(d.step, d.loss);
  });
  es.addEventListener('dropped', () => { if (source === es) onStep(); });
  es.addEventListener('error', () => {
    // CONNECTING: the browser retries by itself (the daemon asks for 2 s).
    // CLOSED: refused (e.g. 401 once the daemon has keys): poll instead.
    if (source === es && es.readyState === EventSource.CLOSED) { source = null; startPolling(id); }
  });
}

function startPolling(id) {
  setLive('poll');
  let last = null;
  const tick = async () => {
    if (dash.selected !== id) return;
    try {
      const s = await api(`/v1/sessions/${encodeURIComponent(id)}`);
      if (last !== null && s.step !== last) onStep(s.step, s.last_loss ?? undefined);
      else if (dash.live.lastStep === null) dash.live.lastStep = s.step;
      last = s.step;
    } catch (e) { showError(e); }
  };
  tick();
  pollTimer = setInterval(tick, POLL_EVERY_MS);
}

// ---- compare -------------------------------------------------------------

async function refreshCompare() {
  const ids = dash.sessions.map((s) => s.id).filter((id) => dash.compare.has(id)).slice(0, MAX_COMPARE);
  if (!ids.length) {
    draw('chart-compare', 'loss (EMA)', [], [[]], { height: 260 });
    return;
  }
  const r = await api(`/v1/compare?ids=${ids.map(encodeURIComponent).join(',')}&max_points=${COMPARE_POINTS}&smooth=ema`);
  const tables = r.sessions.map((s) => [s.curve.steps, s.curve.loss_smooth || s.curve.loss.mean]);
  const data = tables.length > 1 ? uPlot.join(tables) : tables[0];
  const series = r.sessions.map((s, i) => ({
    label: `${s.name ? `${s.name} ` : ''}${s.id.slice(0, 8)}`, stroke: PALETTE[i % PALETTE.length],
  }));
  const c = draw('chart-compare', 'loss (EMA)', series, data, { height: 260 });
  c.sessions = r.sessions.map((s) => ({ id: s.id, points: s.curve.steps.length }));
}

// ---- meta-training jobs --------------------------------------------------

async function refreshJobs() {
  const r = await api('/v1/meta/jobs');
  dash.jobs = r.jobs;
  const tb = $('jobs').tBodies[0];
  tb.textContent = '';
  if (!dash.selectedJob || !dash.jobs.some((j) => j.id === dash.selectedJob)) {
    dash.selectedJob = dash.jobs.length ? dash.jobs[0].id : null;
  }
  let detail = null;
  if (dash.selectedJob) detail = await api(`/v1/meta/jobs/${encodeURIComponent(dash.selectedJob)}`).catch(() => null);
  for (const j of dash.jobs) {
    const tr = el('tr', { 'data-id': j.id });
    if (j.id === dash.selectedJob) tr.classList.add('selected');
    const ml = detail && detail.id === j.id ? detail.meta_loss : null;
    tr.append(el('td', { class: 'id' }, j.id), el('td', {}, j.name), el('td', { class: `status ${j.status}` }, j.status),
      el('td', { class: 'num' }, `${j.step}/${j.outer_steps} (${Math.round(j.progress * 100)}%)`),
      el('td', { class: 'num' }, fmt(ml)), el('td', {}, j.weights || '—'));
    tr.addEventListener('click', () => { dash.selectedJob = j.id; refreshJobs().catch(showError); });
    tb.append(tr);
  }
  $('jobs-empty').hidden = dash.jobs.length > 0;
  $('meta-count').textContent = `${dash.jobs.length}`;
  const curve = detail ? detail.curve : [];
  draw('chart-meta', detail ? `meta-loss — ${detail.name} (${detail.id})` : 'meta-loss', [
    { label: 'meta-loss', stroke: '#7048e8', width: 2 },
  ], [curve.map((p) => p.step), curve.map((p) => p.meta_loss)], { xlabel: 'outer step' });
}

// ---- start-up ------------------------------------------------------------

let allBusy = false;

async function refreshAll() {
  if (allBusy) return;
  allBusy = true;
  try {
    await refreshSessions();
    await refreshCurve();
    await refreshJobs();
    setConn(true, 'connected');
    showError(null);
    dash.loaded = true;
  } catch (e) {
    setConn(false, e.status === 401 ? 'key needed' : 'error');
    showError(e);
  } finally {
    allBusy = false;
  }
}

function init() {
  $('key').value = dash.key;
  $('keyform').addEventListener('submit', (ev) => {
    ev.preventDefault();
    dash.key = $('key').value.trim();
    if (dash.key) sessionStorage.setItem('optirs.key', dash.key);
    else sessionStorage.removeItem('optirs.key');
    startLive();
    refreshAll();
  });
  let t = null;
  window.addEventListener('resize', () => { clearTimeout(t); t = setTimeout(resizeCharts, 100); });
  refreshAll();
  setInterval(refreshAll, LIST_EVERY_MS);
}

init();
