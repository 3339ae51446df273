// dashboard.mjs — the dashboard, end to end, in Debian's headless chromium
// driven by playwright-core.  Run by tests/integration/test_dashboard.py,
// which starts the daemons and creates and steps the sessions; this script
// only talks to them over HTTP and through the page.
//
//   node tests/e2e/dashboard.mjs CONFIG.json
//
// CONFIG: {url, sessions: [{id, dim}], live_session, job_id, screenshot,
//          keyed: {url, key, session, dim} (optional), chromium}
// Checks: the page loads; the session list shows every id with the trend
// badge the API gives; the loss, lr and norm charts draw exactly the points
// (and values) of GET …/metrics?max_points=1000&smooth=ema; the compare chart
// draws each session's curve from GET /v1/compare; the meta-job chart draws
// the job's meta-loss curve; steps posted after the page opened arrive over
// Server-Sent Events and are drawn; with an API key the page polls instead.
// Saves a screenshot.  Exits 1 with the reason on the first failed check.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const WAIT_MS = 15000;   // generous deadline for anything asynchronous

function check(ok, what, detail) {
  if (!ok) {
    const d = detail === undefined ? '' : `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`;
    throw new Error(`FAILED ${what}${d}`);
  }
  console.log(`ok   ${what}`);
}

async function api(base, path, { method = 'GET', body, key } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (key) headers.Authorization = `Bearer ${key}`;
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

// Floats as the page holds them (JSON numbers, null for gaps) against the API's.
function sameSeries(a, b) {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((v, i) => (v === null || v === undefined ? b[i] === null : Math.abs(v - b[i]) <= 1e-12 * Math.max(1, Math.abs(b[i]))));
}

const chartData = (page, id) => page.evaluate((cid) => {
  const c = window.__dash.charts[cid];
  return c && c.plot ? { points: c.points, labels: c.labels, data: c.plot.data, sessions: c.sessions || null } : null;
}, id);

async function stepMore(base, sid, dim, from, n, key) {
  for (let k = from; k < from + n; k++) {
    const loss = 2 / (1 + 0.05 * k);
    await api(base, `/v1/sessions/${sid}/step`, { method: 'POST', key, body: { step: k, grads: Array(dim).fill(0.01), loss } });
  }
  return from + n - 1;
}

async function main() {
  const userDir = mkdtempSync(join(tmpdir(), 'optirs-e2e-chromium-'));
  const browser = await chromium.launchPersistentContext(userDir, {
    executablePath: cfg.chromium || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1100 },
  });
  try {
    const page = browser.pages()[0] || await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const base = cfg.url;

    // 1. The page loads, from the daemon, with everything inline.
    const external = [];
    page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
    const resp = await page.goto(base + '/', { waitUntil: 'load' });
    check(resp.status() === 200, 'GET / answers 200', resp.status());
    check((await page.title()) === 'optirsd dashboard', 'the page is the dashboard');
    await page.waitForFunction(() => window.__dash && window.__dash.loaded, null, { timeout: WAIT_MS });

    // 2. The session list: every id, each with the API's trend badge.
    const ids = cfg.sessions.map((s) => s.id);
    const rows = await page.$$eval('#sessions tbody tr', (trs) => trs.map((tr) => ({
      id: tr.querySelector('td.id').textContent,
      status: tr.querySelector('td.status').textContent,
      trend: tr.querySelector('.badge') ? tr.querySelector('.badge').dataset.trend : null,
      badge: tr.querySelector('.badge') ? tr.querySelector('.badge').textContent : null,
    })));
    check(ids.every((id) => rows.some((r) => r.id === id)), 'the session list shows both ids', rows);
    for (const id of ids) {
      const sum = await api(base, `/v1/sessions/${id}/summary`);
      const row = rows.find((r) => r.id === id);
      check(row.trend === sum.trend.label && row.status === sum.status,
        `session ${id.slice(0, 8)}: badge "${row.badge}" and status match the summary`, { row, trend: sum.trend });
    }
    check(rows.some((r) => r.trend === 'improving') && rows.some((r) => r.trend === 'diverging'),
      'the badges tell the improving session from the diverging one', rows);

    // 3. The selected session's charts draw what the API returns.
    const sid = cfg.live_session;
    await page.click(`#sessions tbody tr[data-id="${sid}"] td.id`);
    await page.waitForFunction((id) => window.__dash.curve && window.__dash.curve.id === id, sid, { timeout: WAIT_MS });
    const m = await api(base, `/v1/sessions/${sid}/metrics?max_points=1000&smooth=ema`);
    const loss = await chartData(page, 'chart-loss');
    check(m.steps.length > 0 && loss.points === m.steps.length, `the loss chart draws the ${m.steps.length} points the API returns`,
      { chart: loss.points, api: m.steps.length });
    check(sameSeries(loss.data[0], m.steps) && sameSeries(loss.data[3], m.loss.mean) &&
      sameSeries(loss.data[4], m.loss_smooth) && sameSeries(loss.data[1], m.loss.max) && sameSeries(loss.data[2], m.loss.min),
    'its raw, smoothed, min and max loss are the API\'s values');
    const lr = await chartData(page, 'chart-lr');
    check(lr.points === m.steps.length && sameSeries(lr.data[1], m.lr.mean), 'the lr chart draws the API\'s lr');
    const norms = await chartData(page, 'chart-norms');
    check(norms.points === m.steps.length && sameSeries(norms.data[1], m.grad_norm.mean) &&
      sameSeries(norms.data[2], m.update_norm.mean), 'the norms chart draws the API\'s gradient and update norms');
    const attr = await page.getAttribute('#chart-loss', 'data-points');
    check(Number(attr) === m.steps.length, 'data-points on the loss chart says so too', attr);

    // 4. Compare: every session's curve on one plot.
    const cmp = await api(base, `/v1/compare?ids=${ids.join(',')}&max_points=500&smooth=ema`);
    await page.waitForFunction((n) => {
      const c = window.__dash.charts['chart-compare'];
      return c && c.sessions && c.sessions.length === n;
    }, ids.length, { timeout: WAIT_MS });
    const cc = await chartData(page, 'chart-compare');
    for (const s of cmp.sessions) {
      const got = cc.sessions.find((t) => t.id === s.id);
      check(got && got.points === s.curve.steps.length, `compare draws ${s.curve.steps.length} points of ${s.id.slice(0, 8)}`, got);
    }
    const union = new Set(cmp.sessions.flatMap((s) => s.curve.steps));
    check(cc.points === union.size && cc.data.length === 1 + ids.length, 'the compare chart aligns the curves on one step axis',
      { points: cc.points, union: union.size, series: cc.data.length });

    // 5. Meta-training: the job's meta-loss curve.
    if (cfg.job_id) {
      const job = await api(base, `/v1/meta/jobs/${cfg.job_id}`);
      await page.waitForFunction((n) => {
        const c = window.__dash.charts['chart-meta'];
        return c && c.points === n;
      }, job.curve.length, { timeout: WAIT_MS });
      const mc = await chartData(page, 'chart-meta');
      check(mc.points === job.curve.length && sameSeries(mc.data[1], job.curve.map((p) => p.meta_loss)),
        `the meta-loss chart draws the job's ${job.curve.length} outer steps`);
      const jobRow = await page.$eval(`#jobs tbody tr[data-id="${cfg.job_id}"]`, (tr) => tr.textContent).catch(() => null);
      check(jobRow && jobRow.includes(job.status), 'the job list shows the job and its status', jobRow);
    }

    // 6. Live: steps posted now arrive over Server-Sent Events and are drawn.
    await page.waitForFunction(() => window.__dash.live.mode === 'sse', null, { timeout: WAIT_MS });
    check(true, 'the page listens on /v1/sessions/{id}/events');
    const dim = cfg.sessions.find((s) => s.id === sid).dim;
    const last = await stepMore(base, sid, dim, m.last_step + 1, 5);
    await page.waitForFunction((k) => window.__dash.live.lastStep === k, last, { timeout: WAIT_MS });
    check(true, `the live update for step ${last} arrived in the page`);
    const m2 = await api(base, `/v1/sessions/${sid}/metrics?max_points=1000&smooth=ema`);
    await page.waitForFunction((n) => window.__dash.charts['chart-loss'].points === n, m2.steps.length, { timeout: WAIT_MS });
    const loss2 = await chartData(page, 'chart-loss');
    check(loss2.points === m2.steps.length && sameSeries(loss2.data[3], m2.loss.mean),
      `the loss chart grew to the API's ${m2.steps.length} points`, { chart: loss2.points, api: m2.steps.length });

    await page.screenshot({ path: cfg.screenshot, fullPage: true });
    check(true, `screenshot saved to ${cfg.screenshot}`);
    check(external.length === 0, 'the page fetched nothing from anywhere but the daemon', external);
    check(pageErrors.length === 0, 'no script errors on the page', pageErrors);

    // 7. A daemon with API keys: the page asks for a key, then polls.
    if (cfg.keyed) {
      const k = cfg.keyed;
      const p2 = await browser.newPage();
      p2.on('pageerror', (e) => pageErrors.push(String(e)));
      await p2.goto(k.url + '/', { waitUntil: 'load' });
      await p2.waitForFunction(() => !document.getElementById('banner').hidden, null, { timeout: WAIT_MS });
      const banner = await p2.textContent('#banner');
      check(/API key/.test(banner), 'without a key the page says it needs one', banner);
      await p2.fill('#key', k.key);
      await p2.click('#keyform button');
      await p2.waitForFunction(() => window.__dash.loaded && window.__dash.curve, null, { timeout: WAIT_MS });
      const krows = await p2.$$eval('#sessions td.id', (tds) => tds.map((t) => t.textContent));
      check(krows.includes(k.session), 'with the key the session list loads', krows);
      check(await p2.evaluate(() => window.__dash.live.mode) === 'poll', 'with a key live updates poll (no EventSource)');
      const km = await api(k.url, `/v1/sessions/${k.session}/metrics?max_points=1000&smooth=ema`, { key: k.key });
      const klast = await stepMore(k.url, k.session, k.dim, km.last_step + 1, 3, k.key);
      await p2.waitForFunction((s) => window.__dash.live.lastStep === s, klast, { timeout: WAIT_MS });
      const km2 = await api(k.url, `/v1/sessions/${k.session}/metrics?max_points=1000&smooth=ema`, { key: k.key });
      await p2.waitForFunction((n) => window.__dash.charts['chart-loss'].points === n, km2.steps.length, { timeout: WAIT_MS });
      check(true, `polling brought step ${klast} and the chart has the API's ${km2.steps.length} points`);
      check(pageErrors.length === 0, 'no script errors on the keyed page', pageErrors);
    }
  } finally {
    await browser.close();
    rmSync(userDir, { recursive: true, force: true });
  }
}

main().then(() => { console.log('PASS'); }, (e) => { console.error(e && e.message ? e.message : e); process.exit(1); });
