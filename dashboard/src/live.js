// live.js — live updates of the selected session.  An EventSource on
// /v1/sessions/{id}/events when no API key is set; EventSource cannot send
// an Authorization header, so with a key (or when the stream is refused)
// the page polls the session every 2 s and redraws when its step moved.
import { api } from './api.js';
import { $, dash, showError } from './state.js';
import { refreshCurve } from './detail.js';
import { renderSessions } from './sessions.js';

const POLL_EVERY_MS = 2000;

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

export function startLive() {
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
