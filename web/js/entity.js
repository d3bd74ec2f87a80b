// Entity: /entity/<id>?tab=schema|properties|lineage|history|json
// Header facts, the description (Markdown, rendered safely), owners and tags;
// tabs load lazily.  With a token: edit description, tags and owners; a
// service can be added to the dashboard.
import { h, clear, api, qs, icon, token, apiEntity, entityUrl, lineageUrl, entityLabel, timeEl, errorBox, ready, flash, ApiError, fill, add } from './core.js';
import { renderMarkdown } from './md.js';

const TABS = [['schema', 'Schema'], ['properties', 'Properties'], ['lineage', 'Lineage'],
  ['history', 'History'], ['json', 'JSON']];

export async function render(ctx) {
  const { main, param: id, query, signal } = ctx;
  document.title = id + ' · Terrarium';
  let e;
  try {
    e = await api(apiEntity(id), { signal });
  } catch (err) {
    if (signal.aborted) return;
    fill(main, h('h1', null, 'Entity'), h('p', { class: 'mono' }, id),
      errorBox(err, 'this entity'));
    ready('entity');
    return;
  }
  if (signal.aborted) return;
  document.title = entityLabel(e) + ' · Terrarium';
  const head = h('div');
  const tabsBox = h('div', { class: 'tabs-box' });
  fill(main, head, tabsBox);
  drawHead(head, e, ctx);
  const fields = e.fields || [];
  let tab = query.get('tab') || (fields.length ? 'schema' : 'properties');
  if (!TABS.some(([t]) => t === tab)) tab = 'properties';
  drawTabs(tabsBox, e, tab, ctx);
  ready('entity');
}

function chips(list, cls) {
  return (list || []).map((t) => h('span', { class: 'chip ' + (cls || '') }, t));
}

function drawHead(box, e, ctx) {
  const canEdit = !!token();
  const desc = h('div', { class: 'desc md' });
  if (e.description) desc.append(renderMarkdown(e.description));
  else desc.append(h('p', { class: 'muted' }, 'No description.'));
  const actions = h('div', { class: 'actions' },
    h('a', { class: 'btn', href: lineageUrl(e.id) }, 'Lineage graph'),
    canEdit ? h('button', { type: 'button', class: 'btn', id: 'edit-btn', on: { click: () => edit(box, e, ctx) } }, 'Edit') : null,
    canEdit && e.kind === 'service' ? h('button', { type: 'button', class: 'btn', id: 'add-dash-btn',
      on: { click: () => addToDashboard(e) } }, 'Add to dashboard') : null);
  const userTags = own(e.tag_sources, e.tags);
  const userOwners = own(e.owner_sources, e.owners);
  fill(box, 
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: '/search' + qs({ kind: e.kind }) }, e.kind), ' / ',
      e.platform ? h('a', { href: '/search' + qs({ platform: e.platform }) }, e.platform) : null),
    h('div', { class: 'ent-title' }, icon(e.kind, 'kind ' + e.kind),
      h('h1', { id: 'entity-name' }, entityLabel(e)),
      e.stale ? h('span', { class: 'badge warn' }, 'stale') : null),
    h('dl', { class: 'ent-facts' },
      fact('Id', h('code', { class: 'mono wrap', id: 'entity-id' }, e.id)),
      e.display_name ? fact('Name', e.name) : null,
      fact('Kind', e.kind + (e.subtype ? ' / ' + e.subtype : '')),
      fact('Platform', [icon(e.platform), ' ', e.platform || '–']),
      fact('Namespace', h('span', { class: 'mono wrap' }, e.namespace)),
      fact('Owners', (e.owners || []).length ? chips(e.owners) : h('span', { class: 'muted' }, 'none')),
      fact('Tags', (e.tags || []).length ? chips(e.tags, 'tag') : h('span', { class: 'muted' }, 'none')),
      fact('Sources', (e.sources || []).join(', ') || '–'),
      fact('Updated', timeEl(e.updated_at))),
    h('section', { 'aria-labelledby': 'desc-h' }, h('h2', { id: 'desc-h', class: 'sr' }, 'Description'), desc),
    actions);
  box.dataset.userTags = userTags.join('\n');
  box.dataset.userOwners = userOwners.join('\n');
}

// The members a user set (source "user"): PATCH replaces exactly those.
function own(sources, all) {
  if (!sources) return [];
  return (all || []).filter((t) => (sources[t] || []).includes('user'));
}

function fact(k, v) {
  return h('div', null, h('dt', null, k), h('dd', null, v));
}

