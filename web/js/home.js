// Home: the dashboard.  Services by group with live status, latency, uptime
// and a history sparkline; plugin and collector tiles; bookmarks.  It polls
// GET /api/v1/services every 20 s (or ?refresh=N seconds, at least 2) while
// the tab is visible.
import { h, s, api, icon, token, fmtNum, fmtMs, timeEl, statusBadge, errorBox, ready, flash, fill } from './core.js';

export async function render(ctx) {
  const { main, signal, query } = ctx;
  document.title = 'Dashboard · Terrarium';
  const refresh = Math.max(2, Number(query.get('refresh')) || 20) * 1000;
  const body = h('div', { class: 'dash' });
  const updated = h('span', { class: 'muted small', 'aria-live': 'off' });
  fill(main, 
    h('div', { class: 'page-head' }, h('h1', null, 'Dashboard'), updated),
    body);

  let timer = 0;
  let first = true;
  const load = async () => {
    clearTimeout(timer);
    if (signal.aborted) return;
    try {
      const data = await api('/api/v1/services', { signal });
      if (signal.aborted) return;
      draw(body, data, load);
      updated.textContent = 'Updated ' + new Date().toLocaleTimeString();
      updated.dataset.at = String(Date.now());
    } catch (e) {
      if (signal.aborted || (e && e.name === 'AbortError')) return;
      if (first) fill(body, errorBox(e, 'the dashboard'));
      else updated.textContent = 'Refresh failed: ' + (e.hint || e.message);
    }
    if (first) { first = false; ready('home'); }
    if (!document.hidden) timer = setTimeout(load, refresh);
  };
  const onVis = () => {
    if (signal.aborted) { document.removeEventListener('visibilitychange', onVis); return; }
    if (!document.hidden) load(); else clearTimeout(timer);
  };
  document.addEventListener('visibilitychange', onVis);
  signal.addEventListener('abort', () => {
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVis);
  });
  await load();
}

// Both shapes: {groups, bookmarks, tiles, services} and the older
// {services, tiles} (grouped here by .group).
function groupsOf(data) {
  if (Array.isArray(data.groups)) return data.groups;
  const by = new Map();
  for (const sv of data.services || []) {
    const g = sv.group || 'Services';
    if (!by.has(g)) by.set(g, []);
    by.get(g).push(sv);
  }
  return [...by].map(([name, services]) => ({ name, services }));
}

function draw(body, data, reload) {
  const groups = groupsOf(data);
  const frag = document.createDocumentFragment();
  if (!groups.length && !(data.tiles || []).length && !(data.bookmarks || []).length)
    frag.append(h('p', { class: 'empty' }, 'No services yet. Add them under ', h('code', null, 'services'),
      ' in the config file (docs/configuration.md), or add a discovered service from its entity page.'));
  for (const g of groups) {
    if (!g.services || !g.services.length) continue;
    frag.append(h('section', { class: 'group', 'aria-label': g.name },
      h('h2', null, g.name),
      h('ul', { class: 'tiles' }, g.services.map((sv) => h('li', null, serviceTile(sv, reload))))));
  }
  if ((data.tiles || []).length)
    frag.append(h('section', { class: 'group', 'aria-label': 'Plugins and collectors' },
      h('h2', null, 'Plugins and collectors'),
      h('ul', { class: 'tiles' }, data.tiles.map((t) => h('li', null, pluginTile(t))))));
  if ((data.bookmarks || []).length) {
    const by = new Map();
    for (const b of data.bookmarks) {
      const g = b.group || 'Bookmarks';
      if (!by.has(g)) by.set(g, []);
      by.get(g).push(b);
    }
    frag.append(h('section', { class: 'group bookmarks', 'aria-label': 'Bookmarks' },
      h('h2', null, 'Bookmarks'),
      h('div', { class: 'bm-groups' }, [...by].map(([g, list]) => h('div', { class: 'bm-group' },
        h('h3', null, g),
        h('ul', { class: 'bm-list' }, list.map((b) => h('li', null,
          h('a', bookmarkAttrs(b.href),
            icon(b.icon || 'bookmark'), h('span', { class: 'bm-name' }, b.name || b.href || ''),
            b.description ? h('span', { class: 'bm-desc muted' }, b.description) : null)))))))));
  }
  fill(body, frag);
}

// A bookmark is an http(s) URL (opens in a new tab) or a path of this UI.
function bookmarkAttrs(u) {
  if (typeof u === 'string' && u.startsWith('/') && !u.startsWith('//')) return { href: u, class: 'bm' };
  return { href: safeHref(u) || '#', rel: 'noopener noreferrer', target: '_blank', class: 'bm' };
}

function safeHref(u) {
  return typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null;
}

