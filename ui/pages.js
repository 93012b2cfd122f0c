// The inspector's pages. Each page is a factory returning
// { title, live: [kinds that refresh it], render(ctx) -> Node }; its own state (selection,
// filters) lives in the closure, so live refreshes keep it.
import {
  api, badge, button, copyButton, empty, h, pre, shortTime, table, time, toast, withResource,
} from './lib.js';

const enc = encodeURIComponent;

function header(title, ...tools) {
  return h('div', { class: 'page-head' }, h('h1', {}, title), h('div', { class: 'page-tools' }, ...tools));
}

function field(label, value, extra) {
  return h('div', { class: 'field' }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value ?? ''), extra);
}

// ---------------------------------------------------------------- Overview
function overview() {
  let started = Date.now();
  return {
    title: 'Overview',
    live: ['sms', 'email', 'chat', 'events', 'requests'],
    async render(ctx) {
      const [resources, clock, health] = await Promise.all([
        api('/_emulator/resources').then((d) => d.value), api('/_emulator/clock'), api('/_emulator/health'),
      ]);
      const [sms, emails, events] = await Promise.all([
        api(withResource('/_emulator/sms', ctx.resource)),
        api(withResource('/_emulator/emails', ctx.resource)),
        api('/_emulator/events').catch(() => ({ value: [] })),
      ]);
      const list = (v) => (Array.isArray(v) ? v : (v && v.value) || []);
      const res = resources.filter((r) => r.name === ctx.resource);
      const clockForm = h('form', { class: 'inline', id: 'clock-form' },
        h('input', { id: 'clock-advance', placeholder: 'e.g. 25h', size: 8, 'aria-label': 'Advance the clock by' }),
        h('button', { type: 'submit' }, 'Advance'));
      clockForm.addEventListener('submit', async (e) => {
        e.preventDefault();
        const advance = document.getElementById('clock-advance').value.trim();
        if (!advance) return;
        try { await api('/_emulator/clock', { method: 'POST', body: { advance } }); ctx.refresh(); } catch (err) { toast(err.message, true); }
      });
      return h('div', {},
        header('Overview', badge(`v${health.version}`)),
        h('div', { class: 'cards' },
          h('div', { class: 'card stat' }, h('span', { class: 'num' }, String(res[0] ? res[0].identities : 0)), h('a', { href: '#/identities' }, 'identities')),
          h('div', { class: 'card stat' }, h('span', { class: 'num' }, String(res[0] ? res[0].threads : 0)), h('a', { href: '#/chat' }, 'chat threads')),
          h('div', { class: 'card stat' }, h('span', { class: 'num' }, String(list(sms).length)), h('a', { href: '#/sms' }, 'SMS sent')),
          h('div', { class: 'card stat' }, h('span', { class: 'num' }, String(list(emails).length)), h('a', { href: '#/email' }, 'emails')),
          h('div', { class: 'card stat' }, h('span', { class: 'num' }, String(list(events).length)), h('a', { href: '#/events' }, 'events'))),
        h('section', { class: 'card' },
          h('h2', {}, 'Clock'),
          field('Emulator time', time(clock.now), clock.frozen ? badge('frozen', 'warn') : badge('running', 'ok')),
          field('Offset', `${clock.offsetMs} ms`),
          field('Page open for', `${Math.round((Date.now() - started) / 1000)} s`),
          h('div', { class: 'row' },
            clockForm,
            button(clock.frozen ? 'Unfreeze' : 'Freeze', async () => { await api('/_emulator/clock', { method: 'POST', body: { freeze: !clock.frozen } }); ctx.refresh(); }),
            button('Back to real time', async () => { await api('/_emulator/clock', { method: 'POST', body: { real: true } }); ctx.refresh(); }))),
        resources.map((r) => h('section', { class: 'card' },
          h('h2', {}, `Resource ${r.name}`),
          field('Resource id', r.resourceId),
          field('Location', r.location),
          field('Endpoint hosts', (r.hosts || []).join(', ')),
          field('Connection string', h('code', { class: 'secret' }, r.connectionString), copyButton(r.connectionString)),
          field('Phone numbers', (r.phoneNumbers || []).join(', ') || '—'),
          r.emailDomains ? field('Email domains', r.emailDomains.join(', ')) : null,
          r.entraClients ? field('Entra clients', r.entraClients.join(', ')) : null)),
        h('section', { class: 'card' },
          h('h2', {}, 'Trust the certificate'),
          h('p', {}, 'Clients that call the HTTPS endpoint need the emulator\'s certificate, or the CA bundle (the certificate plus this machine\'s roots).'),
          h('div', { class: 'row' },
            h('a', { class: 'btn', href: '/_emulator/tls-cert', download: 'acs-emulator.pem' }, 'Download certificate'),
            h('a', { class: 'btn', href: '/_emulator/tls-ca-bundle', download: 'acs-emulator-ca-bundle.pem' }, 'Download CA bundle'))));
    },
  };
}

