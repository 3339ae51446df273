// compare.js — the ticked sessions side by side: their smoothed loss
// curves overlaid (GET /v1/compare with the smoothing slider's beta; log
// scale with the toggle) and an hparams table: optimizer, schedule, the
// hyperparameters that differ between them (all of them for one session),
// steps, final loss and best loss.
import uPlot from 'uplot';
import { api, smoothQuery } from './api.js';
import { $, dash, el, COMPARE_POINTS, MAX_COMPARE, PALETTE } from './state.js';
import { allPositive, draw } from './charts.js';
import { fmt } from './format.js';

let last = null;   // the last /v1/compare answer, redrawn by the log toggle

export async function refreshCompare() {
  const ids = dash.sessions.map((s) => s.id).filter((id) => dash.compare.has(id)).slice(0, MAX_COMPARE);
  renderHparams(ids);
  if (!ids.length) {
    last = null;
    draw('chart-compare', 'loss', [], [[]], { height: 260 });
    return;
  }
  const q = `max_points=${COMPARE_POINTS}&${smoothQuery(dash.beta)}`;
  last = await api(`/v1/compare?ids=${ids.map(encodeURIComponent).join(',')}&${q}`);
  last.query = q;
  drawCompare();
}

// Redraws from the last answer (refetch: the smoothing changed).
export function redrawCompare(refetch) {
  if (refetch) return refreshCompare();
  if (last) drawCompare();
  return null;
}

function drawCompare() {
  const r = last;
  const tables = r.sessions.map((s) => [s.curve.steps, s.curve.loss_smooth || s.curve.loss.mean]);
  const data = tables.length > 1 ? uPlot.join(tables) : tables[0];
  const series = r.sessions.map((s, i) => ({
    label: `${s.name ? `${s.name} ` : ''}${s.id.slice(0, 8)}`, stroke: PALETTE[i % PALETTE.length],
  }));
  const logOk = allPositive(data.slice(1));
  const title = dash.beta > 0 ? `loss (EMA ${dash.beta})` : 'loss';
  const c = draw('chart-compare', title, series, data, { height: 260, log: dash.logY && logOk,
    meta: { sessions: r.sessions.map((s) => s.id), query: r.query } });
  c.sessions = r.sessions.map((s) => ({ id: s.id, points: s.curve.steps.length }));
}

const hpText = (v) => (v === undefined ? '—' : typeof v === 'number' ? fmt(v) : String(v));

function renderHparams(ids) {
  const rows = ids.map((id) => dash.sessions.find((s) => s.id === id)).filter(Boolean);
  const t = $('hparams');
  t.textContent = '';
  $('hparams-empty').hidden = rows.length > 0;
  if (!rows.length) return;
  const keys = [...new Set(rows.flatMap((s) => Object.keys(s.hyperparams)))].sort();
  const shown = rows.length === 1 ? keys
    : keys.filter((k) => new Set(rows.map((s) => JSON.stringify(s.hyperparams[k]))).size > 1 || k === 'lr');
  const head = el('tr');
  for (const h of ['session', 'optimizer', 'schedule', ...shown]) head.append(el('th', { 'data-col': h }, h));
  for (const h of ['steps', 'final loss', 'best loss']) head.append(el('th', { class: 'num', 'data-col': h }, h));
  t.append(el('thead'), el('tbody'));
  t.tHead.append(head);
  rows.forEach((s, i) => {
    const tr = el('tr', { 'data-id': s.id });
    const name = el('td', {}, '');
    name.append(el('span', { class: 'swatch', style: `background:${PALETTE[i % PALETTE.length]}` }),
      `${s.name ? `${s.name} ` : ''}`, el('span', { class: 'mono' }, s.id.slice(0, 8)));
    tr.append(name, el('td', {}, s.optimizer), el('td', {}, s.schedule || '—'));
    for (const k of shown) tr.append(el('td', { class: 'num', 'data-col': k }, hpText(s.hyperparams[k])));
    tr.append(el('td', { class: 'num', 'data-col': 'steps' }, fmt(s.step)),
      el('td', { class: 'num', 'data-col': 'final loss' }, fmt(s.last_loss)),
      el('td', { class: 'num', 'data-col': 'best loss' }, fmt(s.best_loss)));
    t.tBodies[0].append(tr);
  });
  const hidden = keys.length - shown.length;
  $('hparams-note').textContent = hidden > 0 ? `${hidden} hyperparameters equal across the selection are not shown` : '';
}
