// A small, safe Markdown renderer: text in, DOM nodes out, never HTML.
// Blocks: paragraphs, headings (#..###), bullet and numbered lists, fenced
// code, block quotes.  Inline: `code`, **strong**, *em* / _em_,
// [text](url) and bare URLs, with http(s) links only (others stay text).
import { h } from './core.js';

const SAFE_URL = /^https?:\/\/[^\s<>"']+$/i;

export function renderMarkdown(src) {
  const frag = document.createDocumentFragment();
  const lines = String(src || '').replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  const MAX = 5000; // blocks; a description is at most 64 KiB
  let blocks = 0;
  while (i < lines.length && blocks++ < MAX) {
    const line = lines[i];
    if (/^\s*$/.test(line)) { i++; continue; }
    const fence = line.match(/^\s*(```|~~~)/);
    if (fence) {
      const code = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) code.push(lines[i++]);
      i++;
      frag.append(h('pre', null, h('code', null, code.join('\n'))));
      continue;
    }
    const head = line.match(/^(#{1,6})\s+(.*)$/);
    if (head) {
      const level = Math.min(6, head[1].length + 2); // the page's own h1/h2 come first
      frag.append(h('h' + level, { class: 'md-h' }, inline(head[2])));
      i++;
      continue;
    }
    if (/^\s*([-*+]|\d{1,9}[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = h(ordered ? 'ol' : 'ul');
      while (i < lines.length && /^\s*([-*+]|\d{1,9}[.)])\s+/.test(lines[i])) {
        let item = lines[i].replace(/^\s*([-*+]|\d{1,9}[.)])\s+/, '');
        i++;
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) &&
               !/^\s*([-*+]|\d{1,9}[.)])\s+/.test(lines[i]))
          item += ' ' + lines[i++].trim();
        list.append(h('li', null, inline(item)));
      }
      frag.append(list);
      continue;
    }
    if (/^\s*>/.test(line)) {
      const q = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) q.push(lines[i++].replace(/^\s*>\s?/, ''));
      frag.append(h('blockquote', null, renderMarkdown(q.join('\n'))));
      continue;
    }
    const para = [];
    while (i < lines.length && !/^\s*$/.test(lines[i]) && !/^\s*(```|~~~|#{1,6}\s|>)/.test(lines[i]) &&
           !/^\s*([-*+]|\d{1,9}[.)])\s+/.test(lines[i]))
      para.push(lines[i++].trim());
    frag.append(h('p', null, inline(para.join(' '))));
  }
  return frag;
}

// Inline spans, left to right; the earliest match wins.
const INLINE = [
  { re: /`([^`]+)`/, make: (m) => h('code', null, m[1]) },
  { re: /\*\*([^*]+?)\*\*|__([^_]+?)__/, make: (m) => h('strong', null, inline(m[1] || m[2])) },
  { re: /\*([^*\s][^*]*?)\*|(?<![A-Za-z0-9])_([^_\s][^_]*?)_(?![A-Za-z0-9])/, make: (m) => h('em', null, inline(m[1] || m[2])) },
  { re: /\[([^\]]+)\]\(([^)\s]+)\)/, make: (m) => link(m[1], m[2]) },
  { re: /https?:\/\/[^\s<>()"']+[^\s<>()"'.,;:!?]/, make: (m) => link(m[0], m[0]) },
];

function link(text, url) {
  if (!SAFE_URL.test(url)) return document.createTextNode(text);
  return h('a', { href: url, rel: 'noopener noreferrer nofollow', target: '_blank' }, inline(text));
}

function inline(text, depth = 0) {
  const out = [];
  let rest = String(text);
  while (rest) {
    let best = null;
    if (depth < 8) {
      for (const r of INLINE) {
        const m = r.re.exec(rest);
        if (m && (!best || m.index < best.m.index)) best = { m, r };
      }
    }
    if (!best) { out.push(document.createTextNode(rest)); break; }
    if (best.m.index) out.push(document.createTextNode(rest.slice(0, best.m.index)));
    out.push(best.r.make(best.m, depth + 1));
    rest = rest.slice(best.m.index + best.m[0].length);
  }
  return out;
}
