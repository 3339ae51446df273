// dashboard.mjs — the dashboard, end to end, in Debian's headless chromium
// driven by playwright-core.  Run by tests/integration/test_dashboard.py,
// which starts the daemons and creates and steps the sessions; this script
// only talks to them over HTTP and through the page.
//
//   node tests/e2e/dashboard.mjs CONFIG.json
//
// CONFIG: {url, sessions: [{id, dim}], live_session, job_id, study, screenshot,
//          real: [{id, label, diverging}], noloss, (optional)
//          keyed: {url, key, session, dim} (optional), chromium}
// Checks: the page loads; the session list shows every id with the trend
// badge the API gives; the loss, lr and norm charts draw exactly the points
// (and values) of GET …/metrics?max_points=1000&smooth=ema; the compare chart
// draws each session's curve from GET /v1/compare; the meta-job chart draws
// the job's meta-loss curve; steps posted after the page opened arrive over
// Server-Sent Events and are drawn; trend badges on real training curves;
// sorting, search and filters against the list API; "no loss sent"; the
// feedback chart, separate norm axes, the log toggle and the smoothing
// slider against the API; the hparams table of ticked sessions; CSV and
// JSON downloads against what is drawn; readable tick labels; with an API
// key the page polls instead; the studies panel (nav link, trials table,
// best-so-far curve, value-against-parameter scatter, hostile names as text).  Saves a screenshot.  Exits 1 with the reason on the first failed check.
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

    // 4. Compare: every session's curve on one plot (by default the newest 8 are ticked).
    const ticked = (await api(base, '/v1/sessions?limit=8')).sessions.map((s) => s.id);
    const cmp = await api(base, `/v1/compare?ids=${ticked.join(',')}&max_points=500&smooth=ema`);
    await page.waitForFunction((n) => {
      const c = window.__dash.charts['chart-compare'];
      return c && c.sessions && c.sessions.length === n;
    }, ticked.length, { timeout: WAIT_MS });
    const cc = await chartData(page, 'chart-compare');
    for (const s of cmp.sessions) {
      const got = cc.sessions.find((t) => t.id === s.id);
      check(got && got.points === s.curve.steps.length, `compare draws ${s.curve.steps.length} points of ${s.id.slice(0, 8)}`, got);
    }
    const union = new Set(cmp.sessions.flatMap((s) => s.curve.steps));
    check(cc.points === union.size && cc.data.length === 1 + ticked.length, 'the compare chart aligns the curves on one step axis',
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

    // 7. Trend badges on real training curves (tests/fixtures/trend_curves.json):
    //    a noisy minibatch run is not "diverging", the run with too high an lr is.
    for (const r of cfg.real || []) {
      const sum = await api(base, `/v1/sessions/${r.id}/summary`);
      await page.waitForFunction(([id, lab]) => {
        const b = document.querySelector(`#sessions tbody tr[data-id="${id}"] .badge`);
        return b && b.dataset.trend === lab;
      }, [r.id, sum.trend.label], { timeout: WAIT_MS });
      check(r.diverging ? sum.trend.label === 'diverging' : sum.trend.label !== 'diverging',
        `real curve ${r.label}: the badge says "${sum.trend.label}"`, sum.trend);
    }

    // 8. Sorting: by last loss (ascending, then descending), status, created.
    const order = () => page.$$eval('#sessions tbody tr', (trs) => trs.map((tr) => tr.dataset.id));
    const all = (await api(base, '/v1/sessions?limit=1000')).sessions;
    const byId = new Map(all.map((s) => [s.id, s]));
    const sortedBy = (key, dir) => all.slice().sort((a, b) => {
      const x = a[key], y = b[key];
      const xm = x === null, ym = y === null;
      if (xm !== ym) return xm ? 1 : -1;
      if (!xm && x !== y) return (x < y ? -1 : 1) * dir;
      return (b.created_ms - a.created_ms) || (a.id < b.id ? -1 : 1);
    }).map((s) => s.id);
    await page.click('#sessions th[data-sort="loss"]');
    check(JSON.stringify(await order()) === JSON.stringify(sortedBy('last_loss', 1)), 'sorted by last loss, ascending',
      (await order()).map((id) => byId.get(id).last_loss));
    await page.click('#sessions th[data-sort="loss"]');
    check(JSON.stringify(await order()) === JSON.stringify(sortedBy('last_loss', -1)), 'sorted by last loss, descending');
    await page.click('#sessions th[data-sort="status"]');
    const st = (await order()).map((id) => byId.get(id).status);
    check(st.indexOf('finished') > st.lastIndexOf('active'), 'sorted by status (active before finished)', st);
    await page.click('#sessions th[data-sort="created"]');
    check(JSON.stringify(await order()) === JSON.stringify(sortedBy('created_ms', -1)), 'sorted by created time, newest first');

    // 9. Search and filters: the rows are the list API's answer for them.
    const filtered = async (what, query) => {
      const want = (await api(base, `/v1/sessions?limit=1000&${query}`)).sessions.map((s) => s.id).sort();
      await page.waitForFunction((n) => document.querySelectorAll('#sessions tbody tr').length === n &&
        !document.getElementById('conn').classList.contains('bad'), want.length, { timeout: WAIT_MS });
      await page.waitForFunction((w) => JSON.stringify([...document.querySelectorAll('#sessions tbody tr')]
        .map((tr) => tr.dataset.id).sort()) === w, JSON.stringify(want), { timeout: WAIT_MS });
      check(want.length > 0 && want.length < all.length, `${what}: the list shows the API's ${want.length} of ${all.length}`);
    };
    await page.fill('#f-q', 'FALLS');
    await filtered('search "FALLS"', 'q=FALLS');
    await page.fill('#f-q', '');
    await page.selectOption('#f-status', 'finished');
    await filtered('status finished', 'status=finished');
    await page.selectOption('#f-status', '');
    await page.selectOption('#f-optimizer', 'sgd');
    await filtered('optimizer sgd', 'optimizer=sgd');
    await page.selectOption('#f-optimizer', '');
    await page.fill('#f-tag', 'exp:falls');
    await filtered('tag exp:falls', 'tag=exp%3Afalls');
    await page.fill('#f-tag', '');
    await page.waitForFunction((n) => document.querySelectorAll('#sessions tbody tr').length === n, all.length,
      { timeout: WAIT_MS });
    check(true, 'cleared filters show every session again');

    // 10. A session with steps but no loss: "no loss sent", no empty chart.
    if (cfg.noloss) {
      await page.click(`#sessions tbody tr[data-id="${cfg.noloss}"] td.id`);
      await page.waitForFunction((id) => window.__dash.curve && window.__dash.curve.id === id, cfg.noloss, { timeout: WAIT_MS });
      const nl = await page.evaluate(() => ({ text: document.getElementById('noloss').textContent,
        shown: !document.getElementById('noloss').hidden, chart: !document.getElementById('wrap-loss').hidden }));
      check(nl.shown && /no loss sent/.test(nl.text) && !nl.chart, 'a session without losses says "no loss sent" instead of a chart', nl);
      const shot = cfg.screenshot.replace(/\.png$/, '-noloss.png');
      await page.screenshot({ path: shot });
      check(true, `screenshot of the no-loss session saved to ${shot}`);
    }

    // 11. Back to the live session: feedback metrics, log scale, smoothing slider.
    await page.click(`#sessions tbody tr[data-id="${sid}"] td.id`);
    await page.waitForFunction((id) => window.__dash.curve && window.__dash.curve.id === id &&
      !document.getElementById('wrap-feedback').hidden, sid, { timeout: WAIT_MS });
    check(await page.evaluate(() => document.getElementById('noloss').hidden && !document.getElementById('wrap-loss').hidden),
      'with losses the loss chart is back and the note gone');
    const fbApi = (await api(base, `/v1/sessions/${sid}/feedback`)).feedback;
    const fb = await chartData(page, 'chart-feedback');
    check(fb.points === fbApi.length && sameSeries(fb.data[1], fbApi.map((r) => r.loss)) &&
      fb.labels.includes('val_acc') && sameSeries(fb.data[1 + fb.labels.indexOf('val_acc')], fbApi.map((r) => r.metrics.val_acc)),
    `the feedback chart draws the ${fbApi.length} feedback losses and val_acc`, fb);
    const axes = await page.evaluate(() => window.__dash.charts['chart-norms'].plot.series.map((s) => s.scale));
    check(axes[1] !== axes[2], 'gradient and update norms are on separate axes', axes);
    await page.check('#log-y');
    await page.waitForFunction(() => window.__dash.charts['chart-loss'].plot.scales.y.distr === 3 &&
      window.__dash.charts['chart-compare'].plot.scales.y.distr === 3, null, { timeout: WAIT_MS });
    check(true, 'the log-scale toggle puts the loss and compare axes on a log scale');
    const i99 = await page.evaluate(() => [0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999].indexOf(0.99));
    await page.$eval('#smooth', (e, v) => { e.value = String(v); e.dispatchEvent(new Event('input')); }, i99);
    const m99 = await api(base, `/v1/sessions/${sid}/metrics?max_points=1000&smooth=ema&beta=0.99`);
    await page.waitForFunction((v) => window.__dash.curveQuery && window.__dash.curveQuery.endsWith('beta=0.99') &&
      window.__dash.charts['chart-loss'].points === v, m99.steps.length, { timeout: WAIT_MS });
    const l99 = await chartData(page, 'chart-loss');
    check(sameSeries(l99.data[4], m99.loss_smooth) && !sameSeries(l99.data[4], m2.loss_smooth),
      'the smoothing slider at 0.99 draws the API\'s EMA with beta=0.99');

    // 12. Compare: tick three sessions → their curves overlaid and the hparams table.
    const pick = [cfg.sessions[0].id, cfg.sessions[1].id, ...(cfg.real || []).map((r) => r.id)].slice(0, 3);
    for (const id of await page.$$eval('#sessions tbody tr input:checked', (cbs) => cbs.map((c) => c.closest('tr').dataset.id))) {
      await page.uncheck(`#sessions tbody tr[data-id="${id}"] input`);
    }
    for (const id of pick) await page.check(`#sessions tbody tr[data-id="${id}"] input`);
    await page.waitForFunction((n) => {
      const c = window.__dash.charts['chart-compare'];
      return c && c.sessions && c.sessions.length === n && document.querySelectorAll('#hparams tbody tr').length === n;
    }, pick.length, { timeout: WAIT_MS });
    for (const id of pick) {
      const sum = await api(base, `/v1/sessions/${id}/summary`);
      const ses = await api(base, `/v1/sessions/${id}`);
      const row = await page.$eval(`#hparams tbody tr[data-id="${id}"]`, (tr) => Object.fromEntries(
        [...tr.cells].filter((c) => c.dataset.col).map((c) => [c.dataset.col, c.textContent])));
      const near = (t, v) => Math.abs(Number(t) - v) <= 1e-3 * Math.abs(v);
      check(Number(row.steps) === ses.step && near(row['final loss'], ses.last_loss) && near(row['best loss'], sum.best_loss) &&
        near(row.lr, ses.hyperparams.lr), `hparams row of ${id.slice(0, 8)}: lr, steps, final and best loss`, row);
    }
    const head = await page.$$eval('#hparams thead th', (ths) => ths.map((t) => t.textContent));
    check(head.includes('optimizer') && head.includes('lr') && head.includes('best loss'), 'the hparams table has its columns', head);

    // 13. Downloads: the CSV of the loss chart and the JSON of the compare chart are what they draw.
    const grab = async (chart, kind) => {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`button[data-dl="${kind}"][data-chart="${chart}"]`)]);
      return readFileSync(await dl.path(), 'utf8');
    };
    const csv = (await grab('chart-loss', 'csv')).trim().split('\n');
    const cols = csv[0].split(',');
    const rowsCsv = csv.slice(1).map((l) => l.split(',').map((v) => (v === '' ? null : Number(v))));
    const lossNow = await chartData(page, 'chart-loss');
    check(cols[0] === 'step' && cols.includes('loss') && rowsCsv.length === lossNow.points &&
      sameSeries(rowsCsv.map((r) => r[0]), m99.steps) && sameSeries(rowsCsv.map((r) => r[cols.indexOf('loss')]), m99.loss.mean) &&
      sameSeries(rowsCsv.map((r) => r[4]), m99.loss_smooth),
    `the loss CSV has the ${m99.steps.length} steps, losses and EMA the API gives`, csv.slice(0, 3));
    const js = JSON.parse(await grab('chart-compare', 'json'));
    const ccNow = await chartData(page, 'chart-compare');
    check(js.x === 'step' && JSON.stringify(js.sessions) === JSON.stringify(ccNow.sessions.map((s) => s.id)) &&
      Object.keys(js.columns).length === ccNow.data.length &&
      Object.values(js.columns).every((col, i) => sameSeries(col, Array.from(ccNow.data[i], (v) => (v === undefined ? null : v)))),
    'the compare JSON has every overlaid curve as drawn', { keys: Object.keys(js.columns), sessions: js.sessions });

    // 14. Tick labels: short, SI or exponent form, never a long float.
    const ticks = await page.evaluate(() => Object.fromEntries(Object.entries(window.__dash.charts)
      .map(([id, c]) => [id, (c.ticks || []).flat()])));
    const bad = Object.entries(ticks).flatMap(([id, ts]) => ts.filter((t) => t !== '' &&
      !(t.length <= 7 && /^-?\d+(\.\d+)?(e-?\d+)?[kMGTP]?$/.test(t))).map((t) => `${id}: ${t}`));
    check(Object.values(ticks).flat().length > 20 && bad.length === 0, 'every tick label is short (SI or exponent form)', bad);

    // 15. Studies: linked from the nav; the trials table, the best-so-far
    // curve and the value-against-parameter scatter are the API's; hostile
    // names stay text.
    if (cfg.study) {
      const navHref = await page.getAttribute('#nav a[href="#studies-panel"]', 'href').catch(() => null);
      check(navHref === '#studies-panel', 'the nav links the studies panel');
      await page.click('#nav a[href="#studies-panel"]');
      await page.click(`#studies tbody tr[data-id="${cfg.study}"] td.id`);
      const st = await api(base, `/v1/studies/${cfg.study}`);
      const tr = (await api(base, `/v1/studies/${cfg.study}/trials`)).trials;
      await page.waitForFunction((id) => window.__dash.study && window.__dash.study.id === id &&
        window.__dash.charts['chart-study-best'], cfg.study, { timeout: WAIT_MS });
      const name = await page.$eval(`#studies tbody tr[data-id="${cfg.study}"] td.name`, (td) => td.textContent);
      check(name === st.name, 'the study list shows the study\'s name as text', name);
      const rowsT = await page.$$eval('#trials tbody tr', (trs) => trs.map((r) => [...r.children].map((c) => c.textContent)));
      check(rowsT.length === tr.length && rowsT.every((r, i) => r[0] === String(tr[i].trial) && r[1] === tr[i].state),
        `the trials table has the API's ${tr.length} trials and their states`, rowsT);
      const heads = await page.$$eval('#trials thead th', (ths) => ths.map((t) => t.textContent));
      check(JSON.stringify(heads.slice(4)) === JSON.stringify(Object.keys(st.space)), 'its columns are the space\'s parameters', heads);
      const bc = await chartData(page, 'chart-study-best');
      const dir = st.direction === 'maximize' ? -1 : 1;
      let b = null;
      const want = tr.map((t) => { if (t.state === 'complete' && (b === null || dir * t.value < dir * b)) b = t.value; return b; });
      check(bc.points === tr.length && sameSeries(bc.data[2], want) && want[want.length - 1] === st.best.value,
        'the best-so-far curve is the running best of the API\'s trials', { got: bc.data[2], want });
      const sc = await chartData(page, 'chart-study-param');
      const done = tr.filter((t) => t.state === 'complete');
      check(sc.points === done.length && sameSeries([...sc.data[1]].sort(), done.map((t) => t.value).sort()),
        `the scatter has a point per complete trial (${done.length})`, sc);
      const opts = await page.$$eval('#study-param option', (os) => os.map((o) => o.textContent));
      check(JSON.stringify(opts) === JSON.stringify(Object.keys(st.space)), 'the parameter picker lists the space', opts);
      await page.selectOption('#study-param', Object.keys(st.space)[1]);
      await page.waitForFunction((p) => window.__dash.charts['chart-study-param'].meta.param === p,
        Object.keys(st.space)[1], { timeout: WAIT_MS });
      check(true, 'picking another parameter redraws the scatter');
      const injected = await page.evaluate(() => window.__pwned === undefined &&
        document.querySelectorAll('#studies-panel img, #studies-panel b, #studies-panel script').length === 0);
      check(injected, 'hostile study and parameter names are shown as text, never markup');
    }

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
