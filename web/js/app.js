// The router and the header: quick search, token, theme.
import { h, clear, api, qs, token, setToken, entityUrl, icon, highlighted, debounce, flash, routeStarted, errorBox, fill } from './core.js';

// Paths the UI owns, and the module that renders each.  Modules load on
// first use, so the home page does not download the lineage code.
const ROUTES = [
  { re: /^\/$/, page: 'home', mod: () => import('./home.js') },
  { re: /^\/search\/?$/, page: 'search', mod: () => import('./search.js') },
  { re: /^\/entity\/?$/, page: 'entity', mod: () => import('./entity.js'), idq: true },
  { re: /^\/entity\/(.+)$/, page: 'entity', mod: () => import('./entity.js') },
  { re: /^\/lineage\/?$/, page: 'lineage', mod: () => import('./lineage.js'), idq: true },
  { re: /^\/lineage\/(.+)$/, page: 'lineage', mod: () => import('./lineage.js') },
  { re: /^\/plugins\/?$/, page: 'plugins', mod: () => import('./plugins.js') },
  { re: /^\/plugins\/([^/]+)$/, page: 'plugin', mod: () => import('./plugins.js') },
  { re: /^\/ingest\/?$/, page: 'ingest', mod: () => import('./ingest.js') },
  { re: /^\/ingest\/([^/]+)$/, page: 'sample', mod: () => import('./ingest.js') },
];

let current = null; // { ctrl: AbortController }

export function navigate(url, opts = {}) {
  if (opts.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route(opts);
}

async function route(opts = {}) {
  const main = document.getElementById('main');
  if (current) current.ctrl.abort();
  const ctrl = new AbortController();
  current = { ctrl };
  routeStarted();
  const path = location.pathname;
  let r = null, m = null;
  for (const x of ROUTES) { m = path.match(x.re); if (m) { r = x; break; } }
  for (const a of document.querySelectorAll('.nav a')) {
    const on = r && (a.dataset.nav === r.page || (a.dataset.nav === 'plugins' && r.page === 'plugin') ||
      (a.dataset.nav === 'ingest' && r.page === 'sample'));
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (!r) {
    fill(main, h('h1', null, 'Not found'),
      h('p', null, 'No page at ', h('code', null, path), '. ', h('a', { href: '/' }, 'Go home'), '.'));
    document.title = 'Not found · Terrarium';
    return;
  }
  let param = null;
  try {
    param = m[1] !== undefined ? decodeURIComponent(m[1]) : null;
  } catch {
    param = m[1];
  }
  if (r.idq) param = new URLSearchParams(location.search).get('id');
  if (r.idq && !param) {
    fill(main, h('h1', null, 'No entity'), h('p', null, 'This page needs an ', h('code', null, '?id='),
      '. ', h('a', { href: '/search' }, 'Search the catalog'), '.'));
    return;
  }
  try {
    const mod = await r.mod();
    if (ctrl.signal.aborted) return;
    await mod.render({ main, page: r.page, param, query: new URLSearchParams(location.search),
      signal: ctrl.signal, navigate });
    if (!opts.keepFocus && opts.focus !== false && document.activeElement === document.body)
      main.focus({ preventScroll: true });
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    console.error(e);
    fill(main, errorBox(e, 'this page'));
  }
}

// In-app links: same-origin, not /api/, no modifier keys, no download.
document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest && ev.target.closest('a');
  if (!a || a.hasAttribute('download') || a.target === '_blank') return;
  const href = a.getAttribute('href') || a.getAttribute('xlink:href');
  if (!href || !href.startsWith('/') || href.startsWith('//') || href.startsWith('/api/')) return;
  ev.preventDefault();
  navigate(href);
  window.scrollTo(0, 0);
});

window.addEventListener('popstate', () => route({ focus: false }));

// --- theme: prefers-color-scheme, or the toggle's choice ---

function applyTheme() {
  let t = '';
  try { t = localStorage.getItem('terrarium.theme') || ''; } catch { /* none */ }
  if (t) document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
  const dark = t ? t === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
  const b = document.getElementById('theme-btn');
  b.setAttribute('aria-pressed', String(dark));
  b.title = dark ? 'Dark theme (switch to light)' : 'Light theme (switch to dark)';
}