function serviceTile(sv, reload) {
  const href = safeHref(sv.href) || safeHref(sv.url);
  const name = sv.name || sv.id || '(unnamed)';
  const hist = Array.isArray(sv.history) ? sv.history : [];
  const title = href
    ? h('a', { href, rel: 'noopener noreferrer', target: '_blank', class: 'tile-name' }, name)
    : h('span', { class: 'tile-name' }, name);
  const facts = h('dl', { class: 'facts' },
    fact('Latency', typeof sv.latency_ms === 'number' ? fmtMs(sv.latency_ms) : '–'),
    fact('Uptime 24 h', typeof sv.uptime_24h === 'number' ? (sv.uptime_24h * 100).toFixed(sv.uptime_24h === 1 ? 0 : 1) + ' %' : '–'),
    sv.checked_at ? fact('Checked', timeEl(sv.checked_at)) : null,
    sv.type ? fact('Check', sv.type + (typeof sv.interval_s === 'number' ? ` every ${sv.interval_s} s` : '')) : null);
  const tile = h('article', { class: 'tile tile-' + (sv.status || 'unknown'), dataset: { service: name, status: sv.status || 'unknown' } },
    h('header', null, icon(sv.icon || sv.type, null), title, statusBadge(sv.status)),
    sv.description ? h('p', { class: 'tile-desc' }, sv.description) : null,
    sv.detail ? h('p', { class: 'tile-detail muted small' }, sv.detail) : null,
    facts,
    hist.length ? sparkline(hist) : null,
    numbers(sv.numbers),
    sv.origin === 'discovered' && sv.id !== undefined && token()
      ? h('button', { type: 'button', class: 'btn small link-btn', on: { click: async () => {
        try {
          await api('/api/v1/services/' + encodeURIComponent(sv.id), { method: 'DELETE' });
          flash(`Removed ${name} from the dashboard.`, 'ok');
          reload();
        } catch (e) { flash(e.hint || e.message, 'bad'); }
      } } }, 'Remove') : null,
    sv.origin === 'discovered' ? h('span', { class: 'badge' }, 'discovered') : null);
  return tile;
}

function pluginTile(t) {
  const name = t.title || t.plugin || '(plugin)';
  return h('article', { class: 'tile tile-' + (t.status || 'unknown'), dataset: { plugin: t.plugin || '', status: t.status || 'unknown' } },
    h('header', null, icon(t.plugin === 'ingest' ? 'ingest' : t.icon || t.plugin || 'plugin'),
      h('a', { class: 'tile-name', href: t.plugin === 'ingest' ? '/ingest' : '/plugins/' + encodeURIComponent(t.plugin || '') }, name),
      statusBadge(t.status)),
    t.description ? h('p', { class: 'tile-desc' }, t.description) : null,
    t.error ? h('p', { class: 'tile-error' }, t.error) : null,
    numbers(t.numbers),
    t.updated_at ? h('p', { class: 'muted small' }, 'Reported ', timeEl(t.updated_at)) : null);
}

function fact(k, v) {
  return [h('dt', null, k), h('dd', null, v)];
}

function numbers(nums) {
  if (!nums || typeof nums !== 'object') return null;
  const keys = Object.keys(nums).slice(0, 12);
  if (!keys.length) return null;
  return h('dl', { class: 'numbers' }, keys.map((k) => h('div', null,
    h('dt', null, k.replace(/_/g, ' ')), h('dd', null, typeof nums[k] === 'number' ? fmtNum(nums[k]) : String(nums[k])))));
}

// History as an inline SVG: a latency line and a bar per point coloured by status.
function sparkline(hist) {
  const pts = hist.slice(-48);
  const W = 192, H = 32, n = pts.length;
  const lat = pts.map((p) => (typeof p.latency_ms === 'number' ? p.latency_ms : null));
  const max = Math.max(1, ...lat.filter((v) => v !== null));
  const slots = Math.max(24, n); // newest on the right, a day of hours at least
  const off = slots - n;
  const step = W / slots;
  const up = pts.filter((p) => p.status === 'up').length;
  const svg = s('svg', { class: 'spark', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': `History: ${up} of ${n} checks up` },
  s('title', null, `History: ${up} of ${n} checks up`));
  // A bar per point: its colour is the status, its height the share of checks up.
  pts.forEach((p, i) => {
    const share = typeof p.uptime === 'number' ? p.uptime : p.status === 'up' ? 1 : 0;
    const bh = 3 + Math.round(share * 5);
    const tip = [p.t || '', p.status || '', typeof p.uptime === 'number' ? (p.uptime * 100).toFixed(0) + ' % up' : '',
      typeof p.checks === 'number' ? p.checks + ' checks' : '', typeof p.latency_ms === 'number' ? fmtMs(p.latency_ms) : '']
      .filter(Boolean).join(' · ');
    svg.append(s('rect', { x: ((off + i) * step + 0.5).toFixed(1), y: H - bh, width: Math.max(1, step - 1).toFixed(1), height: bh,
      class: 'sp-' + (p.status || 'unknown') }, s('title', null, tip)));
  });
  const line = [];
  lat.forEach((v, i) => {
    if (v === null) return;
    line.push(`${((off + i) * step + step / 2).toFixed(1)},${(H - 10 - (v / max) * (H - 13)).toFixed(1)}`);
  });
  if (line.length > 1) svg.append(s('polyline', { points: line.join(' '), class: 'sp-line' }));
  return svg;
}