// ---------------------------------------------------------------- Identities
/** The real-time notification sockets of one resource, from GET /_emulator/realtime. */
function liveSockets(data, ctx, refresh) {
  const rows = [];
  for (const u of data.users || []) {
    for (const s of u.sockets || []) if (s.resource === ctx.resource) rows.push({ user: u.user, ...s });
  }
  return h('section', { class: 'card', id: 'live-sockets' },
    h('h2', {}, 'Live sockets'),
    rows.length === 0
      ? h('p', { class: 'muted' }, 'No real-time notification socket is open. A browser app opens one with ChatClient.startRealtimeNotifications(); it shows up here within 2 s.')
      : table([
        ['User', (s) => h('code', {}, s.user)],
        ['Resource', (s) => s.resource],
        ['Since', (s) => time(s.connectedAt)],
        ['Transport', (s) => s.transport || 'websocket'],
        ['Origin', (s) => s.origin || '—'],
        ['Sent / acked / dropped', (s) => `${s.sent} / ${s.acknowledged} / ${s.dropped}`],
        ['', (s) => button('Disconnect', async () => {
          const done = await api(withResource('/_emulator/realtime/close', '', { user: s.user }), { method: 'POST' });
          toast(`Closed ${done.closed} socket${done.closed === 1 ? '' : 's'} of this user (the SDK reconnects)`);
          await refresh();
        }, { class: 'small warn', dataset: { action: 'disconnect' } })],
      ], rows));
}

function identities() {
  const issued = new Map();
  let scopes = 'chat,voip';
  let ctxNow = null;
  // Sockets open and close without a change record: polled (app.js runs this every 2 s while
  // the page is shown and the tab visible), and only this section is redrawn.
  const pollSockets = async () => {
    if (!ctxNow) return;
    const ctx = ctxNow;
    const data = await api('/_emulator/realtime');
    const old = document.getElementById('live-sockets');
    if (old && ctxNow === ctx) old.replaceWith(liveSockets(data, ctx, pollSockets));
  };
  return {
    title: 'Identities',
    // Identity writes publish no change record; a new journal entry may be one.
    live: ['chat', 'requests'],
    poll: { ms: 2000, run: pollSockets },
    async render(ctx) {
      ctxNow = ctx;
      const [data, sockets] = await Promise.all([
        api(withResource('/_emulator/identities', ctx.resource)),
        api('/_emulator/realtime').catch(() => ({ users: [] })),
      ]);
      const list = Array.isArray(data) ? data : data.value || [];
      const path = (id, rest = '') => withResource(`/_emulator/identities/${enc(id)}${rest}`, ctx.resource);
      const scopeInput = h('input', { id: 'token-scopes', value: scopes, size: 14, 'aria-label': 'Scopes of issued tokens' });
      scopeInput.addEventListener('change', () => { scopes = scopeInput.value; });
      return h('div', {},
        header('Identities',
          h('label', {}, 'Token scopes ', scopeInput),
          button('New identity', async () => { await api(withResource('/_emulator/identities', ctx.resource), { method: 'POST' }); ctx.refresh(); })),
        list.length === 0 ? empty('No identities yet.', 'Create one with the Identity SDK (CommunicationIdentityClient.create_user), a fixture, or the New identity button.')
          : table([
            ['Identity', (u) => h('div', {}, h('code', {}, u.id), u.name ? h('div', { class: 'muted' }, u.name) : null)],
            ['Created', (u) => time(u.createdOn)],
            ['State', (u) => (u.deletedOn ? badge('deleted', 'bad') : badge('active', 'ok'))],
            ['Tokens issued here', (u) => {
              const t = issued.get(u.id);
              return t ? h('div', {}, h('div', { class: 'muted' }, `scopes ${t.scopes}, expires ${time(t.expiresOn)}`), copyButton(t.token, 'Copy token')) : '';
            }],
            ['', (u) => (u.deletedOn ? '' : h('div', { class: 'row' },
              button('Issue token', async () => {
                const s = scopes.split(',').map((x) => x.trim()).filter(Boolean);
                const t = await api(path(u.id, '/token'), { method: 'POST', body: { scopes: s } });
                issued.set(u.id, { ...t, scopes: s.join(', ') });
                toast('Token issued');
                ctx.refresh();
              }, { class: 'small' }),
              button('Revoke tokens', async () => {
                await api(path(u.id, '/revoke'), { method: 'POST' });
                issued.delete(u.id);
                toast('Every token of this identity is revoked');
                ctx.refresh();
              }, { class: 'small warn', dataset: { action: 'revoke' } }),
              button('Delete', async () => {
                if (!confirm('Delete this identity? Its tokens stop working.')) return;
                await api(path(u.id), { method: 'DELETE' });
                ctx.refresh();
              }, { class: 'small danger' })))],
          ], list),
        liveSockets(sockets, ctx, pollSockets));
    },
  };
}

