// Shared helpers: DOM building (text only, never innerHTML with data), the API
// client with the session token, URLs of entities, icons, times and numbers.

const SVGNS = 'http://www.w3.org/2000/svg';

// h('a', {href: '/x', class: 'c', on: {click: fn}}, 'text', child, ...)
// Strings become text nodes; null/false children are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') {
      el[k] = !!v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// Append CHILDREN (nested arrays flattened, null and false skipped): the
// DOM's own append() would write "null" or "[object ...]" as text.
export function add(el, ...children) {
  return append(el, children);
}

// Replace EL's children.
export function fill(el, ...children) {
  return append(clear(el), children);
}

// --- icons: a sprite file of <symbol>s, used with <use href>. ---

const ICONS = new Set(['dataset', 'job', 'model', 'service', 'field', 'dashboard', 'topic',
  'table', 'postgres', 'kafka', 'redis', 'mlflow', 'airflow', 'git', 'dbt', 'http', 'metabase',
  'mysql', 'terrarium', 'ingest', 'plugin', 'bookmark', 'link', 'generic', 'logo', 'tcp']);

export function icon(name, label) {
  const n = ICONS.has(String(name).toLowerCase()) ? String(name).toLowerCase() : 'generic';
  const attrs = { class: 'icon icon-' + n };
  if (label) { attrs.role = 'img'; attrs['aria-label'] = label; } else attrs['aria-hidden'] = 'true';
  const el = s('svg', attrs, label ? s('title', null, label) : null, s('use', { href: '/icons.svg#' + n }));
  return el;
}

// --- the token, kept for the browser session ---

const TOKEN_KEY = 'terrarium.token';

export function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage refused: the token lasts until reload */ }
  document.dispatchEvent(new CustomEvent('tokenchange'));
}

// --- the API ---

export class ApiError extends Error {
  constructor(status, error, detail) {
    super(detail ? `${error}: ${detail}` : error);
    this.status = status;
    this.error = error;
    this.detail = detail || '';
  }
  // A sentence for people.
  get hint() {
    if (this.status === 401)
      return token() ? 'The token was refused (401): it is not valid. Enter another one under "Token".'
        : 'This needs a token (401). Enter one under "Token" at the top.';
    if (this.status === 403) return "The token's scope does not allow this (403).";
    if (this.status === 404) return 'Not found (404).';
    if (this.status === 0) return 'The server cannot be reached.';
    return `The server answered ${this.status}.`;
  }
}

// fetch PATH (under the same origin); JSON in and out unless opts.raw.
export async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  let body = opts.body;
  if (body !== undefined && typeof body !== 'string') {
    body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let resp;
  try {
    resp = await fetch(path, { method: opts.method || 'GET', headers, body, signal: opts.signal,
      cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network error', e.message);
  }
  if (!resp.ok) {
    let err = 'error', detail = '';
    try {
      const j = await resp.json();
      err = j.error || err;
      detail = j.detail || '';
    } catch { /* not JSON */ }
    throw new ApiError(resp.status, err, detail);
  }
  if (opts.raw) return resp;
  if (resp.status === 204) return null;
  return resp.json();
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const str = u.toString();
  return str ? '?' + str : '';
}

// --- URLs of the UI ---

// The UI's URLs carry an entity id in the query (/entity?id=...), not in
// the path: the server falls back to index.html only for paths whose last
// segment, once decoded, has no '.', and most ids have one.
// (/entity/<id> is routed too, for the links in Graphviz's SVG.)
export function entityUrl(id, tab) {
  return '/entity' + qs({ id, tab });
}

export function lineageUrl(id, params) {
  return '/lineage' + qs(Object.assign({ id }, params || {}));
}

export function apiEntity(id) {
  return '/api/v1/entities/' + encodeURIComponent(id);
}

// --- formatting ---

export function fmtNum(v) {
  if (typeof v !== 'number' || !isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  return v.toLocaleString('en-US', { maximumFractionDigits: a >= 100 ? 0 : a >= 1 ? 2 : 4 });
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || typeof ms !== 'number') return '–';
  if (ms < 1 && ms !== 0) return ms.toFixed(2) + ' ms';
  if (ms < 1000) return Math.round(ms) + ' ms';
  return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
}

export function fmtBytes(b) {
  if (typeof b !== 'number') return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(1) : b) + ' ' + u[i];
}

export function ago(iso) {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (isNaN(t)) return String(iso);
  const d = (Date.now() - t) / 1000;
  const f = Math.abs(d);
  const txt = f < 5 ? 'just now' : f < 60 ? Math.round(f) + ' s' : f < 3600 ? Math.round(f / 60) + ' min'
    : f < 86400 ? Math.round(f / 3600) + ' h' : Math.round(f / 86400) + ' d';
  if (txt === 'just now') return txt;
  return d >= 0 ? txt + ' ago' : 'in ' + txt;
}

export function timeEl(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  return h('time', { datetime: iso, title: iso }, ago(iso));
}

// A status word as a coloured dot and text (never colour alone).
export function statusBadge(status) {
  const st = String(status || 'unknown');
  const cls = { up: 'ok', ok: 'ok', processed: 'ok', running: 'run', queued: 'run', accepted: 'run',
    degraded: 'warn', disabled: 'warn', never: 'idle', unknown: 'idle', down: 'bad', failed: 'bad',
    rejected: 'bad' }[st] || 'idle';
  return h('span', { class: 'status status-' + cls, dataset: { status: st } },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), st);
}

// A short human label of an entity: display name, else the name.
export function entityLabel(e) {
  return (e.display_name && String(e.display_name)) || e.name || e.id;
}

// --- flash messages ---

let flashTimer = 0;
export function flash(msg, kind) {
  const el = document.getElementById('flash');
  if (!el) return;
  el.textContent = msg;
  el.className = 'flash ' + (kind || '');
  el.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { el.hidden = true; }, 5000);
}

// An error box for a page.
export function errorBox(e, what) {
  if (e && e.name === 'AbortError') return null;
  const msg = e instanceof ApiError ? e.hint : 'Something went wrong.';
  const box = h('div', { class: 'error', role: 'alert' },
    h('strong', null, what ? `Cannot load ${what}. ` : ''), msg,
    e && e.message ? h('div', { class: 'muted small' }, e.message) : null);
  return box;
}

export function debounce(fn, ms) {
  let t = 0;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

// Split a highlight string ("a <mark>b</mark> c") into text and <mark> nodes.
export function highlighted(text) {
  const out = [];
  const parts = String(text).split(/(<mark>|<\/mark>)/);
  let inMark = false;
  for (const p of parts) {
    if (p === '<mark>') { inMark = true; continue; }
    if (p === '</mark>') { inMark = false; continue; }
    if (!p) continue;
    out.push(inMark ? h('mark', null, p) : document.createTextNode(p));
  }
  return out;
}

// Save a blob as a file.
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Page-ready marks: every page calls ready(name) once its data is shown.
let routeStart = 0;
export function routeStarted() {
  routeStart = performance.now();
  delete document.documentElement.dataset.ready;
}
export function ready(name) {
  const ms = performance.now() - routeStart;
  try { performance.mark('ready:' + name); } catch { /* old browser */ }
  window.__terrariumReady = { page: name, ms, sinceNavigation: performance.now() };
  document.documentElement.dataset.ready = name;
}
