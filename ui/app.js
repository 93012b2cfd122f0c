// The inspector's shell: pages by URL hash, the resource selector, the theme, the login form and
// the live stream (Server-Sent Events from /_emulator/ui/stream).
import { api, h, mount, toast } from './lib.js';
import { pages } from './pages.js';

const state = {
  resource: localStorage.getItem('acs-ui-resource') || '',
  resources: [],
  page: null,
  name: '',
  source: null,
  timer: null,
  pending: new Set(),
  poller: null,
};

const view = document.getElementById('view');

function pageName() {
  const name = (location.hash.replace(/^#\/?/, '').split('/')[0] || 'overview');
  return pages[name] ? name : 'overview';
}

async function loadResources() {
  state.resources = (await api('/_emulator/resources')).value;
  const select = document.getElementById('resource');
  const names = state.resources.map((r) => r.name);
  if (!names.includes(state.resource)) state.resource = names[0] || '';
  mount(select, names.map((n) => h('option', { value: n }, n)));
  select.value = state.resource;
  document.getElementById('resource-box').hidden = names.length < 2;
}

/** Shows the current page (again). */
async function render() {
  const name = pageName();
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (state.name !== name) {
    state.name = name;
    state.page = pages[name]();
    mount(view, h('p', { class: 'muted' }, 'Loading…'));
    startPolling(state.page);
  }
  document.title = `${state.page.title} · ACS Emulator`;
  await refresh();
}

async function refresh() {
  const page = state.page;
  if (!page) return;
  try {
    const node = await page.render({ resource: state.resource, resources: state.resources, refresh });
    if (page === state.page && node) {
      // Keep the focused control and the scroll position across live refreshes.
      const active = document.activeElement && document.activeElement.id;
      // What the user was typing survives a live refresh.
      const typed = new Map();
      for (const el of view.querySelectorAll('input[id]:not([type=file]):not([type=checkbox]), select[id]')) {
        typed.set(el.id, el.value);
      }
      if (state.shown !== page) typed.clear();
      state.shown = page;
      for (const [id, value] of typed) {
        const el = node.querySelector(`#${CSS.escape(id)}`);
        if (el && el.value !== value && (el.tagName !== 'SELECT' || [...el.options].some((o) => o.value === value))) el.value = value;
      }
      mount(view, node);
      if (active) document.getElementById(active)?.focus();
    }
  } catch (err) {
    if (err.status === 401) return;
    mount(view, h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, 'Could not load this page'), h('p', { class: 'error' }, err.message)));
  }
}

/**
 * A page's `poll: { ms, run }`: what the live stream does not announce (sockets opening and
 * closing), fetched every `ms` while this page is shown and the browser tab is visible.
 */
function startPolling(page) {
  if (state.poller) { clearInterval(state.poller); state.poller = null; }
  if (!page.poll) return;
  state.poller = setInterval(() => {
    if (state.page !== page || document.visibilityState !== 'visible') return;
    page.poll.run().catch(() => { /* the next tick tries again */ });
  }, page.poll.ms);
}

/** Re-renders the page soon when what it shows changed (several changes, one refresh). */
function changed(kind) {
  if (!state.page || !state.page.live || !state.page.live.includes(kind)) return;
  if (state.page.paused && state.page.paused()) return;
  state.pending.add(kind);
  if (state.timer) return;
  state.timer = setTimeout(() => {
    state.timer = null;
    state.pending.clear();
    refresh();
  }, 80);
}

function connect() {
  if (state.source) state.source.close();
  const live = document.getElementById('live');
  const source = new EventSource('/_emulator/ui/stream');
  state.source = source;
  source.addEventListener('hello', () => { live.textContent = 'live'; live.className = 'live on'; });
  source.addEventListener('change', (e) => {
    let data = {};
    try { data = JSON.parse(e.data); } catch { /* ignore */ }
    if (!data.resource || data.resource === state.resource) changed(data.area);
  });
  source.addEventListener('typing', (e) => {
    let data = {};
    try { data = JSON.parse(e.data); } catch { return; }
    if (data.resource === state.resource && state.page && state.page.typing) state.page.typing(data);
  });
  source.addEventListener('requests', () => changed('requests'));
  source.addEventListener('events', () => changed('events'));
  source.addEventListener('resync', () => { for (const k of ['sms', 'email', 'chat', 'events', 'requests']) changed(k); });
  source.onerror = () => {
    live.textContent = 'reconnecting…';
    live.className = 'live off';
    // What only the stream tells (typing) is stale without it.
    if (state.page && state.page.typing) state.page.typing(null);
  };
}

function theme(next) {
  const value = next || localStorage.getItem('acs-ui-theme') || '';
  if (value) document.documentElement.dataset.theme = value;
  else delete document.documentElement.dataset.theme;
  if (next) localStorage.setItem('acs-ui-theme', next);
}

function showLogin() {
  document.getElementById('login').hidden = false;
  document.getElementById('login-token').focus();
  if (state.source) { state.source.close(); state.source = null; }
}

async function start() {
  try {
    await loadResources();
  } catch (err) {
    if (err.status === 401) { showLogin(); return; }
    throw err;
  }
  document.getElementById('login').hidden = true;
  connect();
  await render();
}

document.getElementById('resource').addEventListener('change', (e) => {
  state.resource = e.target.value;
  localStorage.setItem('acs-ui-resource', state.resource);
  state.name = '';
  render();
});
document.getElementById('theme').addEventListener('click', () => {
  const dark = document.documentElement.dataset.theme === 'dark'
    || (!document.documentElement.dataset.theme && matchMedia('(prefers-color-scheme: dark)').matches);
  theme(dark ? 'light' : 'dark');
});
document.getElementById('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = document.getElementById('login-error');
  error.textContent = '';
  try {
    await api('/_emulator/ui/login', { method: 'POST', body: { token: document.getElementById('login-token').value } });
    document.getElementById('login-token').value = '';
    await start();
  } catch (err) {
    error.textContent = err.status === 401 ? 'That is not the control token.' : err.message;
  }
});
window.addEventListener('needs-login', showLogin);
document.addEventListener('visibilitychange', () => {
  // Back in view: catch up at once instead of waiting for the next tick.
  if (document.visibilityState === 'visible' && state.page && state.page.poll) state.page.poll.run().catch(() => {});
});
window.addEventListener('hashchange', render);
document.addEventListener('keydown', (e) => {
  // Alt+1…8 switch pages.
  if (e.altKey && e.key >= '1' && e.key <= '8') {
    const links = document.querySelectorAll('#nav a');
    const a = links[Number(e.key) - 1];
    if (a) { location.hash = a.getAttribute('href'); e.preventDefault(); }
  }
});

theme();
start().catch((err) => toast(err.message || String(err), true));
