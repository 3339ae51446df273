// studies.js — hyperparameter studies (docs/studies.md): the list, and the
// selected study's trials table, best-so-far curve and a parameter-against-
// value scatter.  Every name here (study, parameter, categorical choice)
// comes from the API and reaches the page as text only (el()'s textContent,
// uPlot's titles and labels are textContent too), never as markup.
import { api } from './api.js';
import { $, dash, el, showError } from './state.js';
import { draw } from './charts.js';
import { fmt } from './format.js';

const MAX_TRIALS_SHOWN = 1000;   // rows of the trials table (the charts use every trial)

// A parameter's value as a number on the scatter's x axis: log10 of a log
// parameter, a categorical's choice index, else the value.
function xOf(p, v) {
  if (v === undefined || v === null && p.type !== 'categorical') return null;
  if (p.type === 'categorical') {
    const i = p.choices.findIndex((c) => c === v);
    return i < 0 ? null : i;
  }
  return p.log ? Math.log10(v) : v;
}

const cell = (v) => (typeof v === 'number' ? fmt(v) : v === null || v === undefined ? '—' : String(v));

function renderList() {
  const tb = $('studies').tBodies[0];
  tb.textContent = '';
  for (const s of dash.studies) {
    const tr = el('tr', { 'data-id': s.id });
    if (s.id === dash.selectedStudy) tr.classList.add('selected');
    tr.append(el('td', { class: 'id' }, s.id), el('td', { class: 'name' }, s.name), el('td', {}, s.direction),
      el('td', {}, `${s.sampler} / ${s.pruner}`),
      el('td', { class: 'num' }, `${s.n_trials}/${s.max_trials}`), el('td', { class: 'num' }, String(s.n_complete)),
      el('td', {}, s.objective ? s.objective.task : 'clients'));
    tr.addEventListener('click', () => { dash.selectedStudy = s.id; refreshStudies().catch(showError); });
    tb.append(tr);
  }
  $('studies-empty').hidden = dash.studies.length > 0;
  $('studies-count').textContent = `${dash.studies.length}`;
}

function renderTrials(study, trials) {
  const names = Object.keys(study.space);
  const t = $('trials');
  t.textContent = '';
  const head = el('tr');
  for (const h of ['trial', 'state', 'value', 'steps', ...names]) head.append(el('th', {}, h));
  t.append(el('thead'));
  t.tHead.append(head);
  const body = el('tbody');
  for (const tr of trials.slice(-MAX_TRIALS_SHOWN)) {
    const row = el('tr', { 'data-trial': String(tr.trial) });
    if (study.best && study.best.trial === tr.trial) row.classList.add('selected');
    row.append(el('td', { class: 'num' }, String(tr.trial)), el('td', { class: `status ${tr.state}` }, tr.state),
      el('td', { class: 'num' }, cell(tr.value)), el('td', { class: 'num' }, String(tr.intermediate.length)));
    for (const n of names) row.append(el('td', { class: 'num' }, cell(tr.params[n])));
    body.append(row);
  }
  t.append(body);
}

function renderParamSelect(study) {
  const sel = $('study-param');
  const names = Object.keys(study.space);
  if (!names.includes(dash.studyParam)) dash.studyParam = names[0];
  const had = [...sel.options].map((o) => o.value);
  if (had.length !== names.length || had.some((v, i) => v !== names[i])) {
    sel.textContent = '';
    for (const n of names) sel.append(el('option', { value: n }, n));
  }
  sel.value = dash.studyParam;
}

function drawCharts(study, trials) {
  const dir = study.direction === 'maximize' ? -1 : 1;
  const xs = [];
  const vals = [];
  const best = [];
  let b = null;
  for (const t of trials) {
    xs.push(t.trial);
    const v = t.state === 'complete' ? t.value : null;
    vals.push(v);
    if (v !== null && (b === null || dir * v < dir * b)) b = v;
    best.push(b);
  }
  draw('chart-study-best', `best so far — ${study.name}`, [
    { label: 'value', stroke: '#adb5bd', width: 0, points: { show: true, size: 5 } },
    { label: 'best so far', stroke: '#2b8a3e', width: 2 },
  ], [xs, vals, best], { xlabel: 'trial', meta: { study: study.id } });
  const p = { ...study.space[dash.studyParam], name: dash.studyParam };
  const pts = [];
  for (const t of trials) {
    if (t.state !== 'complete' || !(dash.studyParam in t.params)) continue;
    const x = xOf(p, t.params[dash.studyParam]);
    if (x !== null && Number.isFinite(x)) pts.push([x, t.value]);
  }
  pts.sort((a, c) => a[0] - c[0]);
  const xl = p.type === 'categorical' ? `${p.name} (choice index)` : p.log ? `log10 ${p.name}` : p.name;
  draw('chart-study-param', `value against ${p.name}`, [
    { label: 'value', stroke: '#2f6fde', width: 0, paths: () => null, points: { show: true, size: 6 } },
  ], [pts.map((q) => q[0]), pts.map((q) => q[1])], { xlabel: xl, numericX: true, meta: { study: study.id, param: p.name } });
}

export async function refreshStudies() {
  const r = await api('/v1/studies');
  dash.studies = r.studies;
  if (!dash.selectedStudy || !dash.studies.some((s) => s.id === dash.selectedStudy)) {
    dash.selectedStudy = dash.studies.length ? dash.studies[0].id : null;
  }
  renderList();
  $('study-detail').hidden = !dash.selectedStudy;
  if (!dash.selectedStudy) { dash.study = null; return; }
  const id = encodeURIComponent(dash.selectedStudy);
  const [study, tr] = await Promise.all([api(`/v1/studies/${id}`), api(`/v1/studies/${id}/trials`)]);
  dash.study = { ...study, trials: tr.trials };
  $('study-name').textContent = study.name;
  const run = study.run ? `, run: ${study.run.state}` : '';
  $('study-info').textContent = `${study.n_trials} trials, ${study.n_complete} complete, ${study.steps_run} steps reported` +
    `${run}; best ${study.best ? `${fmt(study.best.value)} (trial ${study.best.trial})` : '—'}`;
  renderTrials(study, tr.trials);
  renderParamSelect(study);
  drawCharts(study, tr.trials);
}

export function initStudyControls() {
  $('study-param').addEventListener('change', () => {
    dash.studyParam = $('study-param').value;
    if (dash.study) drawCharts(dash.study, dash.study.trials);
  });
}
