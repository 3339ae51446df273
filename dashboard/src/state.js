// state.js — the dashboard's shared state (window.__dash, read by the
// browser test) and small DOM helpers.  Every module reads and writes this
// one object; nothing else holds state.
export const MAX_POINTS = 1000;
export const COMPARE_POINTS = 500;
export const MAX_SUMMARIES = 100;     // trend badges fetched per list refresh
export const MAX_COMPARE = 16;        // the daemon's limit for /v1/compare
// the smoothing slider's EMA betas (index 0: no smoothing)
export const BETAS = [0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999];
export const PALETTE = ['#2f6fde', '#e8590c', '#2b8a3e', '#c2255c', '#7048e8', '#0b7285', '#a61e4d', '#5c940d',
  '#d9480f', '#1864ab', '#862e9c', '#087f5b', '#e67700', '#364fc7', '#c92a2a', '#495057'];

export const $ = (id) => document.getElementById(id);

export const dash = {
  key: sessionStorage.getItem('optirs.key') || '',
  sessions: [],           // [{id, name, optimizer, status, step, last_loss, created_ms, hyperparams, tags, trend, best_loss}]
  filters: { q: '', status: '', optimizer: '', tag: '' },
  sort: { key: 'created', dir: -1 },
  optimizersSeen: new Set(),
  selected: null,
  compare: new Set(),     // ids ticked for the compare chart and the hparams table
  compareTouched: false,  // the user changed the ticks (otherwise: the first few sessions)
  beta: 0.9,              // the smoothing slider (EMA beta; 0 = none)
  logY: false,            // log scale on the loss axes
  jobs: [],
  selectedJob: null,
  studies: [],            // GET /v1/studies
  selectedStudy: null,
  study: null,            // the selected study with its trials
  studyParam: null,       // the scatter's parameter
  charts: {},             // id -> {points, labels, ticks, plot, meta}
  curve: null,            // the last metrics answer for the selected session
  feedback: null,         // the selected session's feedback rows
  live: { mode: 'off', events: 0, lastStep: null, lastLoss: null, refreshes: 0 },
  errors: [],
  loaded: false,
};
window.__dash = dash;

export function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

export function showError(e) {
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
