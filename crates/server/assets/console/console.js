// stompbox console: one STOMP client (stomp.js 7 over WebSocket or SockJS), a timeline of its
// connection (open, heart-beats, close), the close code explained from /api/closecodes, and the
// server's view (/api/sessions, /api/closes) refreshed every 2 s. No framework, no build step.
//
// Globals from the page: StompJs (/lib/stomp.umd.min.js) and SockJS (/lib/sockjs.min.js).

const params = new URLSearchParams(location.search);
/** The STOMP endpoint; `?endpoint=/path` when the server runs with another `--endpoint`. */
const ENDPOINT = params.get('endpoint') || '/test-ws';
const POLL_MS = 2000;
const FETCH_TIMEOUT_MS = 1500;
/** Codes explained ahead of time in both languages, so the explanation is at hand when the
 * close happened because the server is gone (1006 after a crash or a kill). */
const PREFETCH_CODES = [1000, 1001, 1002, 1005, 1006, 1007, 1008, 1009, 1011, 1012, 1015, 2010, 3000, 4408];
const MAX_TIMELINE = 400;
const MAX_FRAMES = 200;
const MAX_DEBUG = 400;
const MAX_BODY = 2000;

const $ = (id) => document.getElementById(id);

const I18N = {
  en: {
    reason: 'reason',
    sender: 'sent by',
    causes: 'Usual causes',
    fixes: 'What to do',
    ownClose: (c) =>
      `This connection (${c.transport}${c.session ? `, session ${c.session}` : ''}) closed at ${c.time}, ` +
      `${c.duration} after it opened; ${c.silence}.`,
    silence: (s) => (s == null ? 'nothing was received from the server' : `the last traffic from the server came ${s} before`),
    diagnosis: {
      idle: (d) =>
        `Nothing was due to cross the connection (${d.hb}) and nothing did for ${d.silence} before the cut. ` +
        `If something on the path has an idle timeout of about ${d.silence} (nginx proxy_read_timeout, a load balancer), ` +
        'it cut this quiet connection — the seed’s case; heart-beats at under half of it keep the connection open. ' +
        'Otherwise the server or the network went away.',
      stalled: (d) =>
        `The server's heart-beat (${d.hb}) was overdue: nothing arrived for ${d.silence} before the cut. ` +
        'The server or the path stalled first.',
      cut: (d) =>
        `Traffic was still arriving (${d.hb}; the last ${d.silence} before the close): not an idle timeout. ` +
        'The server process or the network went away — a crash, a kill, a restart, a network change.',
    },
    serverClose: (c) => `Session ${c.session} (${c.transport}) closed at ${c.time}, closed by ${c.by}${c.cause ? `; ${c.cause}` : ''}.`,
    unavailable: (e) => `Explanation unavailable right now (${e}); it will be fetched when the server answers again.`,
  },
  zh: {
    reason: '原因文本',
    sender: '发送方',
    causes: '常见原因',
    fixes: '怎么办',
    ownClose: (c) =>
      `本连接（${c.transport}${c.session ? `，会话 ${c.session}` : ''}）于 ${c.time} 关闭，建立后 ${c.duration}；${c.silence}。`,
    silence: (s) => (s == null ? '没有收到过服务端的任何数据' : `关闭前 ${s} 最后一次收到服务端数据`),
    diagnosis: {
      idle: (d) =>
        `连接上本来就没有应当传输的数据（${d.hb}），关闭前 ${d.silence} 内也确实没有任何数据。` +
        `如果链路上有约 ${d.silence} 的空闲超时（nginx 的 proxy_read_timeout、负载均衡器），就是它切断了这条安静的连接——` +
        '正是那篇文章里的情况；心跳间隔小于它的一半即可保持连接。否则就是服务端或网络消失了。',
      stalled: (d) => `服务端心跳（${d.hb}）已经逾期：关闭前 ${d.silence} 没有收到任何数据。是服务端或链路先停滞了。`,
      cut: (d) =>
        `关闭前仍在收到数据（${d.hb}；最后一次在关闭前 ${d.silence}）：不是空闲超时。` +
        '是服务端进程或网络消失了——崩溃、被 kill、重启、网络切换。',
    },
    serverClose: (c) => `会话 ${c.session}（${c.transport}）于 ${c.time} 关闭，关闭方：${c.by}${c.cause ? `；${c.cause}` : ''}。`,
    unavailable: (e) => `暂时无法获取解释（${e}）；服务端恢复后会自动获取。`,
  },
};