document.getElementById('theme-btn').addEventListener('click', () => {
  const cur = document.documentElement.dataset.theme ||
    (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
  try { localStorage.setItem('terrarium.theme', cur === 'dark' ? 'light' : 'dark'); } catch { /* */ }
  applyTheme();
});
applyTheme();

// --- the token panel ---

const panel = document.getElementById('token-panel');
const tokenBtn = document.getElementById('token-btn');
const tokenInput = document.getElementById('token-input');

function showTokenState() {
  const t = token();
  tokenBtn.textContent = t ? 'Token ✓' : 'Token';
  tokenBtn.classList.toggle('has-token', !!t);
  document.getElementById('token-state').textContent = t
    ? 'A token is set for this session (…' + t.slice(-4) + ').' : 'No token: anonymous reads only.';
}

function openPanel(open) {
  panel.hidden = !open;
  tokenBtn.setAttribute('aria-expanded', String(open));
  if (open) { tokenInput.value = ''; tokenInput.focus(); }
}

tokenBtn.addEventListener('click', () => openPanel(panel.hidden));
document.getElementById('token-close').addEventListener('click', () => { openPanel(false); tokenBtn.focus(); });
document.getElementById('token-forget').addEventListener('click', () => {
  setToken('');
  flash('Token forgotten.');
  openPanel(false);
});
panel.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const t = tokenInput.value.trim();
  if (!t) return;
  setToken(t);
  flash('Token saved for this session.', 'ok');
  openPanel(false);
});
panel.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { openPanel(false); tokenBtn.focus(); } });
document.addEventListener('tokenchange', () => { showTokenState(); route({ focus: false }); });
showTokenState();

// Pages may ask for the token panel (a 401 "enter a token" button).
document.addEventListener('asktoken', () => openPanel(true));

// --- quick search: as you type, 8 hits, arrow keys, Enter ---

const qsForm = document.getElementById('qs-form');
const qsInput = document.getElementById('qs');
const qsList = document.getElementById('qs-list');
let qsItems = [];
let qsActive = -1;
let qsSeq = 0;

function qsClose() {
  qsList.hidden = true;
  qsInput.setAttribute('aria-expanded', 'false');
  qsInput.removeAttribute('aria-activedescendant');
  qsActive = -1;
}

function qsSetActive(i) {
  qsActive = i;
  qsItems.forEach((li, k) => li.setAttribute('aria-selected', String(k === i)));
  if (i >= 0 && qsItems[i]) {
    qsInput.setAttribute('aria-activedescendant', qsItems[i].id);
    qsItems[i].scrollIntoView({ block: 'nearest' });
  } else qsInput.removeAttribute('aria-activedescendant');
}

const qsRun = debounce(async () => {
  const q = qsInput.value.trim();
  const seq = ++qsSeq;
  if (!q) { qsClose(); return; }
  let res;
  try {
    res = await api('/api/v1/search' + qs({ q, limit: 8 }));
  } catch (e) {
    if (seq !== qsSeq) return;
    fill(qsList, h('li', { class: 'qs-empty' }, e.hint || 'Search failed.'));
    qsItems = [];
    qsList.hidden = false;
    return;
  }
  if (seq !== qsSeq) return;
  clear(qsList);
  qsItems = res.hits.map((hit, k) => {
    const li = h('li', { id: 'qs-opt-' + k, role: 'option', 'aria-selected': 'false', class: 'qs-item',
      dataset: { href: entityUrl(hit.id) } },
    icon(hit.kind), h('span', { class: 'qs-name' },
      highlighted((hit.highlights && hit.highlights.name) || hit.name)),
    h('span', { class: 'qs-meta' }, hit.kind + (hit.platform ? ' · ' + hit.platform : '')));
    li.addEventListener('mousedown', (ev) => { ev.preventDefault(); qsGo(k); });
    return li;
  });
  qsList.append(...qsItems);
  const all = h('li', { id: 'qs-opt-all', role: 'option', 'aria-selected': 'false', class: 'qs-item qs-all',
    dataset: { href: '/search' + qs({ q }) } },
  `All ${res.total_capped ? 'over ' : ''}${res.total.toLocaleString('en-US')} results for “${q}”`);
  all.addEventListener('mousedown', (ev) => { ev.preventDefault(); qsGo(qsItems.length - 1); });
  qsItems.push(all);
  qsList.append(all);
  qsList.hidden = false;
  qsInput.setAttribute('aria-expanded', 'true');
  qsSetActive(-1);
}, 150);

function qsGo(i) {
  const li = qsItems[i];
  qsClose();
  if (li) { navigate(li.dataset.href); qsInput.blur(); }
}

qsInput.addEventListener('input', qsRun);
qsInput.addEventListener('keydown', (ev) => {
  if (ev.key === 'ArrowDown' && qsItems.length) {
    ev.preventDefault();
    if (qsList.hidden) { qsList.hidden = false; qsInput.setAttribute('aria-expanded', 'true'); }
    qsSetActive((qsActive + 1) % qsItems.length);
  } else if (ev.key === 'ArrowUp' && qsItems.length) {
    ev.preventDefault();
    qsSetActive(qsActive <= 0 ? qsItems.length - 1 : qsActive - 1);
  } else if (ev.key === 'Escape') {
    qsClose();
  } else if (ev.key === 'Enter' && qsActive >= 0 && !qsList.hidden) {
    ev.preventDefault();
    qsGo(qsActive);
  }
});
qsInput.addEventListener('blur', () => setTimeout(qsClose, 100));
qsForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  qsSeq++;
  qsClose();
  navigate('/search' + qs({ q: qsInput.value.trim() }));
  qsInput.blur();
});

// "/" focuses the search box (outside text fields).
document.addEventListener('keydown', (ev) => {
  if (ev.key !== '/' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  ev.preventDefault();
  qsInput.focus();
});

route({ focus: false });