// ---------------------------------------------------------------- Chat
/** How long a typing notification shows (the Chat SDK repeats it every 8 s while typing). */
const TYPING_MS = 8000;

function chat() {
  let selected = '';
  let sender = '';
  let draft = '';
  // threadId → Map(sender → {name, until}); fed only by the live stream's `typing` messages.
  const typing = new Map();
  let names = new Map();
  const typingText = (threadId) => {
    const now = Date.now();
    const who = [...(typing.get(threadId) || new Map()).entries()]
      .filter(([, t]) => t.until > now)
      .map(([id, t]) => t.name || names.get(id) || id.slice(-12));
    if (!who.length) return '';
    return `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…`;
  };
  const showTyping = () => {
    const el = document.getElementById('typing');
    if (el) el.textContent = typingText(selected);
  };
  return {
    title: 'Chat',
    live: ['chat'],
    typing(data) {
      if (!data) { typing.clear(); showTyping(); return; }
      if (!typing.has(data.threadId)) typing.set(data.threadId, new Map());
      typing.get(data.threadId).set(data.sender, { name: data.senderDisplayName || '', until: Date.now() + TYPING_MS });
      showTyping();
      setTimeout(showTyping, TYPING_MS + 50);
    },
    async render(ctx) {
      const data = await api(withResource('/_emulator/chat/threads', ctx.resource));
      const threads = Array.isArray(data) ? data : data.value || [];
      if (!selected && threads.length) selected = threads[threads.length - 1].id;
      const thread = threads.find((t) => t.id === selected);
      const list = h('ul', { class: 'list', 'aria-label': 'Threads' }, threads.slice().reverse().map((t) => {
        const li = h('li', { tabindex: 0, class: t.id === selected ? 'selected' : '' },
          h('div', { class: 'title' }, t.topic || '(no topic)'),
          h('div', { class: 'muted' }, `${t.participants.length} participants · ${t.messageCount} messages`, t.deletedOn ? ' · deleted' : ''));
        const pick = () => { selected = t.id; ctx.refresh(); };
        li.addEventListener('click', pick);
        li.addEventListener('keydown', (e) => { if (e.key === 'Enter') pick(); });
        return li;
      }));
      if (!threads.length) {
        return h('div', {}, header('Chat'), empty('No chat threads yet.', 'Create one with ChatClient.create_chat_thread, or declare one in a fixture.'));
      }
      let detail = h('div', {}, empty('Pick a thread.'));
      if (thread) {
        const [msgs, receiptData] = await Promise.all([
          api(withResource(`/_emulator/chat/threads/${enc(thread.id)}/messages`, ctx.resource)),
          api(withResource(`/_emulator/chat/threads/${enc(thread.id)}/readReceipts`, ctx.resource)).catch(() => ({ value: [] })),
        ]);
        const receipts = receiptData.value || [];
        const messages = (Array.isArray(msgs) ? msgs : msgs.value || []).slice().sort((a, b) => Number(a.sequenceId) - Number(b.sequenceId));
        const people = thread.participants.map((p) => ({ id: p.communicationIdentifier?.rawId || p.communicationIdentifier?.communicationUser?.id || '', name: p.displayName || '' }));
        if (!people.some((p) => p.id === sender)) sender = people[0] ? people[0].id : '';
        names = new Map(people.filter((p) => p.name).map((p) => [p.id, p.name]));
        const nameOf = (id) => names.get(id) || id.slice(-12);
        // Who read up to each message (their latest receipt).
        const readBy = new Map();
        for (const r of receipts) {
          const id = r.senderCommunicationIdentifier?.rawId || '';
          if (!readBy.has(r.chatMessageId)) readBy.set(r.chatMessageId, []);
          readBy.get(r.chatMessageId).push(nameOf(id));
        }
        const who = h('select', { id: 'chat-sender', 'aria-label': 'Send as' }, people.map((p) => h('option', { value: p.id }, p.name ? `${p.name} (${p.id.slice(-8)})` : p.id)));
        who.value = sender;
        who.addEventListener('change', () => { sender = who.value; });
        const input = h('input', { id: 'chat-input', placeholder: 'Message', value: draft, autocomplete: 'off', 'aria-label': 'Message' });
        input.addEventListener('input', () => { draft = input.value; });
        const form = h('form', { class: 'composer', id: 'chat-form' }, who, input, h('button', { type: 'submit' }, 'Send'));
        form.addEventListener('submit', async (e) => {
          e.preventDefault();
          if (!draft.trim() || !sender) return;
          const name = (people.find((p) => p.id === sender) || {}).name;
          try {
            await api(withResource(`/_emulator/chat/threads/${enc(thread.id)}/messages`, ctx.resource), { method: 'POST', body: { senderId: sender, content: draft, senderDisplayName: name || undefined } });
            draft = '';
            input.value = '';
            ctx.refresh();
          } catch (err) { toast(err.message, true); }
        });
        detail = h('div', { class: 'thread' },
          h('h2', {}, thread.topic || '(no topic)'),
          h('div', { class: 'muted' }, h('code', {}, thread.id)),
          h('div', { class: 'participants' }, 'Participants: ', thread.participants.map((p) => badge(p.displayName || (p.communicationIdentifier?.rawId || '').slice(-12)))),
          h('div', { class: 'conversation', id: 'conversation' }, messages.length === 0 ? empty('No messages yet.') : messages.map((m) => {
            const system = m.type !== 'text' && m.type !== 'html';
            const from = m.senderCommunicationIdentifier?.rawId || '';
            const content = m.content || {};
            if (system) {
              return h('div', { class: 'msg system' }, `${m.type}${content.topic ? `: ${content.topic}` : ''}`, ' · ', shortTime(m.createdOn));
            }
            return h('div', { class: from === sender ? 'msg mine' : 'msg' },
              h('div', { class: 'meta' }, m.senderDisplayName || from.slice(-12), ' · ', shortTime(m.createdOn), m.editedOn ? ' · edited' : '', m.deletedOn ? ' · deleted' : ''),
              h('div', { class: 'body' }, content.message ?? ''),
              readBy.has(m.id) ? h('div', { class: 'meta read' }, `Read by ${readBy.get(m.id).join(', ')}`) : null);
          })),
          h('div', { class: 'typing muted', id: 'typing', 'aria-live': 'polite' }, typingText(thread.id)),
          form,
          h('section', { id: 'read-receipts' },
            h('h3', {}, 'Read receipts'),
            receipts.length === 0 ? h('p', { class: 'muted' }, 'No read receipts yet. ChatThreadClient.send_read_receipt(message_id) sends one.')
              : table([
                ['Participant', (r) => nameOf(r.senderCommunicationIdentifier?.rawId || '')],
                ['Read up to', (r) => {
                  const m = messages.find((x) => x.id === r.chatMessageId);
                  return m ? `${(m.content?.message ?? m.type ?? '').slice(0, 60)} (#${m.sequenceId})` : h('code', {}, r.chatMessageId);
                }],
                ['Read on', (r) => time(r.readOn)],
              ], receipts)));
      }
      const node = h('div', {}, header('Chat'), h('div', { class: 'split' }, list, detail));
      setTimeout(() => { const c = document.getElementById('conversation'); if (c) c.scrollTop = c.scrollHeight; }, 0);
      return node;
    },
  };
}