const state = {
  lang: initialLang(),
  conn: null, // the current (or last) connection
  connSeq: 0,
  /** `${code}:${lang}` -> registry entry */
  codes: new Map(),
  /** `${code}:${lang}` -> in-flight Promise */
  inflight: new Map(),
  /** what the explanation panel shows: { code, context } */
  explained: null,
  server: {
    state: 'unknown',
    lastOk: null,
    downSince: null,
    lastError: '',
    lastSessions: [],
    lastCloses: [],
  },
};

// ---------------------------------------------------------------------------------------------
// Small helpers.

function initialLang() {
  const q = params.get('lang');
  if (q === 'en' || q === 'zh') return q;
  try {
    const saved = localStorage.getItem('stompbox.lang');
    if (saved === 'en' || saved === 'zh') return saved;
  } catch {
    // storage unavailable
  }
  return 'en';
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'title' || k === 'type' || k === 'lang') {
      node.setAttribute(k, v === true ? '' : String(v));
    } else node[k] = v;
  }
  for (const c of children) {
    if (c == null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function clock(t = Date.now()) {
  const d = new Date(t);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function secs(ms) {
  if (ms == null || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  if (m < 120) return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function codeClass(code) {
  if (code === 1000) return 'ok';
  if (code === 1006 || code === 1011 || code === 1002 || code === 1007 || code === 1015) return 'bad';
  return 'warn';
}

async function getJson(path) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new Error(`no answer within ${FETCH_TIMEOUT_MS} ms`)), FETCH_TIMEOUT_MS);
  try {
    const res = await fetch(path, { signal: ctl.signal, cache: 'no-store' });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`${path}: HTTP ${res.status}, not JSON`);
    }
    if (!res.ok) {
      const err = new Error(body && body.error ? body.error : `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return body;
  } catch (e) {
    if (e.name === 'AbortError' || ctl.signal.aborted) throw new Error(`no answer within ${FETCH_TIMEOUT_MS} ms`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The close-code registry, cached per language.

function cachedCode(code, lang = state.lang) {
  return state.codes.get(`${code}:${lang}`);
}

function fetchCode(code, lang = state.lang) {
  const key = `${code}:${lang}`;
  if (state.codes.has(key)) return Promise.resolve(state.codes.get(key));
  if (state.inflight.has(key)) return state.inflight.get(key);
  const p = getJson(`/api/closecodes/${encodeURIComponent(code)}?lang=${lang}`)
    .then((entry) => {
      state.codes.set(key, entry);
      refreshCodeNames();
      return entry;
    })
    .finally(() => state.inflight.delete(key));
  state.inflight.set(key, p);
  return p;
}

async function prefetchCodes() {
  const langs = [state.lang, state.lang === 'en' ? 'zh' : 'en'];
  for (const lang of langs) {
    await Promise.allSettled(PREFETCH_CODES.map((c) => fetchCode(c, lang)));
  }
}

/** Fills every `[data-code-name]` placeholder whose entry has arrived. */
function refreshCodeNames() {
  for (const node of document.querySelectorAll('[data-code-name]')) {
    const entry = cachedCode(node.dataset.codeName);
    if (entry && node.textContent !== entry.name) node.textContent = entry.name;
  }
}

function codeName(code) {
  const span = el('span', { class: 'code-name', 'data-code-name': code });
  const entry = cachedCode(code);
  if (entry) span.textContent = entry.name;
  else fetchCode(code).catch(() => {});
  return span;
}

function codeButton(code, context, reason) {
  const btn = el(
    'button',
    {
      type: 'button',
      class: `code-badge ${codeClass(code)}`,
      'data-code': code,
      title: 'Explain this close code',
    },
    el('span', { class: 'num', text: String(code) }),
    ' ',
    codeName(code),
  );
  btn.addEventListener('click', () => explain(code, context, reason));
  return btn;
}

// ---------------------------------------------------------------------------------------------
// The explanation panel.

/** `context(lang)` returns the sentence that says whose close this is; `reason` its reason text. */
function explain(code, context, reason) {
  state.explained = { code, context, reason };
  renderExplanation();
}

function renderExplanation() {
  const ex = state.explained;
  const panel = $('explain');
  if (!ex) return;
  const lang = state.lang;
  const t = I18N[lang];
  panel.dataset.code = String(ex.code);
  panel.dataset.lang = lang;
  panel.setAttribute('lang', lang);
  $('explain-empty').hidden = true;
  for (const node of panel.querySelectorAll('[data-i18n]')) node.textContent = t[node.dataset.i18n];
  $('close-context').textContent = ex.context ? ex.context(lang) : '';
  $('close-code').textContent = String(ex.code);
  $('close-code').className = `code-badge ${codeClass(ex.code)}`;
  $('close-reason').textContent = ex.reason === undefined ? '' : JSON.stringify(ex.reason);
  $('close-reason').hidden = ex.reason === undefined;
  $('close-reason').previousElementSibling.hidden = ex.reason === undefined;

  const entry = cachedCode(ex.code, lang);
  if (!entry) {
    $('explain-body').hidden = false;
    for (const id of ['close-name', 'close-constant', 'close-sender', 'close-meaning', 'close-notes']) $(id).textContent = '';
    $('close-causes').replaceChildren();
    $('close-fixes').replaceChildren();
    $('explain-error').hidden = true;
    fetchCode(ex.code, lang).then(
      () => {
        if (state.explained === ex && state.lang === lang) renderExplanation();
      },
      (e) => {
        if (state.explained !== ex || state.lang !== lang) return;
        const err = $('explain-error');
        err.hidden = false;
        err.textContent = I18N[lang].unavailable(e.message);
        ex.pending = true;
      },
    );
    return;
  }
  ex.pending = false;
  $('explain-error').hidden = true;
  $('explain-body').hidden = false;
  $('close-name').textContent = entry.name;
  $('close-constant').textContent = entry.constant || '';
  $('close-sender').textContent = entry.sender || '';
  $('close-meaning').textContent = entry.meaning || '';
  $('close-causes').replaceChildren(...(entry.causes || []).map((c) => el('li', { text: c })));
  $('close-fixes').replaceChildren(...(entry.fixes || []).map((c) => el('li', { text: c })));
  $('close-notes').textContent = entry.notes || '';
  $('close-notes').hidden = !entry.notes;
}

function setLang(lang) {
  state.lang = lang;
  try {
    localStorage.setItem('stompbox.lang', lang);
  } catch {
    // storage unavailable
  }
  for (const b of document.querySelectorAll('.lang button')) {
    b.setAttribute('aria-pressed', String(b.dataset.lang === lang));
  }
  renderExplanation();
  refreshCodeNames();
}

// ---------------------------------------------------------------------------------------------
// Timeline.

function timeline(conn, kind, text, extra = {}) {
  const list = $('timeline');
  const t = Date.now();
  const rel = conn && conn.startedAt ? `+${secs(t - conn.startedAt)}` : '';
  const li = el(
    'li',
    { class: `ev ev-${kind}`, 'data-kind': kind, 'data-conn': conn ? conn.id : null, ...extra },
    el('span', { class: 'when' }, el('time', { class: 'at', text: clock(t) }), el('span', { class: 'rel', text: rel })),
    el('span', { class: 'kind', text: KIND_LABEL[kind] || kind }),
  );
  const body = el('span', { class: 'text' });
  if (text instanceof Node) body.append(text);
  else body.textContent = text;
  li.append(body);
  list.append(li);
  while (list.children.length > MAX_TIMELINE) list.firstElementChild.remove();
  if (conn) conn.hbRow = null; // the next heart-beat starts a new run
  list.scrollTop = list.scrollHeight;
  return li;
}

const KIND_LABEL = {
  connecting: 'connect',
  open: 'open',
  connected: 'CONNECTED',
  heartbeats: 'heart-beat',
  subscribe: 'SUBSCRIBE',
  send: 'SEND',
  disconnect: 'DISCONNECT',
  receipt: 'RECEIPT',
  error: 'ERROR',
  'socket-error': 'error',
  close: 'close',
};

/**
 * Heart-beats are collapsed: consecutive ones form one row that counts SockJS `h` frames,
 * STOMP EOLs received (stomp.js logs `<<< PONG`) and sent (`>>> PING`), with the last time.
 */
function heartbeat(conn, dir) {
  if (!conn || conn.closed) return;
  const now = Date.now();
  conn.hb[dir] += 1;
  if (dir === 'h') {
    if (conn.lastH) conn.hGap = now - conn.lastH;
    conn.lastH = now;
  }
  if (dir !== 'out') conn.lastInbound = now;
  let row = conn.hbRow;
  if (!row || !row.isConnected) {
    row = timeline(conn, 'heartbeats', '');
    row.dataset.h = '0';
    row.dataset.in = '0';
    row.dataset.out = '0';
    conn.hbRow = row;
  }
  row.dataset[dir] = String(Number(row.dataset[dir]) + 1);
  const parts = [];
  if (row.dataset.h !== '0') parts.push(`SockJS h ×${row.dataset.h}`);
  if (row.dataset.in !== '0') parts.push(`STOMP EOL in ×${row.dataset.in}`);
  if (row.dataset.out !== '0') parts.push(`STOMP EOL out ×${row.dataset.out}`);
  row.querySelector('.text').textContent = `${parts.join(' · ')} — last ${dir === 'out' ? 'sent' : 'received'} ${clock(now)}`;
  row.querySelector('.at').textContent = clock(now);
  row.querySelector('.rel').textContent = `+${secs(now - conn.startedAt)}`;
}

// ---------------------------------------------------------------------------------------------
// Frames received.

function addFrame(frame) {
  const list = $('frames');
  const headers = frame.headers || {};
  const shown = ['destination', 'subscription', 'message-id', 'receipt-id', 'message', 'content-type', 'session', 'version', 'heart-beat', 'server', 'user-name', 'redelivered'];
  const hdrs = shown.filter((h) => headers[h] !== undefined).map((h) => `${h}:${headers[h]}`);
  // stomp.js 7 keeps every incoming body as bytes; `body` decodes it as UTF-8.
  let body = frame.body || '';
  if (body.length > MAX_BODY) body = `${body.slice(0, MAX_BODY)}… (${body.length} chars)`;
  const li = el(
    'li',
    { class: `frame frame-${frame.command.toLowerCase()}`, 'data-command': frame.command },
    el('div', { class: 'frame-head' }, el('span', { class: 'cmd', text: frame.command }), el('time', { text: clock() })),
    hdrs.length ? el('div', { class: 'hdrs', text: hdrs.join('  ') }) : null,
    body ? el('pre', { class: 'body', text: body }) : null,
  );
  list.prepend(li);
  while (list.children.length > MAX_FRAMES) list.lastElementChild.remove();
}

// ---------------------------------------------------------------------------------------------
// The STOMP client.

function transportLabel(t) {
  return t === 'websocket' ? 'WebSocket' : t === 'sockjs' ? 'SockJS (auto)' : `SockJS (${t.slice('sockjs:'.length)})`;
}

function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${ENDPOINT}`;
}

function setConnState(s, detail = '') {
  const node = $('conn-state');
  node.dataset.state = s;
  node.textContent =
    { idle: 'not connected', connecting: 'connecting…', connected: 'connected', disconnecting: 'disconnecting…', closed: 'closed' }[s] || s;
  $('conn-detail').textContent = detail;
  const live = s === 'connected';
  $('connect').disabled = s === 'connecting' || s === 'connected' || s === 'disconnecting';
  $('disconnect').disabled = !(s === 'connecting' || s === 'connected');
  $('subscribe').disabled = !live;
  $('send').disabled = !live;
  for (const b of document.querySelectorAll('#subscriptions button')) b.disabled = !live;
  for (const id of ['transport', 'hb-out', 'hb-in', 'login', 'passcode']) $(id).disabled = !$('disconnect').disabled;
}

function makeSocket(conn) {
  let sock;
  if (conn.transport === 'websocket') {
    conn.url = wsUrl();
    sock = new WebSocket(conn.url, ['v12.stomp', 'v11.stomp', 'v10.stomp']);
  } else {
    conn.url = `${location.origin}${ENDPOINT}`;
    const forced = conn.transport.split(':')[1];
    sock = new SockJS(conn.url, null, forced ? { transports: [forced] } : {});
    // sockjs-client dispatches `heartbeat` for each `h` frame — and for xhr-streaming's 2 KiB
    // prelude of `h`s, which comes before the `o` (open) frame: only count those after open.
    sock.addEventListener('heartbeat', () => {
      if (conn.openedAt) heartbeat(conn, 'h');
      else debugLine(conn, 'SockJS heartbeat event before open (the xhr-streaming prelude): not a heart-beat');
    });
  }
  conn.socket = sock;
  sock.addEventListener('open', () => {
    conn.openedAt = Date.now();
    conn.lastInbound = conn.openedAt;
    const via = conn.transport === 'websocket' ? `subprotocol ${sock.protocol || '(none)'}` : `SockJS transport ${sock.transport || '?'}`;
    conn.via = conn.transport === 'websocket' ? 'websocket' : `sockjs/${sock.transport || '?'}`;
    timeline(conn, 'open', `socket open: ${via}`, { 'data-transport': conn.via });
    setConnState('connecting', `socket open (${conn.via}), waiting for CONNECTED`);
  });
  // The real socket's close event: the code the browser (or sockjs-client) reports.
  sock.addEventListener('close', (e) => onClose(conn, e));
  sock.addEventListener('error', () => {
    if (!conn.closed) timeline(conn, 'socket-error', 'socket error event (the close event that follows has the code)');
  });
  return sock;
}

function connect() {
  if (state.conn && !state.conn.closed) return;
  const transport = $('transport').value;
  const hbOut = Math.max(0, Number.parseInt($('hb-out').value, 10) || 0);
  const hbIn = Math.max(0, Number.parseInt($('hb-in').value, 10) || 0);
  const connectHeaders = {};
  if ($('login').value) connectHeaders.login = $('login').value;
  if ($('passcode').value) connectHeaders.passcode = $('passcode').value;

  const conn = {
    id: ++state.connSeq,
    transport,
    hbWanted: [hbOut, hbIn],
    startedAt: Date.now(),
    hb: { h: 0, in: 0, out: 0 },
    closed: false,
    userDisconnect: false,
    session: null,
    subs: new Map(),
    receiptSeq: 0,
  };
  state.conn = conn;
  delete $('conn-state').dataset.code;
  delete $('conn-state').dataset.session;
  $('subscriptions').replaceChildren();
  timeline(conn, 'connecting', `#${conn.id} ${transportLabel(transport)} → ${transport === 'websocket' ? wsUrl() : location.origin + ENDPOINT}; heart-beat ${hbOut},${hbIn}`, {
    'data-transport': transport,
  });
  setConnState('connecting', transportLabel(transport));

  const client = new StompJs.Client({
    webSocketFactory: () => makeSocket(conn),
    connectHeaders,
    heartbeatOutgoing: hbOut,
    heartbeatIncoming: hbIn,
    reconnectDelay: 0, // show the close; do not paper over it
    debug: (msg) => onDebug(conn, msg),
    onConnect: (frame) => onConnected(conn, frame),
    onStompError: (frame) => {
      conn.gotError = true;
      addFrame(frame);
      timeline(conn, 'error', `ERROR: ${frame.headers.message || ''}${frame.body ? ` — ${frame.body.slice(0, 200)}` : ''}`);
    },
    onUnhandledMessage: (frame) => addFrame(frame),
    onUnhandledReceipt: (frame) => addFrame(frame),
    onUnhandledFrame: (frame) => addFrame(frame),
    onDisconnect: (frame) => {
      addFrame(frame);
      timeline(conn, 'receipt', `RECEIPT ${frame.headers['receipt-id'] || ''} for DISCONNECT`);
    },
  });
  conn.client = client;
  client.activate();
}

function debugLine(conn, msg) {
  const pre = $('debug-log');
  const lines = pre.textContent ? pre.textContent.split('\n') : [];
  lines.push(`${clock()} [#${conn.id}] ${msg}`);
  pre.textContent = lines.slice(-MAX_DEBUG).join('\n');
}

function onDebug(conn, msg) {
  debugLine(conn, msg);
  if (conn.closed) return;
  if (msg === '<<< PONG') heartbeat(conn, 'in');
  else if (msg === '>>> PING') heartbeat(conn, 'out');
  else if (msg === 'Received data') conn.lastInbound = Date.now();
}

function onConnected(conn, frame) {
  if (conn.closed) return;
  addFrame(frame);
  const h = frame.headers;
  conn.session = h.session || null;
  conn.version = h.version || '1.0';
  // Negotiated heart-beats (STOMP 1.2 §Heart-beating): each side uses the larger wish, 0 = off.
  const [sx, sy] = (h['heart-beat'] || '0,0').split(',').map((n) => Number.parseInt(n, 10) || 0);
  const [cx, cy] = conn.hbWanted;
  const out = cx && sy ? Math.max(cx, sy) : 0;
  const inc = cy && sx ? Math.max(cy, sx) : 0;
  conn.hbNegotiated = [out, inc];
  const hb =
    conn.version === '1.0'
      ? 'no heart-beats in STOMP 1.0'
      : `heart-beat: client sends every ${out ? secs(out) : '— (off)'}, server every ${inc ? secs(inc) : '— (off)'}`;
  timeline(conn, 'connected', `STOMP ${conn.version}, session ${conn.session || '?'}${h['user-name'] ? `, user ${h['user-name']}` : ''}; ${hb}`, {
    'data-session': conn.session,
  });
  setConnState('connected', `${conn.via || transportLabel(conn.transport)} · session ${conn.session || '?'}`);
  $('conn-state').dataset.session = conn.session || '';
  pollSoon();
}

function nextReceipt(conn, what) {
  conn.receiptSeq += 1;
  return `${what}-${conn.receiptSeq}`;
}

function subscribe(dest) {
  const conn = state.conn;
  if (!conn || conn.closed || !conn.client.connected) return;
  const receipt = nextReceipt(conn, 'sub');
  conn.client.watchForReceipt(receipt, (f) => addFrame(f));
  const sub = conn.client.subscribe(dest, (msg) => addFrame(msg), { receipt });
  timeline(conn, 'subscribe', `SUBSCRIBE ${dest} (id ${sub.id}, receipt ${receipt})`);
  const btn = el('button', { type: 'button', class: 'small', text: 'unsubscribe', title: `Unsubscribe from ${dest}` });
  const li = el('li', { 'data-destination': dest, 'data-id': sub.id }, el('code', { text: dest }), ' ', btn);
  btn.addEventListener('click', () => {
    if (conn.closed) return;
    sub.unsubscribe();
    conn.subs.delete(sub.id);
    li.remove();
    timeline(conn, 'subscribe', `UNSUBSCRIBE ${dest} (id ${sub.id})`);
  });
  conn.subs.set(sub.id, li);
  $('subscriptions').append(li);
  pollSoon();
}

function send(dest, body) {
  const conn = state.conn;
  if (!conn || conn.closed || !conn.client.connected) return;
  const receipt = nextReceipt(conn, 'send');
  let contentType = 'text/plain';
  try {
    JSON.parse(body);
    contentType = 'application/json';
  } catch {
    // plain text
  }
  conn.client.watchForReceipt(receipt, (f) => addFrame(f));
  conn.client.publish({ destination: dest, body, headers: { receipt, 'content-type': contentType } });
  timeline(conn, 'send', `SEND ${dest} ${body.length > 80 ? `${body.slice(0, 80)}…` : body} (receipt ${receipt})`);
}

function disconnect() {
  const conn = state.conn;
  if (!conn || conn.closed) return;
  conn.userDisconnect = true;
  if (conn.client.connected) {
    timeline(conn, 'disconnect', 'DISCONNECT sent (with a receipt); the server answers RECEIPT and closes');
  } else {
    timeline(conn, 'disconnect', 'closing the socket (not connected yet)');
  }
  setConnState('disconnecting');
  conn.client.deactivate().catch(() => {});
}

function onClose(conn, e) {
  if (conn.closed) return;
  conn.closed = true;
  const now = Date.now();
  const code = e.code;
  const reason = e.reason || '';
  conn.close = { code, reason, wasClean: e.wasClean, at: now };
  const duration = conn.openedAt ? now - conn.openedAt : null;
  const silence = conn.lastInbound ? now - conn.lastInbound : null;
  let who;
  if (code === 1006) who = 'no Close frame: the connection was cut (abnormal)';
  else if (conn.userDisconnect) who = 'after our DISCONNECT';
  else if (conn.gotError) who = "the server closed it after its ERROR frame";
  else who = e.wasClean === false ? 'not clean' : 'Close frame received';
  const diagnosis = code === 1006 && conn.openedAt ? diagnose(conn, silence) : null;
  const context = (lang) =>
    I18N[lang].ownClose({
      transport: conn.via || transportLabel(conn.transport),
      session: conn.session,
      time: clock(now),
      duration: secs(duration),
      silence: I18N[lang].silence(silence != null && conn.openedAt ? secs(silence) : null),
    }) + (diagnosis ? ` ${I18N[lang].diagnosis[diagnosis.kind](diagnosis[lang])}` : '');
  const text = el(
    'span',
    {},
    codeButton(code, context, reason),
    ` reason ${JSON.stringify(reason)} — ${who}; ${conn.openedAt ? `open for ${secs(duration)}` : 'never opened'}` +
      `${silence != null ? `; last traffic from the server ${secs(silence)} before` : ''}`,
  );
  if (diagnosis) text.append(el('span', { class: 'diagnosis', text: ` ${I18N.en.diagnosis[diagnosis.kind](diagnosis.en)}` }));
  timeline(conn, 'close', text, { 'data-code': code, 'data-diagnosis': diagnosis ? diagnosis.kind : null });
  explain(code, context, reason);
  setConnState('closed', `code ${code}${reason ? ` "${reason}"` : ''}`);
  $('conn-state').dataset.code = String(code);
  for (const li of conn.subs.values()) li.remove();
  conn.subs.clear();
  // stomp.js stays "active" with reconnectDelay 0: settle it once its own close handler (which
  // runs after this listener) has dropped the dead socket.
  setTimeout(() => conn.client.deactivate().catch(() => {}), 0);
  pollSoon();
}

/**
 * What the client alone can tell about a 1006: was anything due from the server (negotiated
 * STOMP heart-beats, SockJS `h` frames seen) during the silence before the cut?
 */
function diagnose(conn, silence) {
  const inc = conn.hbNegotiated ? conn.hbNegotiated[1] : 0;
  const hText = {
    en: [],
    zh: [],
  };
  if (inc) {
    hText.en.push(`STOMP heart-beat from the server every ${secs(inc)}`);
    hText.zh.push(`服务端每 ${secs(inc)} 发送一次 STOMP 心跳`);
  }
  if (conn.hb.h) {
    const every = conn.hGap ? `, about every ${secs(conn.hGap)}` : '';
    const everyZh = conn.hGap ? `，约每 ${secs(conn.hGap)} 一个` : '';
    hText.en.push(`SockJS h frames, ${conn.hb.h} received${every}`);
    hText.zh.push(`已收到 ${conn.hb.h} 个 SockJS h 帧${everyZh}`);
  }
  const en = { silence: secs(silence), hb: hText.en.join(', ') || 'no STOMP heart-beats, no SockJS h frame' };
  const zh = { silence: secs(silence), hb: hText.zh.join('，') || '没有 STOMP 心跳，也没有 SockJS h 帧' };
  const due = Math.min(...[inc, conn.hGap].filter((n) => n > 0));
  let kind;
  if (!inc && !conn.hb.h) kind = 'idle';
  else if (Number.isFinite(due) && silence > 1.5 * due) kind = 'stalled';
  else kind = 'cut';
  return { kind, en, zh };
}

// ---------------------------------------------------------------------------------------------
// The server's view.

let pollTimer = null;

function pollSoon(ms = 300) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, ms);
}

async function poll() {
  clearTimeout(pollTimer);
  try {
    const [s, c] = await Promise.all([getJson('/api/sessions'), getJson('/api/closes?limit=50')]);
    serverUp(s.sessions || [], c.closes || []);
  } catch (e) {
    serverDown(e);
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

function setServerStatus(kind, text) {
  const node = $('server-status');
  if (node.dataset.state !== kind) node.dataset.state = kind;
  if ($('server-status-text').textContent !== text) $('server-status-text').textContent = text;
}

function serverUp(sessions, closes) {
  const srv = state.server;
  const now = Date.now();
  if (srv.state === 'down' && srv.downSince) {
    // Back after an outage: sessions listed before it that are neither live nor in the closes
    // list left no record here (a killed server logs nothing; a restarted one starts empty).
    const live = new Set(sessions.map((s) => s.id));
    const closed = new Set(closes.map((c) => c.id));
    const lost = srv.lastSessions.filter((s) => !live.has(s.id) && !closed.has(s.id));
    const note = $('outage');
    note.hidden = false;
    note.replaceChildren(
      el('strong', { text: `Server unreachable from ${clock(srv.downSince)} to ${clock(now)} (${secs(now - srv.downSince)}). ` }),
      lost.length
        ? `${lost.length} session${lost.length === 1 ? '' : 's'} listed before it ended meanwhile and the server now ` +
            `answering has no record of ${lost.length === 1 ? 'it' : 'them'} (${lost.map((s) => `${s.id} ${s.transport}`).join(', ')}): ` +
            'a restart empties its lists, and a killed process cannot log a close. A client cut off by a kill or a crash ' +
            'sees 1006 (no Close frame); one sent away by a graceful shutdown sees 1001.'
        : 'Every session listed before the outage is still live or in the list of disconnects.',
      ' ',
      el('button', { type: 'button', class: 'small', text: 'dismiss', onclick: () => (note.hidden = true) }),
    );
    note.dataset.lost = lost.map((s) => s.id).join(' ');
  }
  srv.state = 'up';
  srv.lastOk = now;
  srv.downSince = null;
  srv.lastSessions = sessions;
  srv.lastCloses = closes;
  setServerStatus('up', `server reachable · ${sessions.length} live session${sessions.length === 1 ? '' : 's'}`);
  document.body.classList.remove('server-down');
  $('server-stale').hidden = true;
  renderSessions(sessions, now);
  renderCloses(closes);
  // Explanations that failed while the server was away.
  if (state.explained && state.explained.pending) renderExplanation();
}

function serverDown(e) {
  const srv = state.server;
  const now = Date.now();
  if (srv.state !== 'down') {
    srv.state = 'down';
    srv.downSince = now;
  }
  srv.lastError = e && e.message ? e.message : String(e);
  setServerStatus('down', `server unreachable since ${clock(srv.downSince)}`);
  document.body.classList.add('server-down');
  const stale = $('server-stale');
  stale.hidden = false;
  stale.textContent =
    `No answer from the server since ${clock(srv.downSince)} (${srv.lastError}); retrying every ${POLL_MS / 1000} s. ` +
    (srv.lastOk ? `The lists below are its last answer, from ${clock(srv.lastOk)}.` : 'It has not answered since this page loaded.');
}

function mine(id) {
  return state.conn && state.conn.session && state.conn.session === id;
}

function renderSessions(sessions, now) {
  const tbody = $('sessions').tBodies[0];
  $('sessions-count').textContent = `(${sessions.length})`;
  $('sessions-empty').hidden = sessions.length > 0;
  tbody.replaceChildren(
    ...sessions.map((s) => {
      const opened = Date.parse(s.openedAt);
      return el(
        'tr',
        { 'data-session-id': s.id, 'data-transport': s.transport, class: mine(s.id) ? 'mine' : null },
        el(
          'td',
          {},
          el('code', { text: s.id }),
          mine(s.id) ? el('span', { class: 'you', text: 'this page' }) : null,
          el('div', { class: 'sub-line', text: s.remote || '' }),
        ),
        el('td', { text: s.transport }),
        el('td', { text: s.user || '—' }),
        el('td', { text: s.version || '—' }),
        el('td', { text: String(s.subscriptions ?? '') }),
        el('td', { text: Number.isFinite(opened) ? secs(Math.max(0, now - opened)) : '?', title: `opened ${s.openedAt}` }),
      );
    }),
  );
}

function renderCloses(closes) {
  const tbody = $('closes').tBodies[0];
  $('closes-empty').hidden = closes.length > 0;
  tbody.replaceChildren(
    ...closes.map((c) => {
      const when = Date.parse(c.closedAt);
      const by = c.closedBy === 'none' ? 'none (abnormal)' : c.closedBy;
      const context = (lang) =>
        I18N[lang].serverClose({ session: c.id, transport: c.transport, time: Number.isFinite(when) ? clock(when) : c.closedAt, by, cause: c.cause });
      const detail = [c.reason ? JSON.stringify(c.reason) : '', c.cause || ''].filter(Boolean).join(' · ');
      return el(
        'tr',
        { 'data-session-id': c.id, 'data-code': c.code, 'data-closed-by': c.closedBy, class: mine(c.id) ? 'mine' : null },
        el(
          'td',
          { title: c.closedAt },
          Number.isFinite(when) ? clock(when) : c.closedAt,
          el('div', { class: 'sub-line', text: `after ${secs(c.durationMs)}` }),
        ),
        el(
          'td',
          {},
          el('code', { text: c.id }),
          mine(c.id) ? el('span', { class: 'you', text: 'this page' }) : null,
          el('div', { class: 'sub-line', text: [c.transport, c.remote].filter(Boolean).join(' · ') }),
        ),
        el('td', {}, codeButton(c.code, context, c.reason), detail ? el('div', { class: 'sub-line why', text: detail }) : null),
        el('td', { text: by }),
      );
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Wiring.

$('connect-form').addEventListener('submit', (e) => {
  e.preventDefault();
  connect();
});
$('disconnect').addEventListener('click', disconnect);
$('subscribe-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const dest = $('sub-dest').value.trim();
  if (dest) subscribe(dest);
});
$('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const dest = $('send-dest').value.trim();
  if (dest) send(dest, $('send-body').value);
});
$('frames-clear').addEventListener('click', () => $('frames').replaceChildren());
$('timeline-clear').addEventListener('click', () => {
  $('timeline').replaceChildren();
  if (state.conn) state.conn.hbRow = null;
});
for (const b of document.querySelectorAll('.lang button')) b.addEventListener('click', () => setLang(b.dataset.lang));

for (const [param, id] of [['transport', 'transport'], ['hbOut', 'hb-out'], ['hbIn', 'hb-in']]) {
  const v = params.get(param);
  if (v != null) $(id).value = v;
}

setLang(state.lang);
setConnState('idle');
poll();
prefetchCodes();

// For debugging from devtools.
window.stompboxConsole = { state, connect, disconnect, subscribe, send, explain };
