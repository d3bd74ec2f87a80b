// Ingest: /ingest shows the pipeline's stats and recent results;
// /ingest/<submission id> one submission, its result and its raw bytes.
// Every ingest route needs a token of scope ingest or admin.
import { h, clear, api, qs, token, fmtNum, fmtMs, fmtBytes, timeEl, statusBadge, errorBox, ready, ApiError, fill, add } from './core.js';

const RAW_SHOWN = 256 * 1024;

function needToken(main, e) {
  const ask = h('button', { type: 'button', class: 'btn primary', on: { click: () => document.dispatchEvent(new CustomEvent('asktoken')) } }, 'Enter a token');
  add(main, h('div', { class: 'notice', role: 'alert' },
    h('p', null, e && e.status === 403
      ? "The token in use may not read the ingest pipeline (403). Its routes need a token of scope 'ingest' or 'admin'."
      : e && e.status === 401 && token() ? 'The token was refused (401). The ingest routes need a valid token of scope \'ingest\' or \'admin\'.'
        : "The ingest pipeline's routes need a token of scope 'ingest' or 'admin'."),
    h('p', { class: 'muted small' }, 'Make one with ', h('code', null, 'terrarium token create --scope ingest'), '.'),
    ask));
}

export async function render(ctx) {
  if (ctx.page === 'sample') return renderSample(ctx);
  const { main, signal, query } = ctx;
  document.title = 'Ingest · Terrarium';
  fill(main, h('div', { class: 'page-head' }, h('h1', null, 'Ingest pipeline')));
  if (!token()) { needToken(main); ready('ingest'); return; }
  const offset = Math.max(0, parseInt(query.get('offset') || '0', 10) || 0);
  const LIMIT = 20;
  const statsBox = h('div', { class: 'stats' });
  const lookup = h('input', { id: 'sample-id', type: 'text', placeholder: 'submission id (uuid)', autocomplete: 'off', spellcheck: 'false' });
  const results = h('div');
  add(main, statsBox,
    h('form', { class: 'row lookup', on: { submit: (ev) => {
      ev.preventDefault();
      const v = lookup.value.trim();
      if (v) ctx.navigate('/ingest/' + encodeURIComponent(v));
    } } }, h('label', { for: 'sample-id' }, 'Open a submission '), lookup, h('button', { type: 'submit', class: 'btn' }, 'Open')),
    h('h2', null, 'Recent results'), results);
  let timer = 0;
  signal.addEventListener('abort', () => clearTimeout(timer));
  let first = true;
  const load = async () => {
    clearTimeout(timer);
    let st, res;
    try {
      [st, res] = await Promise.all([api('/api/v1/ingest/stats', { signal }),
        api('/api/v1/ingest/results' + qs({ limit: LIMIT, offset }), { signal })]);
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) { clear(main); needToken(main, e); }
      else if (first) fill(statsBox, errorBox(e, 'the ingest stats'));
      if (first) { first = false; ready('ingest'); }
      return;
    }
    if (signal.aborted) return;
    drawStats(statsBox, st);
    fill(results, res.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ['Submission', 'Received', 'Latency', 'Sample time (UTC)', 'Mean', 'Std dev', 'Count'].map((c, i) => h('th', { scope: 'col', class: i >= 4 ? 'num' : null }, c)))),
      h('tbody', null, res.map((r) => h('tr', null,
        h('td', { class: 'mono' }, h('a', { href: '/ingest/' + encodeURIComponent(r.submission_id) }, r.submission_id.slice(0, 8) + '…')),
        h('td', null, timeEl(r.received_at)),
        h('td', null, fmtMs(Date.parse(r.processed_at) - Date.parse(r.received_at))),
        h('td', { class: 'mono' }, r.result ? r.result.time_stamp_utc : ''),
        h('td', { class: 'num' }, r.result ? fmtNum(r.result.mean) : ''),
        h('td', { class: 'num' }, r.result ? fmtNum(r.result.standard_deviation) : ''),
        h('td', { class: 'num' }, r.result ? fmtNum(r.result.count) : ''))))))
      : h('p', { class: 'muted' }, offset ? 'No more results.' : 'No processed samples yet.'),
    h('nav', { class: 'pager', 'aria-label': 'Result pages' },
      offset ? h('a', { class: 'btn', href: '/ingest' + qs({ offset: Math.max(0, offset - LIMIT) || '' }) }, '← Newer') : null,
      res.length === LIMIT ? h('a', { class: 'btn', href: '/ingest' + qs({ offset: offset + LIMIT }) }, 'Older →') : null));
    if (first) { first = false; ready('ingest'); }
    if (!document.hidden) timer = setTimeout(load, 5000);
  };
  await load();
}

function card(label, value, sub) {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value),
    sub ? h('div', { class: 'stat-sub muted small' }, sub) : null);
}

