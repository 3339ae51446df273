// jobs.js — meta-training jobs: the list with progress and the selected
// job's meta-loss curve.
import { api } from './api.js';
import { $, dash, el, showError } from './state.js';
import { draw } from './charts.js';
import { fmt } from './format.js';

export async function refreshJobs() {
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
  ], [curve.map((p) => p.step), curve.map((p) => p.meta_loss)],
  { xlabel: 'outer step', meta: detail ? { job: detail.id } : null });
}