// ---------------------------------------------------------------- SMS
function sms() {
  let pair = '';
  return {
    title: 'SMS',
    live: ['sms'],
    async render(ctx) {
      const data = await api(withResource('/_emulator/sms', ctx.resource));
      const all = data.value || [];
      const pairs = new Map();
      for (const m of all) {
        const key = `${m.from} → ${m.to}`;
        if (!pairs.has(key)) pairs.set(key, []);
        pairs.get(key).push(m);
      }
      const keys = [...pairs.keys()].reverse();
      if (!pairs.has(pair)) pair = keys[0] || '';
      const resource = ctx.resources.find((r) => r.name === ctx.resource) || {};
      const inbound = h('form', { class: 'card inline', id: 'inbound-form' },
        h('strong', {}, 'Simulate inbound SMS '),
        h('input', { id: 'inbound-from', placeholder: 'From, e.g. +14255550123', size: 16, 'aria-label': 'From' }),
        h('select', { id: 'inbound-to', 'aria-label': 'To' }, (resource.phoneNumbers || []).map((n) => h('option', { value: n }, n))),
        h('input', { id: 'inbound-text', placeholder: 'Message', 'aria-label': 'Inbound message' }),
        h('button', { type: 'submit' }, 'Receive'));
      inbound.addEventListener('submit', async (e) => {
        e.preventDefault();
        const body = { from: document.getElementById('inbound-from').value.trim(), to: document.getElementById('inbound-to').value, message: document.getElementById('inbound-text').value };
        try {
          await api(withResource('/_emulator/sms/inbound', ctx.resource), { method: 'POST', body });
          toast('SMSReceived published (see Events)');
        } catch (err) { toast(err.message, true); }
      });
      const optOuts = (await api(withResource('/_emulator/sms/optouts', ctx.resource)).catch(() => ({ value: [] }))).value || [];
      const optOutCard = h('section', { class: 'card', id: 'sms-optouts' },
        h('h2', {}, `Opt-outs (${optOuts.length})`),
        optOuts.length === 0
          ? h('p', { class: 'muted' }, 'Nobody opted out. SmsClient opt-outs (POST /sms/optouts:add) land here; a send to an opted-out recipient fails for that recipient.')
          : table([
            ['From', (o) => o.from],
            ['To', (o) => o.to],
            ['', (o) => button('Remove', async () => {
              await api(withResource('/_emulator/sms/optouts', ctx.resource, { from: o.from, to: o.to }), { method: 'DELETE' });
              toast(`${o.to} opted back in to ${o.from}`);
              ctx.refresh();
            }, { class: 'small warn', dataset: { action: 'opt-in' } })],
          ], optOuts));
      const head = header('SMS',
        button('Clear outbox', async () => { await api(withResource('/_emulator/sms', ctx.resource), { method: 'DELETE' }); ctx.refresh(); }, { class: 'danger' }));
      if (!all.length) {
        return h('div', {}, head, inbound, optOutCard, empty('No SMS sent yet.', 'Send one with SmsClient.send(from_=…, to=…, message=…) using this resource\'s connection string; it appears here at once.'));
      }
      const list = h('ul', { class: 'list', 'aria-label': 'Conversations' }, keys.map((k) => {
        const msgs = pairs.get(k);
        const last = msgs[msgs.length - 1];
        const li = h('li', { tabindex: 0, class: k === pair ? 'selected' : '' },
          h('div', { class: 'title' }, k),
          h('div', { class: 'muted preview' }, last.message),
          h('div', { class: 'muted' }, `${msgs.length} message${msgs.length > 1 ? 's' : ''} · ${shortTime(last.sentAt)}`));
        const pick = () => { pair = k; ctx.refresh(); };
        li.addEventListener('click', pick);
        li.addEventListener('keydown', (e) => { if (e.key === 'Enter') pick(); });
        return li;
      }));
      const msgs = pairs.get(pair) || [];
      const conv = h('div', { class: 'thread' },
        h('h2', {}, pair),
        h('div', { class: 'conversation', id: 'sms-conversation' }, msgs.map((m) => h('div', { class: 'msg mine sms' },
          h('div', { class: 'meta' }, shortTime(m.sentAt), ' · ', `${m.segments} segment${m.segments > 1 ? 's' : ''} ${m.encoding}`, m.tag ? ` · tag ${m.tag}` : ''),
          h('div', { class: 'body' }, m.message),
          h('div', { class: 'meta' }, m.enableDeliveryReport ? `delivery report ${m.deliveryReportAt ? `at ${shortTime(m.deliveryReportAt)}` : 'pending'}` : 'no delivery report', ' · ', h('code', {}, m.messageId))))));
      return h('div', {}, head, inbound, h('div', { class: 'split' }, list, conv), optOutCard);
    },
  };
}