function drawStats(box, st) {
  const rate = st.rates_per_second || {};
  const lat = st.latency_ms || {};
  const e2e = lat.end_to_end || {}, ack = lat.acknowledge || {};
  const tot = st.totals || {};
  const ss = st.since_start || {};
  const r = (v) => (typeof v === 'number' ? fmtNum(Math.round(v * 100) / 100) + '/s' : '–');
  fill(box, 
    h('div', { class: 'stat-grid' },
      card('Submitted', r(rate.submitted_1m), `1 min · ${r(rate.submitted_5m)} over 5 min`),
      card('Processed', r(rate.processed_1m), `1 min · ${r(rate.processed_5m)} over 5 min`),
      card('Queue depth', fmtNum(st.queue_depth ?? 0), st.store_failed ? 'store failed: writes stopped' : 'waiting for the processor'),
      card('End-to-end p50 / p99', `${fmtMs(e2e.p50)} / ${fmtMs(e2e.p99)}`, `p90 ${fmtMs(e2e.p90)} · p99.9 ${fmtMs(e2e.p999)} · ${fmtNum(e2e.samples || 0)} samples`),
      card('Acknowledge p50 / p99', `${fmtMs(ack.p50)} / ${fmtMs(ack.p99)}`, `p90 ${fmtMs(ack.p90)} · p99.9 ${fmtMs(ack.p999)}`),
      card('Stored', fmtBytes(st.bytes_stored), `${fmtNum(st.segments || 0)} segment(s) · raw ${fmtBytes(st.raw_bytes)}`)),
    h('h2', null, 'Totals'),
    h('dl', { class: 'ent-facts totals' },
      ['processed', 'accepted', 'rejected', 'failed'].map((k) => h('div', null, h('dt', null, k), h('dd', { dataset: { total: k } }, fmtNum(tot[k] ?? 0)))),
      h('div', null, h('dt', null, 'since start'), h('dd', null,
        `${fmtNum(ss.accepted ?? 0)} accepted, ${fmtNum(ss.rejected ?? 0)} rejected, ${fmtNum(ss.too_large ?? 0)} too large, ${fmtBytes(ss.bytes_received)} received`)),
      h('div', null, h('dt', null, 'settings'), h('dd', null, `zone ${st.zone || '?'} · max body ${fmtBytes(st.max_body)} · retention ${st.retention_days ? st.retention_days + ' days' : 'forever'}`))));
}

async function renderSample(ctx) {
  const { main, param: id, signal } = ctx;
  document.title = 'Submission ' + id + ' · Terrarium';
  fill(main, h('nav', { class: 'crumbs' }, h('a', { href: '/ingest' }, 'Ingest'), ' / '),
    h('h1', { class: 'wrap' }, 'Submission ', h('span', { class: 'mono' }, id)));
  if (!token()) { needToken(main); ready('sample'); return; }
  let sm;
  try {
    sm = await api('/api/v1/ingest/samples/' + encodeURIComponent(id), { signal });
  } catch (e) {
    if (signal.aborted) return;
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) needToken(main, e);
    else add(main, errorBox(e, 'the submission'));
    ready('sample');
    return;
  }
  const res = sm.result;
  const rawBox = h('pre', { class: 'raw', tabindex: '0', 'aria-label': 'Raw bytes' });
  const rawNote = h('p', { class: 'muted small' });
  add(main, 
    h('dl', { class: 'ent-facts' },
      f('Status', statusBadge(sm.status)), f('Received', timeEl(sm.received_at)),
      f('Processed', sm.processed_at ? timeEl(sm.processed_at) : '–'), f('Size', fmtBytes(sm.size))),
    h('h2', null, 'Result'),
    res ? h('dl', { class: 'ent-facts result' },
      f('Time stamp (UTC)', h('span', { class: 'mono' }, res.time_stamp_utc)), f('Mean', String(res.mean)),
      f('Standard deviation', String(res.standard_deviation)), f('Count', fmtNum(res.count)))
      : h('p', { class: 'muted' }, sm.status === 'accepted' ? 'Waiting for the processor.' : 'No result.'),
    (sm.errors || []).length ? [h('h2', null, 'Errors'), h('ul', { class: 'errors' }, sm.errors.map((x) => h('li', null, x)))] : null,
    h('h2', null, 'Raw'),
    rawNote, rawBox,
    h('details', null, h('summary', null, 'The submission as JSON'), h('pre', { class: 'json' }, JSON.stringify(sm, null, 2))));
  ready('sample');
  try {
    const resp = await api('/api/v1/ingest/samples/' + encodeURIComponent(id) + '/raw', { raw: true, signal });
    // Read at most RAW_SHOWN bytes, then drop the rest of the stream.
    const reader = resp.body.getReader();
    const chunks = [];
    let got = 0, cut = false;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      got += value.length;
      if (got >= RAW_SHOWN) { cut = got > RAW_SHOWN || !(await reader.read()).done; reader.cancel(); break; }
    }
    const bytes = new Uint8Array(Math.min(got, RAW_SHOWN));
    let at = 0;
    for (const c of chunks) { const n = Math.min(c.length, bytes.length - at); bytes.set(c.subarray(0, n), at); at += n; }
    rawBox.textContent = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    const size = Number(resp.headers.get('Content-Length')) || sm.size;
    rawNote.textContent = `${resp.headers.get('Content-Type') || 'no content type'} · ${fmtBytes(size)}` +
      (cut ? ` · first ${fmtBytes(RAW_SHOWN)} shown` : '');
  } catch (e) {
    if (!signal.aborted) rawBox.replaceWith(errorBox(e, 'the raw bytes') || '');
  }
}

function f(k, v) {
  return h('div', null, h('dt', null, k), h('dd', null, v));
}