function edit(box, e, ctx) {
  const userTags = own(e.tag_sources, e.tags);
  const userOwners = own(e.owner_sources, e.owners);
  const otherTags = (e.tags || []).filter((t) => !userTags.includes(t));
  const otherOwners = (e.owners || []).filter((t) => !userOwners.includes(t));
  const ta = h('textarea', { id: 'edit-desc', rows: 8, value: e.description || '' });
  const tags = h('input', { id: 'edit-tags', type: 'text', value: userTags.join(', ') });
  const owners = h('input', { id: 'edit-owners', type: 'text', value: userOwners.join(', ') });
  const msg = h('p', { class: 'form-msg', role: 'status' });
  const split = (v) => v.split(',').map((x) => x.trim()).filter(Boolean);
  const form = h('form', { class: 'edit-form', 'aria-label': 'Edit entity', on: { submit: async (ev) => {
    ev.preventDefault();
    msg.textContent = 'Saving…';
    try {
      const body = { tags: split(tags.value), owners: split(owners.value) };
      if (ta.value !== (e.description || '')) body.description = ta.value === '' ? null : ta.value;
      const after = await api(apiEntity(e.id), { method: 'PATCH', body });
      flash('Saved.', 'ok');
      Object.assign(e, after);
      drawHead(box, e, ctx);
    } catch (err) {
      msg.textContent = err instanceof ApiError ? err.hint + ' ' + err.message : String(err);
    }
  } } },
  h('label', { for: 'edit-desc' }, 'Description (Markdown; empty restores the collectors’ description)'), ta,
  h('label', { for: 'edit-tags' }, 'Your tags, comma separated'), tags,
  otherTags.length ? h('p', { class: 'muted small' }, 'Kept from collectors: ', otherTags.join(', ')) : null,
  h('label', { for: 'edit-owners' }, 'Your owners, comma separated'), owners,
  otherOwners.length ? h('p', { class: 'muted small' }, 'Kept from collectors: ', otherOwners.join(', ')) : null,
  h('div', { class: 'row' },
    h('button', { type: 'submit', class: 'btn primary', id: 'edit-save' }, 'Save'),
    h('button', { type: 'button', class: 'btn', on: { click: () => drawHead(box, e, ctx) } }, 'Cancel')),
  msg);
  const actions = box.querySelector('.actions');
  actions.replaceWith(form);
  ta.focus();
}

