// Browser tests of the web UI, against the real terrarium binary with a
// catalog seeded through the REST API.  Usage (tests/browser/run.sh does it):
//
//   TERRARIUM_BIN=build/terrarium node tests/browser/ui.test.mjs
//
// Screenshots of every page go to docs/screenshots/ (SCREENSHOTS=dir
// overrides; SCREENSHOTS=none skips them).  Each page's ready time (from
// navigation start to the page's own "ready" mark) is printed.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { makeToken, startServer, stopServer, http, launch, tmpdir, sleep, until, assert, eq } from './lib.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const BIN = path.resolve(ROOT, process.env.TERRARIUM_BIN || 'build/terrarium');
const SHOTS = process.env.SCREENSHOTS === 'none' ? null
  : path.resolve(ROOT, process.env.SCREENSHOTS || 'docs/screenshots');
const HOSTILE = '<img src=x onerror=alert(1)>';

const PG = 'postgres://db.local:5432';
const ID = {
  orders: `dataset:${PG}:shop.public.orders`,
  topic: 'dataset:kafka://broker1:9092:orders',
  load: 'job:airflow://scheduler-host:etl_orders.load_orders',
  revenue: `dataset:${PG}:analytics.public.daily_revenue`,
  rollup: 'job:airflow://scheduler-host:etl_orders.rollup',
  hostile: `dataset:${PG}:${HOSTILE}`,
};

const results = [];
const readyTimes = [];
const problems = []; // page errors, dialogs, CSP violations: any is a failure

async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t0, err: e });
    console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${String(e && e.stack || e).split('\n').slice(0, 6).join('\n     ')}`);
  }
}

function entityUrl(id, tab) {
  const u = new URLSearchParams({ id });
  if (tab) u.set('tab', tab);
  return '/entity?' + u;
}

// Navigate and wait for the page's ready mark; record the time it took.
async function open(page, base, url, name) {
  await page.goto(base + url);
  await page.waitForFunction(() => document.documentElement.dataset.ready, null, { timeout: 10000 });
  const r = await page.evaluate(() => window.__terrariumReady);
  readyTimes.push({ page: name || r.page, url, ms: r.sinceNavigation });
  return r;
}

async function shot(page, name) {
  if (!SHOTS) return;
  await page.evaluate(() => document.activeElement && document.activeElement.blur && document.activeElement.blur());
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

async function seed(base, tok, port) {
  const fields = (n) => Array.from({ length: n }, (_, i) => ({ name: `col_${i}`, type: i % 2 ? 'text' : 'bigint', ordinal: i + 1, description: `column ${i}` }));
  const entities = [
    { kind: 'dataset', namespace: PG, name: 'shop.public.orders', subtype: 'table',
      description: 'One row per **order**, written by the shop.\n\n- keyed by `id`\n- see [the runbook](https://example.com/runbook)\n\n[bad link](javascript:alert(3))',
      tags: ['pii', 'gold'], owners: ['alice'], properties: { rows: 1200345, retention: '2y' },
      fields: [{ name: 'id', type: 'bigint', nullable: false, ordinal: 1, description: 'primary key' },
        { name: 'customer_id', type: 'bigint', ordinal: 2, description: 'who ordered' },
        { name: 'amount', type: 'numeric(12,2)', ordinal: 3, description: 'in *euros*' },
        { name: 'created_at', type: 'timestamptz', ordinal: 4 }] },
    { kind: 'dataset', namespace: 'kafka://broker1:9092', name: 'orders', subtype: 'topic', description: 'Order events.', tags: ['pii'] },
    { kind: 'job', namespace: 'airflow://scheduler-host', name: 'etl_orders.load_orders', subtype: 'task', owners: ['data-eng'] },
    { kind: 'job', namespace: 'airflow://scheduler-host', name: 'etl_orders.rollup', subtype: 'task' },
    { kind: 'dataset', namespace: PG, name: 'analytics.public.daily_revenue', subtype: 'table', fields: fields(3) },
    { kind: 'dataset', namespace: PG, name: HOSTILE, subtype: 'table',
      description: '<script>window.__xss = 1; alert(2)</script> <b onmouseover=alert(4)>bold?</b>',
      tags: ['<i>t</i>'], owners: ['"><svg onload=alert(5)>'],
      fields: [{ name: '<b>x</b>', type: '<img src=y onerror=alert(6)>', description: '<a href="javascript:alert(7)">x</a>' }],
      properties: { '<p>k</p>': '<img src=z onerror=alert(8)>' } },
    { kind: 'service', namespace: `http://127.0.0.1:${port}`, name: 'echo', description: 'The echo service the test runs.',
      properties: { check: { type: 'tcp', host: '127.0.0.1', port, interval: 1 } } },
  ];
  for (let i = 0; i < 45; i++)
    entities.push({ kind: 'dataset', namespace: 'kafka://broker1:9092', name: `orders_part_${String(i).padStart(2, '0')}`, subtype: 'topic' });
  const edges = [
    { src: ID.topic, dst: ID.load }, { src: ID.load, dst: ID.orders },
    { src: ID.orders, dst: ID.rollup }, { src: ID.rollup, dst: ID.revenue },
    { src: ID.hostile, dst: ID.load },
  ];
  const r = await http(base, 'POST', '/api/v1/entities', { source: 'browser-test', entities, edges }, tok);
  eq(r.status, 200, 'seeding the catalog: ' + r.text);
  const fixture = fs.readFileSync(path.resolve(ROOT, '../shared/fixtures/ingest/sample.json'), 'utf8');
  const s1 = await http(base, 'POST', '/api/v1/ingest/samples', fixture, tok);
  eq(s1.status, 201, 'ingest sample');
  const s2 = await http(base, 'POST', '/api/v1/ingest/samples', '{"time_stamp": 3, "data": [1, "x"]}', tok);
  eq(s2.status, 400, 'invalid ingest sample');
  return { sampleId: s1.json.submission_id, rejectedId: s2.json.submission_id };
}

