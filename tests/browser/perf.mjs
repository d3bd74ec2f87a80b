// Page ready times of the UI against a big catalog (a figure, not a test).
//
//   TERRARIUM_BIN=build/terrarium TERRARIUM_UI_PERF_DATA=DIR node tests/browser/perf.mjs
//
// DIR holds a catalog.db, for example the 1,000,000-entity catalog that
// tests/bench/run.sh builds (/tmp/terrarium-bench/catalog-*/data); use a
// copy, since serving it may migrate it and adds a token.  Every page is
// opened once to warm up, then RUNS times (default 7); printed: the median
// and the maximum time from navigation start to the page's ready mark.
import path from 'node:path';
import fs from 'node:fs';
import { makeToken, startServer, stopServer, http, launch, tmpdir } from './lib.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const BIN = path.resolve(ROOT, process.env.TERRARIUM_BIN || 'build/terrarium');
const DATA = process.env.TERRARIUM_UI_PERF_DATA;
const RUNS = Number(process.env.RUNS) || 7;
if (!DATA || !fs.existsSync(path.join(DATA, 'catalog.db'))) {
  console.error('perf: set TERRARIUM_UI_PERF_DATA to a directory with a catalog.db');
  process.exit(2);
}

const tmp = tmpdir('terrarium-ui-perf-');
let srv = null, ctx = null;
try {
  const tok = makeToken(BIN, DATA, 'admin');
  srv = await startServer(BIN, DATA, null);
  const base = srv.base;
  const newest = (await http(base, 'GET', '/api/v1/search?limit=1')).json;
  const total = (await http(base, 'GET', '/api/v1/search?q=orders&limit=1')).json;
  const withEdges = (await http(base, 'GET', '/api/v1/search?q=orders&kind=job&limit=1')).json.hits[0] || newest.hits[0];
  const id = process.env.ENTITY || withEdges.id;
  console.log(`# ${base}: newest entity ${newest.hits[0].id}; "orders" matches ${total.total}${total.total_capped ? '+' : ''}`);
  ctx = await launch(path.join(tmp, 'chrome'));
  const page = ctx.pages()[0] || await ctx.newPage();
  await page.goto(base + '/');
  await page.evaluate((t) => sessionStorage.setItem('terrarium.token', t), tok);
  const pages = [
    ['home', '/'],
    ['search (no query)', '/search'],
    ['search "orders"', '/search?q=orders'],
    ['search "orders" kind=job', '/search?q=orders&kind=job'],
    ['entity', '/entity?' + new URLSearchParams({ id })],
    ['entity lineage tab', '/entity?' + new URLSearchParams({ id, tab: 'lineage' })],
    ['lineage depth 3', '/lineage?' + new URLSearchParams({ id })],
    ['plugins', '/plugins'],
    ['ingest', '/ingest'],
  ];
  console.log(`# entity: ${id}`);
  console.log('# page                        median ms   max ms   (navigation start to ready, ' + RUNS + ' runs after a warm-up)');
  for (const [name, url] of pages) {
    const times = [];
    for (let i = 0; i <= RUNS; i++) {
      await page.goto(base + url);
      await page.waitForFunction(() => document.documentElement.dataset.ready, null, { timeout: 30000 });
      // A tab's graph is ready when its picture is in.
      if (url.includes('tab=lineage'))
        await page.waitForSelector('#tab-panel .graph-stage svg, #tab-panel .error', { timeout: 30000 });
      const t = await page.evaluate(() => (document.querySelector('#tab-panel .graph-stage svg')
        ? performance.now() : window.__terrariumReady.sinceNavigation));
      if (i) times.push(t);
    }
    times.sort((a, b) => a - b);
    console.log(`  ${name.padEnd(28)} ${times[times.length >> 1].toFixed(0).padStart(9)} ${times[times.length - 1].toFixed(0).padStart(8)}`);
  }
} finally {
  if (ctx) await ctx.close().catch(() => {});
  await stopServer(srv).catch(() => {});
  fs.rmSync(tmp, { recursive: true, force: true });
}
