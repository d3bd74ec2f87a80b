// Plugins: /plugins lists native plugins and Lua collectors with their state;
// /plugins/<name> shows a collector's runs with their logs.  "Run now" needs
// a token of scope write.
import { h, api, qs, icon, token, fmtMs, fmtNum, timeEl, statusBadge, errorBox, ready, flash, fill } from './core.js';

export async function render(ctx) {
  if (ctx.page === 'plugin') return renderOne(ctx);
  const { main, signal } = ctx;
  document.title = 'Plugins · Terrarium';
  const body = h('div');
  fill(main, h('div', { class: 'page-head' }, h('h1', null, 'Plugins')), body);
  let timer = 0;
  signal.addEventListener('abort', () => clearTimeout(timer));
  let first = true;
  const load = async () => {
    clearTimeout(timer);
    let r;
    try {
      r = await api('/api/v1/plugins', { signal });
    } catch (e) {
      if (!signal.aborted && first) fill(body, errorBox(e, 'the plugins'));
      if (first) { first = false; ready('plugins'); }
      return;
    }
    if (signal.aborted) return;
    const list = r.plugins || [];
    const collectors = list.filter((p) => p.type === 'collector');
    const natives = list.filter((p) => p.type !== 'collector');
    fill(body, 
      h('section', { 'aria-labelledby': 'col-h' }, h('h2', { id: 'col-h' }, 'Collectors'),
        collectors.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'grid plugins' },
          h('thead', null, h('tr', null, ['Collector', 'Status', 'Last run', 'Duration', 'Counts', 'Last error', 'Next run', ''].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', null, collectors.map((p) => h('tr', { dataset: { collector: p.name } },
            h('td', null, h('a', { href: '/plugins/' + encodeURIComponent(p.name) }, p.name),
              h('div', { class: 'muted small' }, `every ${fmtInterval(p.interval_s)} · ${fmtNum(p.runs || 0)} runs`)),
            h('td', null, statusBadge(p.queued && p.status !== 'running' ? 'queued' : p.status),
              p.failures ? h('div', { class: 'muted small' }, `${p.failures}/${p.max_failures} failures`) : null),
            h('td', null, timeEl(p.last_run)),
            h('td', null, fmtMs(p.duration_ms)),
            h('td', null, counts(p.counts)),
            h('td', { class: 'err-cell' }, p.error ? h('span', { class: 'error-text' }, p.error) : h('span', { class: 'muted' }, '–')),
            h('td', null, p.next_run ? timeEl(p.next_run) : h('span', { class: 'muted' }, 'not planned')),
            h('td', null, runButton(p.name, load)))))))
          : h('p', { class: 'muted' }, 'No collectors configured. A collector is a ', h('code', null, 'plugins'),
            ' entry of the config with a Lua file of the same name (docs/plugin-guide.md).')),
      h('section', { 'aria-labelledby': 'nat-h' }, h('h2', { id: 'nat-h' }, 'Native plugins'),
        h('ul', { class: 'cards' }, natives.map((p) => h('li', { class: 'card' },
          h('div', { class: 'card-head' }, icon(p.name === 'ingest' ? 'ingest' : 'plugin'),
            p.name === 'ingest' ? h('a', { href: '/ingest' }, p.name) : h('strong', null, p.name),
            statusBadge(p.running ? 'up' : 'down')),
          h('p', null, p.description || ''),
          h('p', { class: 'muted small' }, `version ${p.version || '?'} · ${p.builtin ? 'built in' : 'loaded from a file'}`))))));
    if (first) { first = false; ready('plugins'); }
    if (collectors.some((p) => p.queued || p.status === 'running')) timer = setTimeout(load, 1000);
    else timer = setTimeout(load, 15000);
  };
  await load();
}

function fmtInterval(s) {
  if (typeof s !== 'number') return '?';
  return s >= 3600 ? (s / 3600).toFixed(s % 3600 ? 1 : 0) + ' h' : s >= 60 ? (s / 60).toFixed(s % 60 ? 1 : 0) + ' min' : s + ' s';
}

