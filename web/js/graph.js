// The lineage graph: Graphviz's SVG from GET /api/v1/lineage?format=svg,
// parsed and cleaned (no scripts, no event attributes, no foreign links),
// with pan and zoom (drag, wheel, buttons, keyboard) and in-app links.
import { h, api, qs, entityUrl, errorBox, saveBlob, fmtNum, fill, add } from './core.js';

const XLINK = 'http://www.w3.org/1999/xlink';
const ALLOWED = new Set(['svg', 'g', 'path', 'polygon', 'polyline', 'ellipse', 'circle', 'rect',
  'line', 'text', 'tspan', 'title', 'a', 'defs', 'lineargradient', 'radialgradient', 'stop']);

// Keep only drawing elements and plain attributes; links only to /entity/.
export function cleanSvg(text) {
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const root = doc.documentElement;
  if (!root || root.nodeName !== 'svg' || doc.getElementsByTagName('parsererror').length)
    throw new Error('the server sent an SVG that cannot be read');
  const walk = (el) => {
    for (const child of [...el.children]) {
      if (!ALLOWED.has(child.localName.toLowerCase())) { child.remove(); continue; }
      walk(child);
    }
    for (const attr of [...el.attributes]) {
      const n = attr.localName.toLowerCase();
      if (n.startsWith('on') || n === 'style') el.removeAttributeNode(attr);
      else if (n === 'href') {
        const v = attr.value;
        el.removeAttributeNode(attr);
        const m = v.match(/^\/entity\/([^?#]+)$/); // render.c: /entity/<encoded id>
        if (m) {
          let id;
          try { id = decodeURIComponent(m[1]); } catch { id = null; }
          if (id !== null) {
            el.setAttribute('href', entityUrl(id));
            el.dataset.id = id;
          }
        }
      }
    }
  };
  walk(root);
  return document.importNode(root, true);
}

// Mount a graph view for ID into BOX.  opts: {depth, direction, onChange(params),
// compact}.  Resolves once the first picture is shown.
export async function mountGraph(box, id, opts, signal) {
  let depth = opts.depth, direction = opts.direction;
  const note = h('p', { class: 'graph-note', role: 'status' });
  const stage = h('div', { class: 'graph-stage', tabindex: '0', role: 'group',
    'aria-label': 'Lineage graph: drag or use arrow keys to pan, + and - to zoom, 0 to fit; Tab to the nodes, Enter opens one' });
  const depthSel = h('select', { id: 'lg-depth-' + (opts.compact ? 'c' : 'p') },
    [0, 1, 2, 3, 4, 5, 6, 8, 10].map((d) => h('option', { value: d, selected: d === depth }, String(d))));
  const dirSel = h('select', { id: 'lg-dir-' + (opts.compact ? 'c' : 'p') },
    [['both', 'Both'], ['upstream', 'Upstream'], ['downstream', 'Downstream']].map(([v, l]) =>
      h('option', { value: v, selected: v === direction }, l)));
  const zoomBtns = h('span', { class: 'zoom' },
    h('button', { type: 'button', class: 'btn small', 'aria-label': 'Zoom in', on: { click: () => view && view.zoom(1 / 1.25) } }, '+'),
    h('button', { type: 'button', class: 'btn small', 'aria-label': 'Zoom out', on: { click: () => view && view.zoom(1.25) } }, '−'),
    h('button', { type: 'button', class: 'btn small', on: { click: () => view && view.fit() } }, 'Fit'));
  const dl = (fmt) => async () => {
    try {
      const resp = await api('/api/v1/lineage' + qs({ nodeId: id, depth, direction, format: fmt }), { raw: true });
      saveBlob(await resp.blob(), 'lineage.' + fmt);
    } catch (e) { note.textContent = e.hint || e.message; }
  };
  const controls = h('div', { class: 'graph-controls' },
    h('label', { for: depthSel.id }, 'Depth '), depthSel,
    h('label', { for: dirSel.id }, 'Direction '), dirSel,
    zoomBtns,
    h('span', { class: 'dl' },
      h('button', { type: 'button', class: 'btn small', on: { click: dl('svg') } }, 'Download SVG'),
      h('button', { type: 'button', class: 'btn small', on: { click: dl('dot') } }, 'Download DOT')));
  fill(box, controls, note, stage);

  let view = null;
  let seq = 0;
  const load = async () => {
    const my = ++seq;
    stage.setAttribute('aria-busy', 'true');
    note.textContent = '';
    try {
      const p = { nodeId: id, depth, direction };
      const [svgText, json] = await Promise.all([
        api('/api/v1/lineage' + qs(Object.assign({ format: 'svg' }, p)), { raw: true, signal }).then((r) => r.text()),
        api('/api/v1/lineage' + qs(Object.assign({ format: 'json' }, p)), { signal }),
      ]);
      if (my !== seq || signal.aborted) return;
      const svg = cleanSvg(svgText);
      // The current node: Graphviz marks the root with class "root".
      for (const a of svg.querySelectorAll('a[data-id]'))
        if (a.dataset.id === id) a.setAttribute('aria-current', 'page');
      fill(stage, svg);
      view = panZoom(stage, svg);
      const n = (json.nodes || []).length, e = (json.edges || []).length;
      note.textContent = `${n} node${n === 1 ? '' : 's'}, ${e} edge${e === 1 ? '' : 's'}.`;
      if (json.omitted > 0) {
        note.append(' ', h('strong', { class: 'omitted' },
          `${fmtNum(json.omitted)} more node${json.omitted === 1 ? ' was' : 's were'} left out by the per-hop cap`),
        ' (each node expands a bounded number of neighbours; boxes marked “+N more” have more).');
        note.classList.add('warn');
      } else note.classList.remove('warn');
    } catch (err) {
      if (signal.aborted || (err && err.name === 'AbortError')) return;
      fill(stage, errorBox(err, 'the lineage graph'));
    } finally {
      stage.setAttribute('aria-busy', 'false');
    }
  };
  const changed = () => {
    depth = Number(depthSel.value);
    direction = dirSel.value;
    if (opts.onChange) opts.onChange({ depth, direction });
    load();
  };
  depthSel.addEventListener('change', changed);
  dirSel.addEventListener('change', changed);
  await load();
}

// Pan and zoom by rewriting the SVG's viewBox.
function panZoom(stage, svg) {
  const vb0 = (svg.getAttribute('viewBox') || '0 0 100 100').split(/[\s,]+/).map(Number);
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
  // The home view: the whole graph, but never drawn above 1.5 times its size.
  const home = vb0.slice();
  const sr = stage.getBoundingClientRect();
  const fitScale = Math.min(sr.width / vb0[2], sr.height / vb0[3]);
  if (fitScale > 1.5) {
    const k = fitScale / 1.5;
    home[0] -= (vb0[2] * k - vb0[2]) / 2;
    home[1] -= (vb0[3] * k - vb0[3]) / 2;
    home[2] *= k;
    home[3] *= k;
  }
  let [x, y, w, hgt] = home;
  const set = () => svg.setAttribute('viewBox', `${x} ${y} ${w} ${hgt}`);
  const zoom = (f, cx, cy) => {
    const nw = Math.min(home[2] * 8, Math.max(vb0[2] / 20, w * f));
    const k = nw / w;
    if (cx === undefined) { cx = x + w / 2; cy = y + hgt / 2; }
    x = cx - (cx - x) * k;
    y = cy - (cy - y) * k;
    w *= k; hgt *= k;
    set();
  };
  const fit = () => { [x, y, w, hgt] = home; set(); };
  const toSvg = (ev) => {
    const r = svg.getBoundingClientRect();
    const scale = Math.max(w / r.width, hgt / r.height);
    const ox = x + (w - r.width * scale) / 2, oy = y + (hgt - r.height * scale) / 2;
    return [ox + (ev.clientX - r.left) * scale, oy + (ev.clientY - r.top) * scale, scale];
  };
  let drag = null;
  let moved = false;
  stage.onpointerdown = (ev) => {
    if (ev.button !== 0) return;
    drag = { px: ev.clientX, py: ev.clientY, x, y, scale: toSvg(ev)[2] };
    moved = false;
  };
  stage.onpointermove = (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.px, dy = ev.clientY - drag.py;
    if (!moved && Math.hypot(dx, dy) < 4) return;
    if (!moved) { moved = true; stage.setPointerCapture(ev.pointerId); stage.classList.add('dragging'); }
    x = drag.x - dx * drag.scale;
    y = drag.y - dy * drag.scale;
    set();
  };
  const end = () => { drag = null; stage.classList.remove('dragging'); };
  stage.onpointerup = end;
  stage.onpointercancel = end;
  // A drag is not a click on the node under the pointer.
  stage.addEventListener('click', (ev) => { if (moved) { ev.preventDefault(); ev.stopPropagation(); moved = false; } }, true);
  stage.onwheel = (ev) => {
    ev.preventDefault();
    const [cx, cy] = toSvg(ev);
    zoom(ev.deltaY > 0 ? 1.15 : 1 / 1.15, cx, cy);
  };
  stage.onkeydown = (ev) => {
    if (ev.target !== stage && !['+', '-', '=', '0'].includes(ev.key)) return;
    const step = w / 10;
    const k = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
    if (k) { x += k[0]; y += k[1]; set(); ev.preventDefault(); }
    else if (ev.key === '+' || ev.key === '=') { zoom(1 / 1.25); ev.preventDefault(); }
    else if (ev.key === '-') { zoom(1.25); ev.preventDefault(); }
    else if (ev.key === '0') { fit(); ev.preventDefault(); }
  };
  set();
  return { zoom, fit };
}
