// Search: /search?q=&kind=&platform=&tag=&owner=&stale=&offset=
// The URL holds the whole state; facets toggle, results page by 20, and
// j/k or the arrow keys move through the hits (Enter opens).
import { h, clear, api, qs, icon, entityUrl, highlighted, debounce, errorBox, ready, fill, add } from './core.js';

const LIMIT = 20;
let typing = null; // caret position when a keystroke re-renders the page
const FACETS = [['kind', 'Kind'], ['platform', 'Platform'], ['tag', 'Tag'], ['owner', 'Owner'], ['stale', 'Stale']];

export async function render(ctx) {
  const { main, query, signal, navigate } = ctx;
  const state = {
    q: query.get('q') || '',
    offset: Math.max(0, parseInt(query.get('offset') || '0', 10) || 0),
  };
  for (const [f] of FACETS) state[f] = query.get(f) || '';
  document.title = (state.q ? `“${state.q}” · ` : '') + 'Search · Terrarium';

  const input = h('input', { id: 'search-q', type: 'search', name: 'q', value: state.q,
    placeholder: 'Names, fields, descriptions, tags, owners…', autocomplete: 'off' });
  const results = h('div', { class: 'results', 'aria-live': 'polite', 'aria-busy': 'true' });
  const facets = h('aside', { class: 'facets', 'aria-label': 'Filters' });
  const form = h('form', { class: 'search-form', role: 'search', on: { submit: (ev) => {
    ev.preventDefault();
    go({ q: input.value.trim(), offset: 0 });
  } } }, h('label', { for: 'search-q', class: 'sr' }, 'Search'), input,
  h('button', { type: 'submit', class: 'btn primary' }, 'Search'));

  const url = (st) => '/search' + qs({ q: st.q, kind: st.kind, platform: st.platform, tag: st.tag,
    owner: st.owner, stale: st.stale, offset: st.offset || '' });
  const go = (patch, replace) => navigate(url(Object.assign({}, state, patch)), { replace, keepFocus: true });
  input.addEventListener('input', debounce(() => {
    if (signal.aborted) return;
    typing = input.selectionStart;
    go({ q: input.value.trim(), offset: 0 }, true);
  }, 250));

  fill(main, h('h1', { class: 'sr' }, 'Search'), form,
    h('div', { class: 'search-body' }, facets, results));
  if (typing !== null) { // re-rendered while typing: keep the caret in the box
    input.focus();
    input.setSelectionRange(typing, typing);
    typing = null;
  }

  let res;
  try {
    res = await api('/api/v1/search' + qs({ q: state.q, kind: state.kind, platform: state.platform,
      tag: state.tag, owner: state.owner, stale: state.stale, limit: LIMIT, offset: state.offset }), { signal });
  } catch (e) {
    if (signal.aborted) return;
    fill(results, errorBox(e, 'the results'));
    results.setAttribute('aria-busy', 'false');
    ready('search');
    return;
  }
  if (signal.aborted) return;
  drawFacets(facets, res.facets || {}, state, go);
  drawResults(results, res, state, go);
  results.setAttribute('aria-busy', 'false');
  bindKeys(results, signal);
  ready('search');
}

function drawFacets(box, facets, state, go) {
  clear(box);
  const active = FACETS.filter(([f]) => state[f]);
  if (active.length)
    add(box, h('div', { class: 'facet-active' }, active.map(([f, label]) =>
      h('button', { type: 'button', class: 'chip on', 'aria-label': `Remove filter ${label}: ${state[f]}`,
        on: { click: () => go({ [f]: '', offset: 0 }) } }, `${label}: ${state[f]} ✕`))));
  for (const [f, label] of FACETS) {
    const counts = facets[f] || {};
    const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]).slice(0, 12);
    if (!entries.length && !state[f]) continue;
    add(box, h('details', { class: 'facet', open: true },
      h('summary', null, label),
      h('ul', null, entries.map(([v, n]) => {
        const on = state[f] === v;
        const lbl = f === 'stale' ? (v === 'true' ? 'stale' : 'fresh') : v;
        return h('li', null, h('button', { type: 'button', class: 'facet-btn' + (on ? ' on' : ''),
          'aria-pressed': String(on), dataset: { facet: f, value: v },
          on: { click: () => go({ [f]: on ? '' : v, offset: 0 }) } },
        f === 'kind' || f === 'platform' ? icon(v) : null,
        h('span', { class: 'facet-v' }, lbl), h('span', { class: 'count' }, n.toLocaleString('en-US'))));
      }))));
  }
}