function counts(c) {
  if (!c || typeof c !== 'object' || !Object.keys(c).length) return h('span', { class: 'muted' }, '–');
  return h('span', { class: 'small' }, Object.entries(c).map(([k, v]) => `${k} ${typeof v === 'number' ? fmtNum(v) : v}`).join(' · '));
}

function runButton(name, after) {
  if (!token()) return h('span', { class: 'muted small', title: 'Enter a token to run collectors' }, '');
  return h('button', { type: 'button', class: 'btn small', dataset: { run: name }, on: { click: async (ev) => {
    ev.currentTarget.disabled = true;
    try {
      await api('/api/v1/plugins/' + encodeURIComponent(name) + '/run', { method: 'POST' });
      flash(`${name}: run queued.`, 'ok');
    } catch (e) {
      flash(`${name}: ${e.status === 409 ? 'it is running now.' : e.hint || e.message}`, 'bad');
    }
    after();
  } } }, 'Run now');
}

async function renderOne(ctx) {
  const { main, param: name, signal } = ctx;
  document.title = name + ' · Plugins · Terrarium';
  const head = h('div');
  const runs = h('div');
  fill(main, h('nav', { class: 'crumbs' }, h('a', { href: '/plugins' }, 'Plugins'), ' / '),
    h('h1', null, name), head, h('h2', null, 'Runs'), runs);
  let timer = 0;
  signal.addEventListener('abort', () => clearTimeout(timer));
  let first = true;
  const load = async () => {
    clearTimeout(timer);
    let list, r;
    try {
      [list, r] = await Promise.all([api('/api/v1/plugins', { signal }),
        api('/api/v1/plugins/' + encodeURIComponent(name) + '/runs' + qs({ limit: 20 }), { signal })]);
    } catch (e) {
      if (!signal.aborted && first) fill(runs, errorBox(e, 'the runs'));
      if (first) { first = false; ready('plugin'); }
      return;
    }
    if (signal.aborted) return;
    const p = (list.plugins || []).find((x) => x.name === name) || {};
    fill(head, h('dl', { class: 'ent-facts' },
      f('Status', statusBadge(p.queued && p.status !== 'running' ? 'queued' : p.status)),
      f('Last run', timeEl(p.last_run)), f('Duration', fmtMs(p.duration_ms)),
      f('Next run', p.next_run ? timeEl(p.next_run) : 'not planned'),
      f('Interval', fmtInterval(p.interval_s)), f('Counts', counts(p.counts)),
      f('Last error', p.error ? h('span', { class: 'error-text' }, p.error) : '–'),
      p.path ? f('File', h('code', null, p.path)) : null),
    h('div', { class: 'actions' }, runButton(name, load)),
    p.settings ? h('details', null, h('summary', null, 'Settings (secrets hidden)'),
      h('pre', { class: 'json' }, JSON.stringify(p.settings, null, 2))) : null);
    const open = new Set([...runs.querySelectorAll('details[open]')].map((d) => d.dataset.run));
    fill(runs, (r.runs || []).length ? h('ol', { class: 'runs' }, r.runs.map((run, i) => h('li', null,
      h('details', { dataset: { run: String(run.id) }, open: open.has(String(run.id)) || (i === 0 && !open.size && first) },
        h('summary', null, statusBadge(run.status), ' ', timeEl(run.started_at), ' · ', fmtMs(run.duration_ms),
          run.counts && Object.keys(run.counts).length ? [' · ', counts(run.counts)] : null),
        run.error ? h('p', { class: 'error-text' }, run.error) : null,
        h('pre', { class: 'log', tabindex: '0', 'aria-label': 'Log of run ' + run.id },
          (run.log || []).map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') || '(no log lines)')))))
      : h('p', { class: 'muted' }, 'No runs yet.'));
    if (first) { first = false; ready('plugin'); }
    timer = setTimeout(load, p.queued || p.status === 'running' ? 1000 : 15000);
  };
  await load();
}

function f(k, v) {
  return h('div', null, h('dt', null, k), h('dd', null, v));
}
