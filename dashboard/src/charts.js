// charts.js — uPlot charts and their downloads.
//
// draw() renders uPlot's aligned columns (x first) into a container and
// keeps, in dash.charts[id], what the browser test reads: points (x values
// drawn), labels, the tick labels last drawn per axis (ticks), the plot,
// and meta (what the chart is of, for the downloads).  A chart is rebuilt
// when its series, scales or log setting change, else its data is replaced.
// Series may name a scale: the first axis shows scale 'y' (the default), and
// extra.right names a second scale drawn on the right-hand axis.
import uPlot from 'uplot';
import { $, dash } from './state.js';
import { fmt, tick, stepTick } from './format.js';

// x ticks: whole steps only
const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6,
  1e7, 2e7, 5e7, 1e8, 1e9, 1e10, 1e11, 1e12];

function chartWidth(container) {
  return Math.max(240, Math.floor(container.getBoundingClientRect().width) || 400);
}

export function draw(id, title, series, data, extra = {}) {
  const box = $(id);
  const labels = series.map((s) => s.label);
  const log = !!extra.log;
  const key = JSON.stringify([labels, series.map((s) => s.scale || 'y'), extra.bands || [], log, extra.right || null,
    extra.xlabel || null, !!extra.numericX]);
  let c = dash.charts[id];
  if (!c || c.key !== key) {
    if (c && c.plot) c.plot.destroy();
    box.textContent = '';
    const ticks = [];
    const rec = (i, f) => (u, vals) => { const out = vals.map(f); ticks[i] = out; return out; };
    const axes = [
      // extra.numericX: any numbers on x (a study's parameter), not whole steps
      extra.numericX ? { label: extra.xlabel, values: rec(0, tick) }
        : { label: extra.xlabel || 'step', incrs: STEP_INCRS, values: rec(0, stepTick) },
      { scale: 'y', size: 56, label: extra.ylabel, values: rec(1, tick) },
    ];
    const scales = { x: { time: false }, y: log ? { distr: 3 } : {} };
    if (extra.right) {
      axes.push({ scale: extra.right.scale, side: 1, size: 56, label: extra.right.label, grid: { show: false },
        values: rec(2, tick) });
      scales[extra.right.scale] = {};
    }
    const opts = {
      title,
      width: chartWidth(box),
      height: extra.height || 220,
      scales,
      series: [{ label: 'step', value: (u, v) => (v === null || v === undefined ? '—' : String(v)) },
        ...series.map((s) => ({ spanGaps: true, width: 1.5, value: (u, v) => fmt(v), ...s }))],
      axes,
      bands: extra.bands,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    };
    c = { key, plot: new uPlot(opts, data, box), labels, ticks, log };
    dash.charts[id] = c;
  } else {
    c.plot.setData(data);
  }
  c.points = data[0].length;
  c.meta = extra.meta || null;
  box.dataset.points = String(c.points);
  box.dataset.log = log ? '1' : '0';
  return c;
}

export function resizeCharts() {
  for (const [id, c] of Object.entries(dash.charts)) {
    if (c.plot) c.plot.setSize({ width: chartWidth($(id)), height: c.plot.height });
  }
}

// Every value of the columns is > 0 (a log axis can show them).
export const allPositive = (cols) => cols.every((col) => col.every((v) => v === null || v === undefined || v > 0));

// ---- downloads -------------------------------------------------------------

const csvCell = (v) => (v === null || v === undefined || Number.isNaN(v) ? '' : String(v));
const csvName = (s) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

// The chart's data as it is drawn: {chart, title, meta, x: 'step', columns: {label: values}}.
export function chartExport(id) {
  const c = dash.charts[id];
  if (!c || !c.plot) return null;
  const d = c.plot.data;
  const xname = c.plot.series[0].label || 'step';
  const columns = { [xname]: Array.from(d[0]) };
  c.labels.forEach((l, i) => { columns[l] = Array.from(d[i + 1], (v) => (v === undefined ? null : v)); });
  return { chart: id, title: c.plot.title || id, ...(c.meta || {}), x: xname, columns };
}

export function chartCsv(id) {
  const e = chartExport(id);
  if (!e) return '';
  const names = Object.keys(e.columns);
  const cols = names.map((n) => e.columns[n]);
  const lines = [names.map(csvName).join(',')];
  for (let i = 0; i < cols[0].length; i++) lines.push(cols.map((col) => csvCell(col[i])).join(','));
  return lines.join('\n') + '\n';
}

export function download(id, kind) {
  const e = chartExport(id);
  if (!e) return;
  const text = kind === 'csv' ? chartCsv(id) : JSON.stringify(e, null, 1);
  const blob = new Blob([text], { type: kind === 'csv' ? 'text/csv' : 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  const who = e.session ? `-${String(e.session).slice(0, 8)}` : '';
  a.download = `${id.replace(/^chart-/, '')}${who}.${kind}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
