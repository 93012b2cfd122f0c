// Small helpers shared by the inspector's pages. Every value that came from a client is put in
// the page with textContent (through h()), never parsed as HTML.

/** Builds an element: h('div', {class: 'x', onclick: fn}, 'text', child, [children]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value') {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A control API error with its status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the control API; JSON in and out. Throws ApiError on a non-2xx answer. */
export async function api(path, options = {}) {
  const init = { method: options.method || 'GET', credentials: 'same-origin', headers: {} };
  if (options.body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  const res = await fetch(path, init);
  if (res.status === 401) window.dispatchEvent(new CustomEvent('needs-login'));
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    const message = data && data.error ? `${data.error.code}: ${data.error.message}`
      : data && data.title ? `${data.title}: ${data.detail || ''}` : `HTTP ${res.status}`;
    throw new ApiError(res.status, message);
  }
  return data;
}

/** `path?resource=…&more` */
export function withResource(path, resource, params = {}) {
  const q = new URLSearchParams();
  if (resource) q.set('resource', resource);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

/** A local time with seconds, or '' */
export function time(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString();
}

/** A short relative/absolute time for lists. */
export function shortTime(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleTimeString();
}

/** A button that runs an async action and reports its error. */
export function button(label, action, attrs = {}) {
  const b = h('button', { type: 'button', ...attrs }, label);
  b.addEventListener('click', async (ev) => {
    ev.preventDefault();
    b.disabled = true;
    try { await action(ev); } catch (err) { toast(err.message || String(err), true); }
    finally { b.disabled = false; }
  });
  return b;
}

/** Copies text and says so. */
export function copyButton(text, label = 'Copy') {
  return button(label, async () => {
    await navigator.clipboard.writeText(text);
    toast('Copied');
  }, { class: 'small', title: 'Copy to the clipboard' });
}

/** A brief message at the bottom of the screen. */
export function toast(message, error = false) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: error ? 'toast error' : 'toast', role: 'status' }, message);
  box.appendChild(t);
  setTimeout(() => t.remove(), error ? 6000 : 2500);
}

/** An empty state: what is missing and what to do next. */
export function empty(title, ...hint) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), h('p', {}, ...hint));
}

/** A table from rows: columns = [[label, row => cell]]. */
export function table(columns, rows, opts = {}) {
  return h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, columns.map(([label]) => h('th', {}, label)))),
    h('tbody', {}, rows.map((row) => {
      const tr = h('tr', opts.onRow ? { tabindex: 0, class: opts.selected && opts.selected(row) ? 'clickable selected' : 'clickable' } : {},
        columns.map(([, cell]) => h('td', {}, cell(row))));
      if (opts.onRow) {
        tr.addEventListener('click', () => opts.onRow(row));
        tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') opts.onRow(row); });
      }
      return tr;
    })));
}

/** A `<pre>` with pretty JSON, or the text as it is. */
export function pre(value) {
  let text = value;
  if (typeof value !== 'string') text = JSON.stringify(value, null, 2);
  else {
    try { text = JSON.stringify(JSON.parse(value), null, 2); } catch { /* as it is */ }
  }
  return h('pre', { class: 'code' }, text ?? '');
}

/** A status badge. */
export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}` }, text);
}