function drawResults(box, res, state, go) {
  clear(box);
  const total = res.total || 0;
  const from = total ? state.offset + 1 : 0;
  const to = state.offset + res.hits.length;
  add(box, h('p', { class: 'muted summary' },
    total ? `${from}–${to} of ${res.total_capped ? 'over ' : ''}${total.toLocaleString('en-US')} result${total === 1 ? '' : 's'}`
      : state.q ? `No results for “${state.q}”.` : 'The catalog is empty.',
    !state.q && total ? ' (newest first)' : ''));
  const list = h('ol', { class: 'hits', start: from || 1 });
  for (const hit of res.hits) {
    const hl = hit.highlights || {};
    list.append(h('li', { class: 'hit' + (hit.stale ? ' stale' : '') },
      h('div', { class: 'hit-icons' }, icon(hit.kind, 'kind ' + hit.kind), icon(hit.platform, 'platform ' + (hit.platform || 'unknown'))),
      h('div', { class: 'hit-main' },
        h('a', { href: entityUrl(hit.id), class: 'hit-name' },
          highlighted(hl.display_name || hl.name || hit.display_name || hit.name)),
        hit.display_name && !hl.display_name ? h('span', { class: 'muted small' }, ' ', hit.name) : null,
        h('div', { class: 'hit-meta' },
          h('span', { class: 'badge' }, hit.kind + (hit.subtype ? '/' + hit.subtype : '')),
          hit.platform ? h('span', { class: 'badge' }, hit.platform) : null,
          hit.stale ? h('span', { class: 'badge warn' }, 'stale') : null,
          h('span', { class: 'ns muted' }, hit.namespace)),
        hl.description || hit.description
          ? h('p', { class: 'hit-desc' }, highlighted(clip(hl.description || hit.description))) : null,
        Object.entries(hl).filter(([k]) => !['name', 'display_name', 'description'].includes(k))
          .slice(0, 3).map(([k, v]) => h('p', { class: 'hit-extra small' }, h('span', { class: 'muted' }, k + ': '), highlighted(clip(v)))))));
  }
  add(box, list);
  const pages = h('nav', { class: 'pager', 'aria-label': 'Result pages' },
    state.offset > 0 ? h('button', { type: 'button', class: 'btn', on: { click: () => go({ offset: Math.max(0, state.offset - LIMIT) }) } }, '← Previous') : null,
    to < total && state.offset + LIMIT <= 100000 ? h('button', { type: 'button', class: 'btn', on: { click: () => go({ offset: state.offset + LIMIT }) } }, 'Next →') : null);
  add(box, pages);
}

// A snippet: Markdown marks dropped ([text](url) keeps the text), clipped.
function clip(t) {
  t = String(t).replace(/\[([^\]]*)\]\([^)\s]*\)/g, '$1').replace(/\*\*|__|`/g, '').replace(/\s+/g, ' ');
  return t.length > 300 ? t.slice(0, 300) + '…' : t;
}

// j/k and arrows move focus over the hit links; Enter follows the link.
function bindKeys(box, signal) {
  const onKey = (ev) => {
    if (signal.aborted) { document.removeEventListener('keydown', onKey); return; }
    const t = ev.target;
    const inField = t && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName);
    const links = [...box.querySelectorAll('a.hit-name')];
    if (!links.length) return;
    const i = links.indexOf(document.activeElement);
    let next = null;
    if (ev.key === 'ArrowDown' || (!inField && ev.key === 'j')) next = i < 0 ? 0 : Math.min(links.length - 1, i + 1);
    else if ((ev.key === 'ArrowUp' && i >= 0) || (!inField && ev.key === 'k')) next = Math.max(0, i - 1);
    if (next === null) return;
    if (inField && t.id !== 'search-q') return;
    ev.preventDefault();
    links[next].focus();
  };
  document.addEventListener('keydown', onKey);
  signal.addEventListener('abort', () => document.removeEventListener('keydown', onKey));
}
