// detail.js — the selected session: loss (raw mean, the smoothing slider's
// EMA, each bucket's min–max band; log scale on request), lr, gradient and
// update norms (each on its own axis), and feedback / validation metrics
// when the session has any.  A session with steps but no loss says "no loss
// sent" instead of drawing an empty chart.
import { api, listFeedback, smoothQuery } from './api.js';
import { $, dash, BETAS, MAX_POINTS, PALETTE } from './state.js';
import { allPositive, draw } from './charts.js';
import { startLive } from './live.js';

export async function select(id) {
  if (dash.selected !== id) {
    dash.selected = id;
    history.replaceState(null, '', `#s=${encodeURIComponent(id)}`);
    for (const tr of $('sessions').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.id === id);
    $('sel-id').textContent = id;
    dash.live.events = 0;
    dash.live.lastStep = null;
    dash.live.lastLoss = null;
    dash.feedback = null;
    startLive();
  }
  await refreshCurve();
}

let curveBusy = false;
let curveAgain = false;

// Fetches and draws the selected session's curves; calls that arrive while
// one runs coalesce into one more run after it.
export async function refreshCurve() {
  if (curveBusy) { curveAgain = true; return; }
  curveBusy = true;
  try {
    do {
      curveAgain = false;
      const id = dash.selected;
      if (!id) return;
      const q = `max_points=${MAX_POINTS}&${smoothQuery(dash.beta)}`;
      const [m, fb] = await Promise.all([api(`/v1/sessions/${encodeURIComponent(id)}/metrics?${q}`),
        listFeedback(id).catch(() => null)]);
      if (id !== dash.selected) continue;
      dash.curve = m;
      dash.curveQuery = q;
      if (fb) dash.feedback = fb;
      dash.live.refreshes++;
      drawCurve(m);
      drawFeedback(id, dash.feedback || []);
    } while (curveAgain);
  } finally {
    curveBusy = false;
  }
}

const nulls = (x) => x.map(() => null);

function drawCurve(m) {
  const x = m.steps;
  const s = dash.sessions.find((t) => t.id === m.id);
  $('sel-info').textContent = `${s ? `${s.optimizer}, ${s.status}, ` : ''}${m.total_steps} steps recorded` +
    (m.bucket_width > 1 ? `, ${m.bucket_width} steps per point (mean; band: min–max)` : '');
  const meta = { session: m.id, query: dash.curveQuery };
  const noLoss = m.total_steps > 0 && m.loss.mean.every((v) => v === null);
  $('noloss').hidden = !noLoss;
  $('noloss').textContent = noLoss ? `no loss sent: ${m.total_steps} steps arrived without a loss, so there is no ` +
    'loss curve (send `loss` with each step; the Python client takes step(closure) or step(loss=…))' : '';
  $('wrap-loss').hidden = noLoss;
  const smooth = m.loss_smooth || nulls(x);
  const cols = [m.loss.max, m.loss.min, m.loss.mean, smooth];
  const logOk = allPositive(cols);
  $('log-note').hidden = !dash.logY || logOk;
  if (!noLoss) {
    draw('chart-loss', 'loss', [
      { label: 'loss max', stroke: 'rgba(47,111,222,0.35)', width: 1 },
      { label: 'loss min', stroke: 'rgba(47,111,222,0.35)', width: 1 },
      { label: 'loss', stroke: '#2f6fde' },
      { label: dash.beta > 0 ? `loss (EMA ${dash.beta})` : 'loss (EMA off)', stroke: '#e8590c', width: 2 },
    ], [x, ...cols], { bands: [{ series: [1, 2], fill: 'rgba(47,111,222,0.10)' }], log: dash.logY && logOk, meta });
  }
  draw('chart-lr', 'learning rate', [{ label: 'lr', stroke: '#2b8a3e' }], [x, m.lr.mean], { meta });
  draw('chart-norms', 'gradient norm (left) and update norm (right)', [
    { label: 'grad norm', stroke: '#7048e8' },
    { label: 'update norm', stroke: '#c2255c', scale: 'upd' },
  ], [x, m.grad_norm.mean, m.update_norm.mean],
  { ylabel: 'grad norm', right: { scale: 'upd', label: 'update norm' }, meta });
}

// Feedback rows → columns: the feedback loss (left axis) and every numeric
// metric (right axis), on the union of their steps.
export function feedbackColumns(rows) {
  const steps = [...new Set(rows.map((r) => r.step))].sort((a, b) => a - b);
  const at = new Map(steps.map((s, i) => [s, i]));
  const names = [];
  for (const r of rows) {
    for (const [k, v] of Object.entries(r.metrics || {})) if (typeof v === 'number' && !names.includes(k)) names.push(k);
  }
  const loss = steps.map(() => null);
  const mets = names.map(() => steps.map(() => null));
  for (const r of rows) {
    const i = at.get(r.step);
    if (typeof r.loss === 'number') loss[i] = r.loss;
    names.forEach((k, j) => { const v = (r.metrics || {})[k]; if (typeof v === 'number') mets[j][i] = v; });
  }
  return { steps, loss, names, mets, hasLoss: loss.some((v) => v !== null) };
}

function drawFeedback(id, rows) {
  const none = rows.length === 0;
  $('wrap-feedback').hidden = none;
  $('nofeedback').hidden = !none;
  if (none) return;
  const f = feedbackColumns(rows);
  const series = [];
  const data = [f.steps];
  if (f.hasLoss) { series.push({ label: 'feedback loss', stroke: '#0b7285', width: 2, points: { show: true } }); data.push(f.loss); }
  f.names.forEach((k, j) => {
    series.push({ label: k, stroke: PALETTE[(j + 2) % PALETTE.length], scale: f.hasLoss ? 'met' : 'y', points: { show: true } });
    data.push(f.mets[j]);
  });
  draw('chart-feedback', 'feedback / validation', series, data, {
    ylabel: f.hasLoss ? 'loss' : 'metric', right: f.hasLoss && f.names.length ? { scale: 'met', label: 'metrics' } : null,
    meta: { session: id, source: `/v1/sessions/${id}/feedback` },
  });
}

// The log-scale toggle and the smoothing slider (its value is the EMA beta
// sent to the metrics and compare routes).
export function initDetailControls(redrawCompare) {
  $('log-y').addEventListener('change', () => {
    dash.logY = $('log-y').checked;
    if (dash.curve) drawCurve(dash.curve);
    redrawCompare();
  });
  const slider = $('smooth');
  slider.max = String(BETAS.length - 1);
  slider.value = String(BETAS.indexOf(dash.beta));
  const show = () => { $('smooth-val').textContent = dash.beta > 0 ? `EMA β = ${dash.beta}` : 'off'; };
  show();
  slider.addEventListener('input', () => {
    dash.beta = BETAS[Number(slider.value)];
    show();
    refreshCurve();
    redrawCompare(true);
  });
}