async function main() {
  const tmp = tmpdir('terrarium-ui-');
  const data = path.join(tmp, 'data');
  fs.mkdirSync(path.join(data, 'collectors'), { recursive: true });
  if (SHOTS) fs.mkdirSync(SHOTS, { recursive: true });

  // A TCP service the dashboard checks; the test stops it later.
  const sockets = new Set();
  const echo = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.end(); });
  await new Promise((r) => echo.listen(0, '127.0.0.1', r));
  const port = echo.address().port;

  // A small collector, so the Plugins page and a collector tile have something real.
  fs.writeFileSync(path.join(data, 'collectors', 'demo.lua'), `
log.info("demo collector run", { things = 3 })
log.warn("a warning line from the demo collector")
emit.service({ namespace = "http://127.0.0.1:" .. config.port, name = "demo-api", description = "Seen by the demo collector." })
tile{ status = "up", title = "Demo collector", description = "3 things seen", numbers = { things = 3, version = "1.0" } }
metric("things", 3)
`);
  const config = path.join(tmp, 'terrarium.lua');
  fs.writeFileSync(config, `
services = {
  { name = "Echo TCP", group = "Infrastructure", icon = "tcp", description = "A TCP listener the browser test controls",
    href = "http://127.0.0.1:${port}/", check = { type = "tcp", host = "127.0.0.1", port = ${port}, interval = 1, timeout = 1 } },
  { name = "Docs", group = "Infrastructure", icon = "http", description = "A link tile, no check", href = "https://example.com/docs" },
}
bookmarks = {
  { group = "Team", name = "Runbook", href = "https://example.com/runbook", description = "What to do at 3 am" },
  { group = "Team", name = "Orders table", href = "/search?q=shop.public.orders", icon = "postgres" },
}
lineage = { hop_cap = 1 }  -- small, so the "left out" note shows
plugins = {
  demo = { interval = 3600, port = ${port} },
  ingest = {},
}
`);

  let srv = null, ctx = null;
  const t0 = Date.now();
  try {
    const tok = makeToken(BIN, data, 'admin');
    srv = await startServer(BIN, data, config);
    const base = srv.base;
    const ids = await seed(base, tok, port);
    // The collector ran at start (or runs now); wait for its first run.
    await until(async () => {
      const r = await http(base, 'GET', '/api/v1/plugins/demo/runs?limit=1');
      return r.json && r.json.runs && r.json.runs.length && r.json.runs[0].status !== 'running';
    }, 20000, 'the demo collector to run');
    console.log(`# server ${base}, seeded in ${Date.now() - t0} ms`);

    ctx = await launch(path.join(tmp, 'chrome'));
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(10000);
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('dialog', (d) => { problems.push('dialog opened: ' + d.message()); d.dismiss().catch(() => {}); });
    page.on('console', (m) => {
      const t = m.text();
      if (/Content Security Policy|Refused to/i.test(t)) problems.push('CSP: ' + t);
      else if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|404|409)/.test(t))
        problems.push('console error: ' + t);
    });

    await test('the UI is served with a Content-Security-Policy without inline scripts', async () => {
      const r = await http(base, 'GET', '/');
      const csp = r.headers.get('content-security-policy') || '';
      assert(/script-src 'self'/.test(csp) && !/unsafe-inline|unsafe-eval/.test(csp), 'CSP: ' + csp);
      assert(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(r.text), 'index.html has an inline script');
      assert(!/\son[a-z]+=/i.test(r.text), 'index.html has an inline event handler');
      const deep = await http(base, 'GET', entityUrl(ID.orders));
      eq(deep.status, 200, 'a deep link to an entity serves the UI');
    });

    await test('search as you type from the header and open an entity with the keyboard', async () => {
      await open(page, base, '/', 'home');
      await page.locator('#qs').click();
      await page.keyboard.type('shop.public.ord', { delay: 15 });
      const opt = page.locator('#qs-list [role=option]', { hasText: 'shop.public.orders' }).first();
      await opt.waitFor();
      eq(await opt.locator('mark').count() > 0, true, 'the match is highlighted');
      // Arrow down to the hit, Enter opens it.
      const opts = await page.locator('#qs-list [role=option]').allTextContents();
      const idx = opts.findIndex((t) => t.includes('shop.public.orders'));
      for (let i = 0; i <= idx; i++) await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'entity');
      eq(new URL(page.url()).searchParams.get('id'), ID.orders, 'the URL names the entity');
      eq(await page.locator('h1#entity-name').textContent(), 'shop.public.orders', 'the entity page title');
      // Schema tab: fields with types, filterable.
      eq(await page.locator('#tab-panel tbody tr').count(), 4, 'four fields');
      await page.fill('#field-filter', 'amount');
      eq(await page.locator('#tab-panel tbody tr').count(), 1, 'the filter keeps one field');
      eq(await page.locator('#tab-panel tbody tr td').nth(1).textContent(), 'numeric(12,2)', 'its type');
      // Markdown: emphasis, list, http link; the javascript: link stays text.
      eq(await page.locator('.desc strong').first().textContent(), 'order', 'bold');
      eq(await page.locator('.desc a[href="https://example.com/runbook"]').count(), 1, 'http link');
      eq(await page.locator('.desc a[href^="javascript"]').count(), 0, 'no javascript: link');
      assert((await page.locator('.desc').textContent()).includes('bad link'), 'the refused link stays as text');
      await shot(page, 'entity');
      // Tabs by keyboard: properties, history, json.
      await page.locator('#tab-schema').focus();
      await page.keyboard.press('ArrowRight');
      await page.locator('#tab-panel', { hasText: 'retention' }).waitFor();
      assert(page.url().includes('tab=properties'), 'the tab is in the URL');
      await page.click('#tab-history');
      await page.locator('#tab-panel .history li').first().waitFor();
      await page.click('#tab-json');
      assert((await page.locator('#tab-panel pre.json').textContent()).includes('"customer_id"'), 'raw JSON');
    });

    await test('the search page: highlights, facets, paging, back button, j/k and Enter', async () => {
      await open(page, base, '/search?q=orders', 'search');
      const names = await page.locator('.hits a.hit-name').allTextContents();
      assert(names.includes('orders') && names.includes('shop.public.orders'), 'hits: ' + names.slice(0, 5));
      assert(await page.locator('.hits mark').count() > 0, 'highlighted matches');
      assert(await page.locator('.hit-icons svg.icon-kafka').count() > 0, 'platform icons');
      await shot(page, 'search');
      // Paging: 20 per page.
      eq(await page.locator('.hits > li').count(), 20, 'first page');
      await page.click('.pager button:has-text("Next")');
      await page.waitForURL(/offset=20/);
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'search');
      eq(await page.locator('.hits').getAttribute('start'), '21', 'second page numbering');
      await page.goBack();
      await page.waitForFunction(() => !location.search.includes('offset'));
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'search');
      // Facet toggle: kind = job.
      await page.click('.facet-btn[data-facet="kind"][data-value="job"]');
      await page.waitForURL(/kind=job/);
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'search');
      const kinds = await page.locator('.hit-meta .badge').allTextContents();
      assert(kinds.length > 0 && kinds.every((k) => k.startsWith('job') || !k.includes('/')), 'only jobs: ' + kinds);
      eq(await page.locator('.facet-btn[data-facet="kind"][data-value="job"]').getAttribute('aria-pressed'), 'true', 'the facet shows on');
      await page.goBack();
      await page.waitForFunction(() => !location.search.includes('kind='));
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'search');
      assert(await page.locator('.hits > li').count() === 20, 'back to all kinds');
      // A shared URL restores the state.
      await open(page, base, '/search?q=etl_orders&kind=job', 'search');
      eq(await page.inputValue('#search-q'), 'etl_orders', 'the query box from the URL');
      eq(await page.locator('.hits > li').count(), 2, 'two jobs');
      // Keyboard: j moves to the first hit, Enter opens it.
      await page.locator('h1').first().evaluate((e) => e.closest('main').focus());
      await page.keyboard.press('j');
      const focused = await page.evaluate(() => document.activeElement.textContent);
      assert(focused.includes('etl_orders'), 'j focuses a hit: ' + focused);
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'entity');
      assert(new URL(page.url()).searchParams.get('id').startsWith('job:'), 'opened a job');
    });

    await test('click a lineage node and land on its page', async () => {
      await open(page, base, '/lineage?' + new URLSearchParams({ id: ID.orders }), 'lineage');
      const svg = page.locator('.graph-stage svg');
      await svg.waitFor();
      eq(await page.locator('.graph-stage svg script').count(), 0, 'no script in the SVG');
      // The current node is highlighted.
      eq(await page.locator('.graph-stage .node.root a').getAttribute('aria-current'), 'page', 'root marked current');
      // hop_cap = 1: of the two inputs of the load job, one is left out.
      const note = await page.locator('.graph-note').textContent();
      assert(note.includes('5 nodes') && note.includes('1 more node was left out by the per-hop cap'), note);
      // Zoom with the buttons changes the view box; Fit restores it.
      const vb0 = await svg.getAttribute('viewBox');
      await page.click('button[aria-label="Zoom in"]');
      assert(await svg.getAttribute('viewBox') !== vb0, 'zoom in changes the view');
      await page.click('.graph-controls button:has-text("Fit")');
      eq(await svg.getAttribute('viewBox'), vb0, 'fit restores the view');
      // Drag pans without opening a node.
      const box = await page.locator('.graph-stage').boundingBox();
      await page.mouse.move(box.x + 20, box.y + 20);
      await page.mouse.down();
      await page.mouse.move(box.x + 120, box.y + 60, { steps: 5 });
      await page.mouse.up();
      assert(await svg.getAttribute('viewBox') !== vb0, 'drag pans');
      assert(page.url().includes('/lineage'), 'a drag opens nothing');
      await page.click('.graph-controls button:has-text("Fit")');
      await shot(page, 'lineage');
      // Direction upstream: the downstream rollup disappears.
      await page.selectOption('#lg-dir-p', 'upstream');
      await page.waitForFunction(() => document.querySelector('.graph-note').textContent.includes('3 nodes'));
      assert(page.url().includes('direction=upstream'), 'direction in the URL');
      // Download DOT goes through fetch with the token header.
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click('button:has-text("Download DOT")')]);
      eq(dl.suggestedFilename(), 'lineage.dot', 'DOT download');
      assert(fs.readFileSync(await dl.path(), 'utf8').includes('digraph'), 'the DOT text');
      // Click the job node: its entity page opens.
      await page.locator(`.graph-stage a[data-id="${ID.load}"]`).click();
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'entity');
      eq(new URL(page.url()).searchParams.get('id'), ID.load, 'the clicked node is open');
      eq(await page.locator('h1#entity-name').textContent(), 'etl_orders.load_orders', 'its title');
      // And the inline graph of the entity page works the same way.
      await page.click('#tab-lineage');
      const node = page.locator(`#tab-panel .graph-stage a[data-id="${ID.rollup}"]`);
      await node.waitFor();
      await node.click();
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'entity' && location.search.includes('rollup'));
      await page.goBack();
      await page.waitForFunction(() => new URLSearchParams(location.search).get('tab') === 'lineage');
    });

    await test('a hostile name is rendered as text everywhere, and no dialog opens', async () => {
      await open(page, base, '/search?q=onerror', 'search');
      const link = page.locator('.hits a.hit-name').first();
      eq(await link.textContent(), HOSTILE, 'the hit shows the name as text');
      eq(await page.locator('main img').count(), 0, 'no <img> in the results');
      await link.click();
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'entity');
      eq(await page.locator('h1#entity-name').textContent(), HOSTILE, 'the title shows it as text');
      assert((await page.locator('.desc').textContent()).includes('<script>window.__xss = 1'), 'the description shows the tag as text');
      eq(await page.locator('main img, main script, main b, main iframe').count(), 0, 'no element made from catalog text');
      eq(await page.locator('#tab-panel td.mono').first().textContent(), '<b>x</b>', 'the field name as text');
      await page.click('#tab-properties');
      await page.locator('#tab-panel', { hasText: '<img src=z onerror=alert(8)>' }).waitFor();
      await page.click('#tab-lineage');
      await page.locator('#tab-panel .graph-stage svg').waitFor();
      await shot(page, 'entity-hostile');
      // The quick search too.
      await page.fill('#qs', 'onerror');
      await page.locator('#qs-list [role=option]').first().waitFor();
      eq(await page.locator('#qs-list img').count(), 0, 'no <img> in the suggestions');
      await page.keyboard.press('Escape');
      await sleep(300); // a dialog would have fired by now
      eq(await page.evaluate(() => window.__xss), undefined, 'no injected script ran');
      assert(!problems.some((p) => p.startsWith('dialog')), 'a dialog opened: ' + problems.join('; '));
    });

    await test('edit a description, tags and owners with a token; kept after a reload', async () => {
      await open(page, base, entityUrl(ID.revenue), 'entity');
      eq(await page.locator('#edit-btn').count(), 0, 'no Edit button without a token');
      // Enter the token in the header form.
      await page.click('#token-btn');
      await page.fill('#token-input', tok);
      await page.click('#token-panel button[type=submit]');
      await page.locator('#token-btn.has-token').waitFor();
      await page.locator('#edit-btn').waitFor();
      await page.click('#edit-btn');
      await page.fill('#edit-desc', 'Revenue per day, **edited** in the browser test.');
      await page.fill('#edit-tags', 'finance, daily');
      await page.fill('#edit-owners', 'bob');
      await page.click('#edit-save');
      await page.locator('.desc strong', { hasText: 'edited' }).waitFor();
      await page.reload();
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'entity');
      eq(await page.locator('.desc').textContent(), 'Revenue per day, edited in the browser test.', 'kept after reload');
      const chips = await page.locator('.ent-facts .chip').allTextContents();
      assert(chips.includes('finance') && chips.includes('daily') && chips.includes('bob'), 'tags and owners: ' + chips);
      // The token survived the reload (sessionStorage) and the API agrees.
      const r = await http(base, 'GET', '/api/v1/entities/' + encodeURIComponent(ID.revenue));
      eq(r.json.description, 'Revenue per day, **edited** in the browser test.', 'the stored description');
      await shot(page, 'entity-edited');
    });

    await test('add a service entity to the dashboard', async () => {
      const sid = `service:http://127.0.0.1:${port}:echo`;
      await open(page, base, entityUrl(sid), 'entity');
      await page.click('#add-dash-btn');
      await page.locator('#flash', { hasText: 'Added' }).waitFor();
      await open(page, base, '/', 'home');
      const tile = page.locator('article.tile[data-service="echo"]');
      await tile.waitFor();
      assert((await tile.textContent()).includes('discovered'), 'the tile says where it came from');
    });

    await test("stop a service's server and see its tile go down, without a reload", async () => {
      await open(page, base, '/?refresh=2', 'home');
      const tile = page.locator('article.tile[data-service="Echo TCP"]');
      await until(async () => (await tile.getAttribute('data-status')) === 'up', 15000, 'the tile to be up');
      assert(/\d/.test(await tile.locator('.facts').textContent()), 'latency shown');
      assert(await tile.locator('svg.spark rect').count() > 0, 'a history sparkline');
      eq(await page.locator('article.tile[data-plugin="demo"] .numbers').count(), 1, "the collector's numbers");
      eq(await page.locator('.bookmarks a.bm').count(), 2, 'bookmarks');
      await shot(page, 'home');
      await page.evaluate(() => { window.__sameDocument = true; });
      await new Promise((r) => { echo.close(r); for (const s of sockets) s.destroy(); });
      await until(async () => (await tile.getAttribute('data-status')) === 'down', 20000, 'the tile to go down');
      eq(await page.evaluate(() => window.__sameDocument), true, 'the page refreshed itself');
      assert((await tile.textContent()).includes('down'), 'the word down is shown, not only a colour');
    });

    await test('plugins: collector state, run now with a token, run history with logs', async () => {
      await open(page, base, '/plugins', 'plugins');
      const row = page.locator('tr[data-collector="demo"]');
      await row.waitFor();
      assert((await row.textContent()).includes('ok'), 'status ok: ' + await row.textContent());
      await shot(page, 'plugins');
      const before = (await http(base, 'GET', '/api/v1/plugins/demo/runs?limit=50')).json.runs.length;
      await row.locator('button[data-run="demo"]').click();
      await page.locator('#flash', { hasText: 'queued' }).waitFor();
      await until(async () => (await http(base, 'GET', '/api/v1/plugins/demo/runs?limit=50')).json.runs.length > before, 20000, 'a new run');
      await page.click('a[href="/plugins/demo"]');
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'plugin');
      await page.locator('.runs details[open] pre.log', { hasText: 'demo collector run' }).waitFor();
      await shot(page, 'plugin-runs');
    });

    await test('ingest: a token prompt without one; stats, results, a sample and its raw bytes with one', async () => {
      await page.evaluate(() => sessionStorage.removeItem('terrarium.token'));
      await open(page, base, '/ingest', 'ingest');
      assert((await page.locator('.notice').textContent()).includes("scope 'ingest'"), 'asks for a token');
      await page.evaluate((t) => sessionStorage.setItem('terrarium.token', t), tok);
      await open(page, base, '/ingest', 'ingest');
      await page.locator('dd[data-total="processed"]', { hasText: '1' }).waitFor();
      eq(await page.locator('dd[data-total="rejected"]').textContent(), '1', 'one rejected');
      await page.locator(`a[href="/ingest/${ids.sampleId}"]`).waitFor();
      await shot(page, 'ingest');
      await page.click(`a[href="/ingest/${ids.sampleId}"]`);
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'sample');
      assert((await page.locator('.result').textContent()).includes('0.998528251756603'), 'the mean');
      await page.locator('pre.raw', { hasText: 'time_stamp' }).waitFor();
      await shot(page, 'ingest-sample');
      await open(page, base, '/ingest/' + ids.rejectedId, 'sample');
      assert((await page.locator('ul.errors').textContent()).includes('time_stamp: expected a string'), 'the errors');
      await page.locator('pre.raw', { hasText: '"data": [1, "x"]' }).waitFor();
    });

    await test('dark theme, and a 375 px wide phone', async () => {
      await open(page, base, '/', 'home');
      await page.click('#theme-btn');
      eq(await page.evaluate(() => document.documentElement.dataset.theme), 'dark', 'toggle to dark');
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      eq(bg, 'rgb(15, 20, 25)', 'dark background');
      await shot(page, 'home-dark');
      await open(page, base, entityUrl(ID.orders), 'entity');
      await shot(page, 'entity-dark');
      await open(page, base, '/lineage?' + new URLSearchParams({ id: ID.orders }), 'lineage');
      await shot(page, 'lineage-dark');
      await page.click('#theme-btn'); // back to light
      eq(await page.evaluate(() => document.documentElement.dataset.theme), 'light', 'toggle to light');
      await page.setViewportSize({ width: 375, height: 740 });
      for (const [name, url] of [['home', '/'], ['search', '/search?q=orders'], ['entity', entityUrl(ID.orders)],
        ['lineage', '/lineage?' + new URLSearchParams({ id: ID.orders })], ['plugins', '/plugins'], ['ingest', '/ingest']]) {
        await open(page, base, url, name);
        const w = await page.evaluate(() => document.documentElement.scrollWidth);
        assert(w <= 375, `${name}: the page is ${w} px wide at 375 px`);
        if (['home', 'search', 'entity'].includes(name)) await shot(page, name + '-375');
      }
      await page.setViewportSize({ width: 1280, height: 800 });
    });

    await test('every control on the home and entity pages has an accessible name', async () => {
      for (const url of ['/', entityUrl(ID.orders), '/search?q=orders']) {
        await open(page, base, url);
        const unnamed = await page.evaluate(() => [...document.querySelectorAll('button, input, select, textarea, a[href]')]
          .filter((el) => !el.hidden && el.offsetParent !== null)
          .filter((el) => {
            const label = el.getAttribute('aria-label') || (el.id && document.querySelector(`label[for="${el.id}"]`)) ||
              el.closest('label') || (el.textContent || '').trim() || el.getAttribute('title');
            return !label;
          }).map((el) => el.outerHTML.slice(0, 80)));
        eq(unnamed.length, 0, `${url}: unnamed controls ${unnamed.join(' | ')}`);
      }
    });

    await test('no page error, console error or CSP violation during the run', async () => {
      eq(problems.length, 0, problems.join('\n'));
    });
  } catch (e) {
    results.push({ name: 'setup', ok: false, err: e });
    console.log('FAIL setup: ' + (e && e.stack || e));
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    const exit = await stopServer(srv).catch(() => null);
    if (srv) {
      // The server must stop cleanly, and under sanitizers report nothing.
      const log = fs.readFileSync(srv.logPath, 'utf8');
      const bad = log.match(/ERROR: (Address|Leak)Sanitizer.*|runtime error:.*/);
      const ok = !bad && !!exit && exit.code === 0;
      results.push({ name: 'the server stops cleanly', ok });
      console.log(ok ? 'ok   the server stops cleanly'
        : `FAIL the server stops cleanly: ${bad ? bad[0] : 'exit ' + JSON.stringify(exit)}`);
    }
    echo.close();
    for (const s of sockets) s.destroy();
    if (results.some((r) => !r.ok) && srv) {
      console.log('# server log (tail):');
      console.log(fs.readFileSync(srv.logPath, 'utf8').split('\n').slice(-30).join('\n'));
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  console.log('# page ready times (navigation start to the page\'s ready mark), ms:');
  const by = new Map();
  for (const r of readyTimes) {
    if (!by.has(r.page)) by.set(r.page, []);
    by.get(r.page).push(r.ms);
  }
  for (const [p, list] of by) {
    list.sort((a, b) => a - b);
    console.log(`#   ${p.padEnd(8)} n=${String(list.length).padStart(2)}  median ${list[list.length >> 1].toFixed(0).padStart(4)}  max ${list[list.length - 1].toFixed(0).padStart(4)}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`# ${results.length - failed} passed, ${failed} failed, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exitCode = failed ? 1 : 0;
}

main();