// ---------------------------------------------------------------- Email
function email() {
  let selected = '';
  let search = '';
  let tab = 'html';
  return {
    title: 'Email',
    live: ['email'],
    async render(ctx) {
      const data = await api(withResource('/_emulator/emails', ctx.resource));
      const all = (data.value || []).slice().reverse();
      const q = search.toLowerCase();
      const shown = q ? all.filter((m) => [m.subject, m.senderAddress, ...(m.recipients?.to || []).map((r) => r.address), m.plainText || ''].join(' ').toLowerCase().includes(q)) : all;
      if (!shown.some((m) => m.id === selected)) selected = shown[0] ? shown[0].id : '';
      const box = h('input', { id: 'email-search', type: 'search', placeholder: 'Search subject, sender, recipient, text', value: search, 'aria-label': 'Search emails' });
      box.addEventListener('input', () => { search = box.value; ctx.refresh(); });
      const head = header('Email', box,
        button('Delete all', async () => { await api(withResource('/_emulator/emails', ctx.resource), { method: 'DELETE' }); selected = ''; ctx.refresh(); }, { class: 'danger' }));
      if (!all.length) {
        return h('div', {}, head, empty('The inbox is empty.', 'Send an email with EmailClient.begin_send(…) through this resource; it appears here at once, with its HTML, text, headers and attachments.'));
      }
      const list = h('ul', { class: 'list', 'aria-label': 'Emails' }, shown.map((m) => {
        const li = h('li', { tabindex: 0, class: m.id === selected ? 'selected' : '' },
          h('div', { class: 'title' }, m.subject || '(no subject)'),
          h('div', { class: 'muted' }, `${m.senderAddress} → ${(m.recipients?.to || []).map((r) => r.address).join(', ')}`),
          h('div', { class: 'muted' }, shortTime(m.sentAt), ' ', badge(m.status || ''), (m.attachments || []).length ? ` · ${m.attachments.length} attachment(s)` : ''));
        const pick = () => { selected = m.id; ctx.refresh(); };
        li.addEventListener('click', pick);
        li.addEventListener('keydown', (e) => { if (e.key === 'Enter') pick(); });
        return li;
      }));
      let detail = empty('No email matches the search.');
      if (selected) {
        const m = await api(withResource(`/_emulator/emails/${enc(selected)}`, ctx.resource));
        const base = `/_emulator/emails/${enc(m.id)}`;
        const who = (list2) => (list2 || []).map((r) => (r.displayName ? `${r.displayName} <${r.address}>` : r.address)).join(', ');
        const tabs = [['html', 'HTML'], ['text', 'Text'], ['headers', 'Headers'], ['raw', 'Raw']];
        const tabBar = h('div', { class: 'tabs', role: 'tablist' }, tabs.map(([k, label]) => {
          const b = h('button', { type: 'button', role: 'tab', 'aria-selected': String(tab === k), class: tab === k ? 'tab on' : 'tab', id: `email-tab-${k}` }, label);
          b.addEventListener('click', () => { tab = k; ctx.refresh(); });
          return b;
        }));
        let body;
        if (tab === 'html') {
          body = m.html
            ? h('iframe', { class: 'email-html', id: 'email-html', title: 'Email HTML (sandboxed)', sandbox: '', referrerpolicy: 'no-referrer', src: withResource(`/_emulator/ui/emails/${enc(m.id)}/html`, ctx.resource) })
            : empty('This email has no HTML body.');
        } else if (tab === 'text') {
          body = h('pre', { class: 'code', id: 'email-text' }, m.plainText ?? '(no plain text body)');
        } else if (tab === 'headers') {
          const rows = [
            ['Message-ID', m.internetMessageId], ['From', m.senderAddress], ['To', who(m.recipients?.to)],
            ['Cc', who(m.recipients?.cc)], ['Reply-To', who(m.replyTo)], ['Subject', m.subject],
            ['Date', m.sentAt], ...Object.entries(m.headers || {}),
          ].filter(([, v]) => v);
          body = table([['Header', ([k]) => k], ['Value', ([, v]) => v]], rows);
        } else {
          const raw = await fetch(withResource(`${base}/raw`, ctx.resource), { credentials: 'same-origin' }).then((r) => r.text());
          body = h('pre', { class: 'code' }, raw);
        }
        detail = h('div', { class: 'thread' },
          h('h2', {}, m.subject || '(no subject)'),
          field('From', m.senderAddress),
          field('To', who(m.recipients?.to)),
          (m.recipients?.cc || []).length ? field('Cc', who(m.recipients.cc)) : null,
          (m.recipients?.bcc || []).length ? field('Bcc', who(m.recipients.bcc)) : null,
          field('Sent', time(m.sentAt), badge(m.status || '')),
          (m.attachments || []).length ? field('Attachments', h('span', {}, m.attachments.map((a) => h('a', {
            class: 'attachment', href: withResource(`${base}/attachments/${a.index}`, ctx.resource), download: a.name,
          }, `${a.name} (${a.contentType}, ${a.size} bytes)`)))) : null,
          h('div', { class: 'row' },
            h('a', { class: 'btn small', href: withResource(`${base}/raw`, ctx.resource), download: `${m.id}.eml` }, 'Download .eml')),
          tabBar, h('div', { class: 'tab-body' }, body));
      }
      return h('div', {}, head, h('div', { class: 'split' }, list, detail));
    },
  };
}

