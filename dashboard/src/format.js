// format.js — numbers as people read them: table cells (4 significant
// digits, exponent form outside [1e-3, 1e5)) and axis ticks (at most 3
// significant digits, SI suffixes k M G T P for large values, exponent form
// for small ones — never a 12-digit float); the trend badge.
import { el } from './state.js';

export function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const [m, e] = v.toExponential(3).split('e');
    return `${Number(m)}e${Number(e)}`;   // 1.346e12, 1e-8
  }
  return Number(v.toPrecision(4)).toString();
}

const SI = [[1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];

// "1.5e-4", "0.25", "12", "3.5k", "1.2M"
export function tick(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e18) return v.toExponential(1).replace('.0e', 'e').replace('e+', 'e');
  for (const [f, s] of SI) if (a >= f) return `${Number((v / f).toPrecision(3))}${s}`;
  if (a < 0.01) {
    const [m, e] = v.toExponential(2).split('e');
    return `${Number(m)}e${Number(e)}`;
  }
  return String(Number(v.toPrecision(3)));
}

// Whole steps: 1500 -> "1.5k".
export const stepTick = (v) => (Number.isInteger(v) ? tick(v) : '');

export function created(ms) {
  if (typeof ms !== 'number') return '—';
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function badge(trend) {
  const label = trend && trend.label ? trend.label : 'unknown';
  const text = label === 'insufficient_data' ? 'insufficient data' : label;
  const conf = trend && typeof trend.confidence === 'number' ? ` ${Math.round(trend.confidence * 100)}%` : '';
  const b = el('span', { class: `badge ${label}`, 'data-trend': label }, text + conf);
  if (trend && typeof trend.change === 'number') {
    b.title = `change between the medians of the window's first and last thirds: ${fmt(trend.change)}` +
      (typeof trend.noise === 'number' ? `; step-to-step noise ${fmt(trend.noise)}` : '');
  }
  return b;
}
