// main.js — the optirsd dashboard (vanilla JS + uPlot): start-up and the
// periodic refresh.  The parts, one module each:
//   state.js     shared state (window.__dash, read by the browser test)
//   api.js       the daemon's API (GET /v1/sessions with its filters, feedback)
//   format.js    numbers for cells and axis ticks, the trend badge
//   charts.js    uPlot charts, CSV/JSON downloads of what a chart draws
//   sessions.js  the list: search, filters, sorting, trend badges, compare ticks
//   detail.js    the selected session: loss (log scale, smoothing slider),
//                lr, gradient and update norms on two axes, feedback metrics
//   compare.js   ticked sessions: loss curves overlaid, hparams table
//   live.js      Server-Sent Events, or polling with an API key
//   jobs.js      meta-training jobs and their meta-loss curves
//   studies.js   hyperparameter studies: trials, best so far, value against a parameter
// Data, all from the daemon's own API on the page's origin:
//   GET /v1/sessions?status=&optimizer=&tag=&q=   the filtered list
//   GET /v1/sessions/{id}/summary       trend badge, best loss
//   GET /v1/sessions/{id}/metrics?max_points=…&smooth=ema&beta=…
//   GET /v1/sessions/{id}/feedback      feedback loss and metrics
//   GET /v1/compare?ids=…&smooth=ema&beta=…
//   GET /v1/meta/jobs, /v1/meta/jobs/{id}
//   GET /v1/studies, /v1/studies/{id}, /v1/studies/{id}/trials
//   GET /v1/sessions/{id}/events        live steps (Server-Sent Events)
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { $, dash, showError } from './state.js';
import { download, resizeCharts } from './charts.js';
import { initSessionControls, refreshSessions } from './sessions.js';
import { initDetailControls, refreshCurve } from './detail.js';
import { redrawCompare } from './compare.js';
import { refreshJobs } from './jobs.js';
import { initStudyControls, refreshStudies } from './studies.js';
import { startLive } from './live.js';

const LIST_EVERY_MS = 5000;

function setConn(ok, text) {
  const e = $('conn');
  e.textContent = text;
  e.className = `pill ${ok ? 'ok' : 'bad'}`;
}

let allBusy = false;
let allAgain = false;

// One full refresh; a call during one runs once more after it (a filter
// changed meanwhile).
async function refreshAll() {
  if (allBusy) { allAgain = true; return; }
  allBusy = true;
  try {
    do {
      allAgain = false;
      try {
        await refreshSessions();
        await refreshCurve();
        await refreshJobs();
        await refreshStudies();
        setConn(true, 'connected');
        showError(null);
        dash.loaded = true;
        dash.refreshes = (dash.refreshes || 0) + 1;
      } catch (e) {
        setConn(false, e.status === 401 ? 'key needed' : 'error');
        showError(e);
      }
    } while (allAgain);
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
  initSessionControls(refreshAll);
  initStudyControls();
  initDetailControls((refetch) => { const p = redrawCompare(refetch); if (p) p.catch(showError); });
  for (const b of document.querySelectorAll('button[data-dl]')) {
    b.addEventListener('click', () => download(b.dataset.chart, b.dataset.dl));
  }
  let t = null;
  window.addEventListener('resize', () => { clearTimeout(t); t = setTimeout(resizeCharts, 100); });
  refreshAll();
  setInterval(refreshAll, LIST_EVERY_MS);
}

init();