// ---------------------------------------------------------------- Events
function events() {
  let open = '';
  let stateFilter = '';
  const key = (r) => `${r.subscription}/${r.id}`;
  const redeliver = async (r, ctx) => {
    const done = await api(withResource(`/_emulator/events/${enc(r.id)}/redeliver`, '', { subscription: r.subscription }), { method: 'POST' });
    toast(`Queued again (${done.queued})`);
    ctx.refresh();
  };
  const attemptsTable = (r) => (r.deliveryAttempts || []).length === 0
    ? h('p', { class: 'muted' }, r.state === 'pending' ? 'Not tried yet.' : 'No delivery attempt was made (see the last result).')
    : table([
      ['#', (a) => String(a.n)],
      ['Time', (a) => time(a.at)],
      ['Subscription', (a) => a.subscription],
      ['Result', (a) => (a.status ? badge(`HTTP ${a.status}`, a.status < 300 ? 'ok' : 'bad') : badge('no answer', 'bad'))],
      ['Error', (a) => a.error || ''],
      ['ms', (a) => (typeof a.durationMs === 'number' ? a.durationMs.toFixed(1) : '')],
    ], r.deliveryAttempts.map((a, i) => ({ ...a, n: i + 1 })).reverse());
  return {
    title: 'Events',
    live: ['events', 'sms', 'email', 'chat'],
    async render(ctx) {
      const [subs, data] = await Promise.all([
        api('/_emulator/events/subscriptions'), api(withResource('/_emulator/events', '', { state: stateFilter })),
      ]);
      const subsList = subs.value || [];
      const records = (data.value || []).slice().reverse();
      const kind = (s) => ({ delivered: 'ok', pending: 'warn', deadlettered: 'bad' })[s] || '';
      const form = h('form', { class: 'inline', id: 'subscription-form' },
        h('input', { id: 'sub-name', placeholder: 'name (3-64 letters, digits, -)', size: 22, 'aria-label': 'Subscription name' }),
        h('input', { id: 'sub-endpoint', placeholder: 'https://… webhook', size: 32, 'aria-label': 'Webhook endpoint' }),
        h('label', {}, h('input', { type: 'checkbox', id: 'sub-skip' }), ' skip validation handshake'),
        h('button', { type: 'submit' }, 'Subscribe'));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        try {
          await api('/_emulator/events/subscriptions', { method: 'POST', body: { name: document.getElementById('sub-name').value.trim() || undefined, endpoint: document.getElementById('sub-endpoint').value.trim(), skipValidation: document.getElementById('sub-skip').checked } });
          ctx.refresh();
        } catch (err) { toast(err.message, true); }
      });
      const selected = records.find((r) => key(r) === open);
      const st = h('select', { id: 'events-state', 'aria-label': 'State' }, [['', 'any state'], ['pending', 'pending'], ['delivered', 'delivered'], ['deadlettered', 'dead letters']].map(([v, label]) => h('option', { value: v }, label)));
      st.value = stateFilter;
      // Another state is another list: nothing in it is open yet (a click on a row opens it).
      st.addEventListener('change', () => { stateFilter = st.value; open = ''; ctx.refresh(); });
      return h('div', {},
        header('Events', st, button('Clear history', async () => { await api('/_emulator/events', { method: 'DELETE' }); ctx.refresh(); }, { class: 'danger' })),
        h('section', { class: 'card' }, h('h2', {}, 'Webhook subscriptions'),
          subsList.length === 0 ? h('p', { class: 'muted' }, 'None yet. Events are built and kept for each subscription: add one here, with --event-webhook URL, or in a fixture.')
            : table([
              ['Name', (s) => s.name], ['Endpoint', (s) => s.endpoint], ['Types', (s) => (s.eventTypes || []).join(', ') || 'all'],
              ['Schema', (s) => s.schema || ''], ['Validation', (s) => s.validation || ''],
              ['Pending', (s) => String(s.pending ?? '')], ['Delivered', (s) => String(s.delivered ?? '')], ['Dead-lettered', (s) => String(s.deadLettered ?? '')],
              ['', (s) => button('Delete', async () => { await api(`/_emulator/events/subscriptions/${enc(s.name)}`, { method: 'DELETE' }); ctx.refresh(); }, { class: 'small danger' })],
            ], subsList),
          form),
        records.length === 0 && stateFilter ? empty(`No ${stateFilter === 'deadlettered' ? 'dead letters' : `${stateFilter} events`}.`, 'Pick "any state" to see every event.')
        : records.length === 0 ? empty('No events yet.', subsList.length ? 'Send an SMS, an email or a chat message; each event the real service would publish shows up here with its delivery attempts.' : 'Add a webhook subscription first.')
          : table([
            ['Published', (r) => shortTime(r.publishedAt)],
            ['Type', (r) => r.eventType || ''],
            ['Subject', (r) => r.subject || ''],
            ['Subscription', (r) => r.subscription || ''],
            ['State', (r) => badge(r.state || '', kind(r.state))],
            ['Attempts', (r) => String(r.attempts ?? '')],
            ['Last result', (r) => [r.lastStatus ? `HTTP ${r.lastStatus}` : '', r.lastError || '', r.deadLetterReason || ''].filter(Boolean).join(' · ')],
            ['', (r) => {
              if (r.state === 'pending') return '';
              const b = button('Redeliver', () => redeliver(r, ctx), { class: 'small', dataset: { action: 'redeliver' }, title: 'Queue this event again for this subscription' });
              b.addEventListener('click', (e) => e.stopPropagation()); // not the row's toggle
              return b;
            }],
          ], records, { onRow: (r) => { open = open === key(r) ? '' : key(r); ctx.refresh(); }, selected: (r) => key(r) === open }),
        selected ? h('section', { class: 'card', id: 'event-detail' },
          h('h2', {}, selected.eventType),
          field('Event id', h('code', {}, selected.id)),
          field('Subscription', selected.subscription),
          field('State', badge(selected.state, kind(selected.state)), selected.deadLetterReason ? ` ${selected.deadLetterReason}` : ''),
          selected.completedAt ? field(selected.state === 'delivered' ? 'Delivered' : 'Dead-lettered', time(selected.completedAt)) : null,
          h('h3', {}, `Delivery attempts (${selected.attempts} in this round; the newest 32 kept)`),
          h('div', { id: 'event-attempts' }, attemptsTable(selected)),
          h('h3', {}, 'Event'),
          pre(selected.event)) : null);
    },
  };
}

