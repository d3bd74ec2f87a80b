// Lineage: /lineage/<id>?depth=&direction=
// The Graphviz picture with pan and zoom; nodes open their entity pages.
import { h, api, apiEntity, entityUrl, lineageUrl, icon, entityLabel, ready, fill } from './core.js';
import { mountGraph } from './graph.js';

export async function render(ctx) {
  const { main, param: id, query, signal } = ctx;
  const depth = Math.max(0, Math.min(20, parseInt(query.get('depth') || '3', 10) || 0));
  const dir = ['both', 'upstream', 'downstream'].includes(query.get('direction')) ? query.get('direction') : 'both';
  document.title = 'Lineage of ' + id + ' · Terrarium';
  const title = h('h1', null, 'Lineage');
  const sub = h('p', { class: 'lineage-root' }, icon('generic'), ' ', h('a', { href: entityUrl(id) }, id));
  const box = h('div', { class: 'graph graph-page' });
  fill(main, title, sub, box);
  // The entity's label, without holding up the picture.
  api(apiEntity(id), { signal }).then((e) => {
    title.textContent = 'Lineage of ' + entityLabel(e);
    document.title = title.textContent + ' · Terrarium';
    sub.replaceChildren(icon(e.kind, 'kind ' + e.kind), ' ', h('a', { href: entityUrl(id) }, id));
  }).catch(() => {});
  await mountGraph(box, id, {
    depth, direction: dir,
    onChange: (p) => history.replaceState(null, '', lineageUrl(id, p)),
  }, signal);
  if (!signal.aborted) ready('lineage');
}