async function addToDashboard(e) {
  const p = e.properties || {};
  const body = { name: e.display_name || e.name, group: p.group || 'Discovered', icon: e.platform || 'service',
    description: typeof e.description === 'string' ? e.description.split('\n')[0].slice(0, 200) : '',
    entity: e.id };
  const href = [p.href, p.url, e.namespace].find((u) => typeof u === 'string' && /^https?:\/\//i.test(u));
  if (href) body.href = href;
  if (p.check && typeof p.check === 'object') body.check = p.check;
  try {
    await api('/api/v1/services', { method: 'POST', body });
    flash(`Added ${body.name} to the dashboard.`, 'ok');
  } catch (err) {
    flash((err.hint || '') + ' ' + err.message, 'bad');
  }
}

function drawTabs(box, e, active, ctx) {
  const list = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Entity details' });
  const panel = h('div', { class: 'tab-panel', role: 'tabpanel', tabindex: '0', id: 'tab-panel' });
  const btns = TABS.map(([t, label]) => {
    const n = t === 'schema' ? (e.fields || []).length : t === 'properties' ? Object.keys(e.properties || {}).length : null;
    return h('button', { type: 'button', role: 'tab', id: 'tab-' + t, 'aria-controls': 'tab-panel',
      'aria-selected': String(t === active), tabindex: t === active ? '0' : '-1', dataset: { tab: t },
      on: { click: () => select(t, true) } }, label, n !== null ? h('span', { class: 'count' }, String(n)) : null);
  });
  list.append(...btns);
  list.addEventListener('keydown', (ev) => {
    const i = btns.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (ev.key === 'ArrowRight') j = (i + 1) % btns.length;
    else if (ev.key === 'ArrowLeft') j = (i - 1 + btns.length) % btns.length;
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = btns.length - 1;
    if (j === null) return;
    ev.preventDefault();
    btns[j].focus();
    select(btns[j].dataset.tab, true);
  });
  fill(box, list, panel);
  let ctrl = null;
  const select = (t, user) => {
    for (const b of btns) {
      const on = b.dataset.tab === t;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
    }
    panel.setAttribute('aria-labelledby', 'tab-' + t);
    if (user) {
      const u = new URL(location.href);
      u.searchParams.set('tab', t);
      history.replaceState(null, '', u.pathname + u.search);
    }
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    ctx.signal.addEventListener('abort', () => ctrl.abort());
    clear(panel);
    TAB_RENDER[t](panel, e, ctrl.signal, ctx);
  };
  select(active, false);
}

const TAB_RENDER = {
  schema(panel, e) {
    const fields = e.fields || [];
    if (!fields.length) { add(panel, h('p', { class: 'muted' }, 'No fields.')); return; }
    const filter = h('input', { id: 'field-filter', type: 'search', placeholder: 'Filter fields', autocomplete: 'off' });
    const tbody = h('tbody');
    const count = h('span', { class: 'muted small', 'aria-live': 'polite' });
    const draw = () => {
      const f = filter.value.trim().toLowerCase();
      const rows = fields.filter((x) => !f || [x.name, x.type, x.description].some((v) => v && String(v).toLowerCase().includes(f)));
      fill(tbody, ...rows.slice(0, 2000).map((x) => h('tr', null,
        h('td', { class: 'mono' }, x.name), h('td', { class: 'mono' }, x.type || ''),
        h('td', null, x.nullable === true ? 'yes' : x.nullable === false ? 'no' : ''),
        h('td', null, x.description ? renderMarkdown(x.description) : ''))));
      count.textContent = `${rows.length} of ${fields.length} field${fields.length === 1 ? '' : 's'}` +
        (rows.length > 2000 ? ' (first 2000 shown)' : '');
    };
    filter.addEventListener('input', draw);
    add(panel, h('div', { class: 'row' }, h('label', { for: 'field-filter', class: 'sr' }, 'Filter fields'), filter, count),
      h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Type'),
          h('th', { scope: 'col' }, 'Nullable'), h('th', { scope: 'col' }, 'Description'))), tbody)));
    draw();
  },
  properties(panel, e) {
    const props = Object.entries(e.properties || {});
    const src = e.property_sources || {};
    add(panel, props.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Property'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Source'))),
        h('tbody', null, props.map(([k, v]) => h('tr', null, h('td', { class: 'mono' }, k),
          h('td', { class: 'mono wrap' }, typeof v === 'string' ? v : JSON.stringify(v)), h('td', null, src[k] || ''))))))
      : h('p', { class: 'muted' }, 'No properties.'));
    add(panel, edgeList('Upstream', e.upstream, e.upstream_total), edgeList('Downstream', e.downstream, e.downstream_total));
  },
  async lineage(panel, e, signal) {
    const { mountGraph } = await import('./graph.js');
    if (signal.aborted) return;
    const box = h('div', { class: 'graph graph-inline' });
    add(panel, box, h('p', null, h('a', { href: lineageUrl(e.id) }, 'Open the full lineage page')),
      edgeList('Upstream (direct)', e.upstream, e.upstream_total), edgeList('Downstream (direct)', e.downstream, e.downstream_total));
    await mountGraph(box, e.id, { depth: 2, direction: 'both', compact: true }, signal);
  },
  async history(panel, e, signal) {
    const LIMIT = 50;
    const list = h('ol', { class: 'history' });
    const more = h('div');
    add(panel, list, more);
    const load = async (offset) => {
      let r;
      try {
        r = await api(apiEntity(e.id) + '/history' + qs({ limit: LIMIT, offset }), { signal });
      } catch (err) {
        if (!signal.aborted) more.replaceChildren(errorBox(err, 'the history') || '');
        return;
      }
      if (!r.changes.length && !offset) list.replaceWith(h('p', { class: 'muted' }, 'No changes recorded.'));
      for (const c of r.changes)
        list.append(h('li', null, h('span', { class: 'hist-at' }, timeEl(c.at)),
          h('span', { class: 'badge' }, c.change), ' by ', h('strong', null, c.source),
          c.detail !== null && c.detail !== undefined
            ? h('details', null, h('summary', null, 'detail'), h('pre', { class: 'json' }, JSON.stringify(c.detail, null, 2))) : null));
      clear(more);
      if (offset + r.changes.length < r.total)
        more.append(h('button', { type: 'button', class: 'btn', on: { click: () => load(offset + LIMIT) } },
          `Show more (${r.total - offset - r.changes.length} left)`));
    };
    await load(0);
  },
  json(panel, e) {
    add(panel, h('pre', { class: 'json', tabindex: '0' }, JSON.stringify(e, null, 2)));
  },
};

function edgeList(title, edges, total) {
  edges = edges || [];
  return h('section', { class: 'edges' }, h('h3', null, `${title} (${total ?? edges.length})`),
    edges.length ? h('ul', null, edges.map((x) => h('li', null, h('a', { href: entityUrl(x.id) }, x.id),
      x.kind !== 'lineage' ? h('span', { class: 'badge' }, x.kind) : null,
      x.stale ? h('span', { class: 'badge warn' }, 'stale') : null,
      h('span', { class: 'muted small' }, ' via ', x.source))))
      : h('p', { class: 'muted' }, 'none'),
    total > edges.length ? h('p', { class: 'muted small' }, `${edges.length} of ${total} shown`) : null);
}