// ---------------------------------------------------------------- Requests
function requests() {
  let filter = '';
  let status = '';
  let open = '';
  let paused = false;
  return {
    title: 'Requests',
    live: ['requests'],
    paused: () => paused,
    async render(ctx) {
      const data = await api(withResource('/_emulator/journal', '', { limit: 500 }));
      const all = (Array.isArray(data) ? data : data.value || []).slice().reverse();
      const f = filter.toLowerCase();
      const shown = all.filter((r) => (!f || `${r.method} ${r.path} ${r.operation || ''} ${r.rule || ''}`.toLowerCase().includes(f))
        && (!status || String(r.status).startsWith(status)));
      const box = h('input', { id: 'requests-filter', type: 'search', placeholder: 'Filter method, path, operation, rule', value: filter, 'aria-label': 'Filter requests' });
      box.addEventListener('input', () => { filter = box.value; ctx.refresh(); });
      const st = h('select', { id: 'requests-status', 'aria-label': 'Status' }, ['', '2', '3', '4', '5'].map((s) => h('option', { value: s }, s ? `${s}xx` : 'any status')));
      st.value = status;
      st.addEventListener('change', () => { status = st.value; ctx.refresh(); });
      const pause = button(paused ? 'Resume' : 'Pause', async () => { paused = !paused; ctx.refresh(); });
      const cls = (s) => (s >= 500 ? 'bad' : s >= 400 ? 'warn' : 'ok');
      const selected = all.find((r) => String(r.seq) === open);
      return h('div', {},
        header('Requests', box, st, pause, button('Clear', async () => { await api('/_emulator/journal', { method: 'DELETE' }); ctx.refresh(); }, { class: 'danger' })),
        shown.length === 0 ? empty(all.length ? 'No request matches the filter.' : 'No requests yet.', 'Every ACS API call (Identity, Chat, SMS, Email, Entra ID) is journaled here with its operation, status, duration, authentication and the scenario rule that answered it.')
          : table([
            ['Time', (r) => shortTime(r.time)],
            ['Method', (r) => r.method],
            ['Path', (r) => h('code', {}, r.path)],
            ['Operation', (r) => r.operation || ''],
            ['Status', (r) => badge(String(r.status), cls(r.status))],
            ['ms', (r) => (typeof r.durationMs === 'number' ? r.durationMs.toFixed(1) : '')],
            ['Auth', (r) => r.auth || ''],
            ['Rule', (r) => r.rule || ''],
          ], shown, { onRow: (r) => { open = open === String(r.seq) ? '' : String(r.seq); ctx.refresh(); }, selected: (r) => String(r.seq) === open }),
        selected ? h('section', { class: 'card', id: 'request-detail' }, h('h2', {}, `${selected.method} ${selected.path}`),
          field('Resource', selected.resource || ''), field('api-version', selected.apiVersion || ''),
          selected.requestBody !== undefined ? h('div', {}, h('h3', {}, 'Request body'), pre(selected.requestBody)) : null,
          selected.responseBody !== undefined ? h('div', {}, h('h3', {}, 'Response body'), pre(selected.responseBody)) : null,
          h('h3', {}, 'Entry'), pre(selected)) : null);
    },
  };
}

