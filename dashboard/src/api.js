// api.js — the daemon's HTTP API as the page uses it (same origin; the key,
// when set, as a Bearer token).  Errors become ApiError with the daemon's
// error code.
import { dash } from './state.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(path) {
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

// GET /v1/sessions with the list's filters (status, optimizer, tag, q), every page.
export async function listSessions(filters) {
  const qs = new URLSearchParams({ limit: '1000' });
  for (const k of ['status', 'optimizer', 'tag', 'q']) if (filters[k]) qs.set(k, filters[k]);
  const all = [];
  for (let page = 0; page < 20; page++) {
    const r = await api(`/v1/sessions?${qs}`);
    all.push(...r.sessions);
    if (!r.next_page_token || !r.sessions.length) break;
    qs.set('page_token', r.next_page_token);
  }
  return all;
}

// The smoothing part of a curve query for an EMA beta (0: none).
export const smoothQuery = (beta) => (beta > 0 ? `smooth=ema&beta=${beta}` : 'smooth=none');

// GET /v1/sessions/{id}/feedback, every page (at most 20 of 10000 rows).
export async function listFeedback(id) {
  const rows = [];
  let after = null;
  for (let page = 0; page < 20; page++) {
    const r = await api(`/v1/sessions/${encodeURIComponent(id)}/feedback?limit=10000${after !== null ? `&after=${after}` : ''}`);
    rows.push(...r.feedback);
    if (r.next_after === null || r.next_after === undefined || !r.feedback.length) break;
    after = r.next_after;
  }
  return rows;
}