// ---------------------------------------------------------------- Scenarios
function scenarios() {
  return {
    title: 'Scenarios',
    live: ['requests'],
    async render(ctx) {
      const [list, verify, fixtures] = await Promise.all([
        api('/_emulator/scenarios'), api('/_emulator/verify').catch((e) => ({ error: e.message })), api('/_emulator/fixtures'),
      ]);
      const file = h('input', { type: 'file', id: 'fixture-file', accept: '.yaml,.yml,.json', 'aria-label': 'Fixture file' });
      const load = button('Load fixture', async () => {
        const f = file.files && file.files[0];
        if (!f) { toast('Pick a fixture file first', true); return; }
        const text = await f.text();
        const res = await fetch('/_emulator/fixtures', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': f.name.endsWith('.json') ? 'application/json' : 'application/yaml' }, body: text });
        if (!res.ok) throw new Error(`${res.status}: ${await res.text()}`);
        toast('Fixture loaded');
        ctx.refresh();
      });
      return h('div', {},
        header('Scenarios', file, load),
        h('section', { class: 'card' }, h('h2', {}, 'Rules and state machines'), pre(list)),
        h('section', { class: 'card' }, h('h2', {}, 'verify'), pre(verify)),
        h('section', { class: 'card' }, h('h2', {}, 'Loaded fixtures'), pre(fixtures)));
    },
  };
}

export const pages = {
  overview, identities, chat, sms, email, events, requests, scenarios,
};
