// Browser tests: the seed's page (sockjs-client + stomp.js 2.3.3) and the console (stomp.js 7 over
// WebSocket and SockJS) in Debian's Chromium, driven by playwright-core, against the real
// `target/release/stompbox serve` started here on free loopback ports.
//
//   node tests/browser/run.mjs
//
// STOMPBOX_BIN overrides the binary, CHROMIUM the browser (default /usr/bin/chromium; never
// downloaded), STOMPBOX_TEST_VERBOSE=1 echoes the server's stderr. Full-page screenshots of the
// console in each state go to target/artifacts/browser/.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

// The side-effect-free helpers of the Node client tests (not harness.mjs: its exit and signal
// handlers would exit 130 on SIGTERM before this runner's own cleanup could exit 143).
import { freePort, httpGet as sharedHttpGet, parseFields, sleep, spawnServe } from '../clients/util.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = process.env.STOMPBOX_BIN ?? path.join(ROOT, 'target/release/stompbox');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'target/artifacts/browser');
const VERBOSE = process.env.STOMPBOX_TEST_VERBOSE === '1';
const STEP_MS = 10_000; // the longest single wait for something the page or the server shows

// Heart-beats short enough to see within a test: SockJS `h` every second (the seed's server uses
// 25 s), STOMP heart-beats negotiated to 1 s when the client asks for 1000,1000.
const SERVER_ARGS = ['--sockjs-heartbeat', '1s', '--heart-beat', '1000,1000'];

// ---------------------------------------------------------------------------------------------
// Helpers: time, ports, HTTP.

/** A bounded GET (2 s unless told), as util.mjs's with the URL in its timeout error. */
function httpGet(url, timeoutMs = 2000) {
  return sharedHttpGet(url, timeoutMs, `GET ${url}: timeout`);
}

async function getJson(url) {
  const res = await httpGet(url);
  assert.equal(res.status, 200, `GET ${url}: ${res.status} ${res.body}`);
  return JSON.parse(res.body);
}

/** Polls `fn` until it returns a truthy value; fails with `what` (and `extra()`) after `ms`. */
async function eventually(what, fn, { ms = STEP_MS, every = 100, extra = () => '' } = {}) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}\n${extra()}`);
    }
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------------------------
// The server process.

const servers = new Set();

class Server {
  constructor(port, args = SERVER_ARGS) {
    this.port = port;
    this.args = args;
    this.base = `http://127.0.0.1:${port}`;
    this.log = '';
  }

  async start() {
    assert.ok(existsSync(BIN), `server binary not found at ${BIN}; run cargo build --release -p stompbox`);
    spawnServe(this, BIN, this.args, VERBOSE);
    servers.add(this);
    this.child.once('exit', () => servers.delete(this));
    await eventually(
      `stompbox healthy on port ${this.port}`,
      async () => {
        if (this.exitStatus) throw new Error(`stompbox exited early (${JSON.stringify(this.exitStatus)}):\n${this.log}`);
        const res = await httpGet(`${this.base}/healthz`, 1000);
        return res.status === 200 && res.body.trim() === 'ok';
      },
      { ms: 15_000, extra: () => this.tail() },
    );
    return this;
  }

  /** Every parsed `session closed:` line of this process. */
  closedLines() {
    const out = [];
    for (const line of this.log.split('\n')) {
      const i = line.indexOf('session closed:');
      if (i >= 0) out.push({ line: line.slice(i), fields: parseFields(line.slice(i + 'session closed:'.length)) });
    }
    return out;
  }

  /** The `session closed:` line for `sessionId`, waiting for it. */
  sessionClosed(sessionId, ms = STEP_MS) {
    return eventually(`"session closed" log line for sessionId=${sessionId}`, () => this.closedLines().find((l) => l.fields.sessionId === sessionId), {
      ms,
      extra: () => `--- server log tail ---\n${this.tail()}`,
    });
  }

  tail(lines = 25) {
    return this.log.split('\n').slice(-lines).join('\n');
  }

  async kill(signal) {
    if (!this.child || this.exitStatus) return this.exitStatus;
    this.child.kill(signal);
    return this.exited;
  }

  async stop() {
    if (!this.child || this.exitStatus) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

function killAllSync() {
  for (const s of servers) {
    try {
      s.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAllSync);
// A closed stdout (`… | head`) must not crash the runner past its cleanup.
process.stdout.on('error', () => {});
// Whatever keeps the event loop alive, do not hang CI.
const watchdog = setTimeout(() => {
  console.error('browser tests: watchdog fired after 150 s; killing the server and exiting');
  killAllSync();
  process.exit(1);
}, 150_000);
watchdog.unref();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAllSync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

// ---------------------------------------------------------------------------------------------
// The browser.

let server;
let context;
let userDataDir;
const pageErrors = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (scripts/test browser does)`);
  server = await new Server(await freePort()).start();
  userDataDir = mkdtempSync(path.join(os.tmpdir(), 'stompbox-chromium-'));
  // launchPersistentContext: playwright owns --user-data-dir; it gets a fresh directory.
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1440, height: 900 },
    timeout: 30_000,
  });
  context.setDefaultTimeout(STEP_MS);
});

after(async () => {
  try {
    await context?.close();
  } catch {
    // the browser may already be gone
  }
  for (const s of [...servers]) await s.stop();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

async function newPage(name) {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|ERR_INCOMPLETE_CHUNKED|net::/.test(m.text())) {
      pageErrors.push(`${name}: console.error ${m.text()}`);
    }
  });
  return page;
}

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

function noPageErrors() {
  assert.deepEqual(pageErrors, [], 'uncaught errors in the pages');
}

// ---------------------------------------------------------------------------------------------
// Console page helpers.

async function openConsole(name, base = server.base) {
  const page = await newPage(name);
  await page.goto(`${base}/`);
  await page.locator('#server-status[data-state="up"]').waitFor();
  return page;
}

/** Connects the console with the form; returns the STOMP session id the page shows. */
async function consoleConnect(page, transport, [hbOut, hbIn]) {
  await page.selectOption('#transport', transport);
  await page.fill('#hb-out', String(hbOut));
  await page.fill('#hb-in', String(hbIn));
  await page.click('#connect');
  const state = page.locator('#conn-state');
  await page.locator('#conn-state[data-state="connected"]').waitFor();
  const session = await state.getAttribute('data-session');
  assert.match(session, /^\S+$/, 'the page shows the STOMP session id');
  return session;
}

async function consoleSubscribeAndSend(page, name) {
  await page.fill('#sub-dest', '/topic/greetings');
  await page.click('#subscribe');
  await page.locator('#subscriptions li[data-destination="/topic/greetings"]').waitFor();
  await page.locator('#frames li[data-command="RECEIPT"]').first().waitFor();
  await page.fill('#send-dest', '/app/hello');
  await page.fill('#send-body', JSON.stringify({ name }));
  await page.click('#send');
  const msg = page.locator('#frames li[data-command="MESSAGE"]', { hasText: `Hello, ${name}!` });
  await msg.waitFor();
  assert.match(await msg.textContent(), /destination:\/topic\/greetings/);
}

/** The heart-beat row's counters ({h, in, out}) once `pred` holds. */
async function waitHeartbeats(page, pred, what) {
  const handle = await page.waitForFunction(
    (src) => {
      const p = new Function('c', `return ${src}`);
      for (const row of document.querySelectorAll('#timeline li[data-kind="heartbeats"]')) {
        const c = { h: Number(row.dataset.h), in: Number(row.dataset.in), out: Number(row.dataset.out) };
        if (p(c)) return c;
      }
      return null;
    },
    pred,
    { timeout: STEP_MS },
  ).catch((e) => {
    throw new Error(`no heart-beat row with ${what} (${pred}): ${e.message}`);
  });
  return handle.jsonValue();
}

async function explanation(page) {
  return page.evaluate(() => ({
    code: document.getElementById('explain').dataset.code,
    lang: document.getElementById('explain').dataset.lang,
    name: document.getElementById('close-name').textContent,
    meaning: document.getElementById('close-meaning').textContent,
    causes: document.getElementById('close-causes').children.length,
    fixes: document.getElementById('close-fixes').children.length,
    context: document.getElementById('close-context').textContent,
    error: document.getElementById('explain-error').hidden ? '' : document.getElementById('explain-error').textContent,
  }));
}

/** Waits until the explanation panel shows `entry` (from /api/closecodes) in its language. */
async function waitExplained(page, entry, lang) {
  await page.waitForFunction(
    ({ code, meaning, lang }) => {
      const ex = document.getElementById('explain');
      return ex.dataset.code === String(code) && ex.dataset.lang === lang && document.getElementById('close-meaning').textContent === meaning;
    },
    { code: entry.code, meaning: entry.meaning, lang },
    { timeout: STEP_MS },
  ).catch(async (e) => {
    throw new Error(`explanation of ${entry.code} (${lang}) not shown: ${e.message}\nshown: ${JSON.stringify(await explanation(page))}`);
  });
  const ex = await explanation(page);
  assert.equal(ex.name, entry.name);
  assert.equal(ex.causes, entry.causes.length);
  assert.equal(ex.fixes, entry.fixes.length);
  assert.equal(ex.error, '');
  return ex;
}

const registry = {};
async function closeCode(code, lang) {
  registry[`${code}:${lang}`] ??= await getJson(`${server.base}/api/closecodes/${code}?lang=${lang}`);
  return registry[`${code}:${lang}`];
}

async function apiCloseOf(base, id) {
  return eventually(`/api/closes to list session ${id}`, async () => (await getJson(`${base}/api/closes?limit=100`)).closes.find((c) => c.id === id), {
    extra: () => server.tail(),
  });
}

async function apiSessionOf(base, id) {
  return eventually(`/api/sessions to list session ${id}`, async () => (await getJson(`${base}/api/sessions`)).sessions.find((s) => s.id === id));
}

// ---------------------------------------------------------------------------------------------
// Tests.

const T = { timeout: 60_000 };

test('seed page: sockjs-client + stomp.js 2.3.3 connect, subscribe, and receive what a second page sends', T, async () => {
  const a = await newPage('seed-a');
  await a.goto(`${server.base}/seed.html`);
  await a.locator('#log[data-state="connected"]').waitFor();
  const sessionA = (await a.textContent('#log')).match(/connected: session=(\S+)/)[1];
  // Its SUBSCRIBE has reached the server before the other page sends.
  await eventually('seed page A subscribed', async () => (await apiSessionOf(server.base, sessionA)).subscriptions === 1);
  const s = await apiSessionOf(server.base, sessionA);
  assert.equal(s.transport, 'sockjs');
  assert.equal(s.version, '1.1', 'stomp.js 2.3.3 offers 1.1,1.0');

  const b = await newPage('seed-b');
  await b.goto(`${server.base}/seed.html?send=Grace`);
  await b.locator('#log', { hasText: 'message: {"content":"Hello, Grace!"}' }).waitFor();
  await a.locator('#log', { hasText: 'message: {"content":"Hello, Grace!"}' }).waitFor();
  const sessionB = (await b.textContent('#log')).match(/connected: session=(\S+)/)[1];
  assert.notEqual(sessionA, sessionB);

  // The button sends too.
  await a.fill('#name', 'Ada');
  await a.click('#send');
  await b.locator('#log', { hasText: 'message: {"content":"Hello, Ada!"}' }).waitFor();
  await shot(a, 'seed-page');

  // Leaving the page closes the session; the server logs it once.
  await b.close();
  await a.close();
  const lineB = await server.sessionClosed(sessionB);
  const lineA = await server.sessionClosed(sessionA);
  for (const { fields } of [lineA, lineB]) assert.equal(fields.transport, 'sockjs');
  noPageErrors();
});

test('console over plain WebSocket: STOMP heart-beats in the timeline, DISCONNECT closes with 1000, explained', T, async () => {
  const page = await openConsole('console-ws');
  const session = await consoleConnect(page, 'websocket', [1000, 1000]);
  await page.locator('#timeline li[data-kind="open"]', { hasText: 'v12.stomp' }).waitFor();
  await page.locator('#timeline li[data-kind="connected"]', { hasText: 'client sends every 1.0 s, server every 1.0 s' }).waitFor();
  const hb = await waitHeartbeats(page, 'c.in >= 1 && c.out >= 1', 'STOMP EOLs in and out');
  assert.equal(hb.h, 0, 'no SockJS h frames over plain WebSocket');

  await consoleSubscribeAndSend(page, 'Ada');
  const s = await apiSessionOf(server.base, session);
  assert.equal(s.transport, 'websocket');
  assert.equal(s.version, '1.2');
  // The server view lists this page's session, marked as its own.
  await page.locator(`#sessions tr.mine[data-session-id="${session}"][data-transport="websocket"]`).waitFor();
  await shot(page, 'console-websocket-connected');

  await page.click('#disconnect');
  await page.locator('#conn-state[data-state="closed"][data-code="1000"]').waitFor();
  await page.locator('#frames li[data-command="RECEIPT"]', { hasText: 'receipt-id:close-' }).waitFor();
  await page.locator('#timeline li[data-kind="close"][data-code="1000"]').waitFor();
  const ex = await waitExplained(page, await closeCode(1000, 'en'), 'en');
  assert.equal(ex.name, 'Normal Closure');
  assert.match(ex.context, new RegExp(`session ${session}`));

  const { fields } = await server.sessionClosed(session);
  assert.equal(fields.code, '1000');
  assert.equal(fields.closedBy, 'client');
  assert.equal(fields.transport, 'websocket');
  const c = await apiCloseOf(server.base, session);
  assert.equal(c.code, 1000);
  assert.equal(c.closedBy, 'client');
  // …and the page's server view shows the same close with its registry name.
  const row = page.locator(`#closes tr.mine[data-session-id="${session}"][data-code="1000"]`);
  await row.waitFor();
  await row.locator('.code-name', { hasText: 'Normal Closure' }).waitFor();
  await shot(page, 'console-websocket-closed-1000');
  await page.close();
  noPageErrors();
});

test('console over SockJS xhr-streaming: SockJS h frames in the timeline, DISCONNECT closes with 1000, explained', T, async () => {
  const page = await openConsole('console-xhr-streaming');
  // No STOMP heart-beats: the server then sends SockJS `h` frames (every 1 s here).
  const session = await consoleConnect(page, 'sockjs:xhr-streaming', [0, 0]);
  await page.locator('#timeline li[data-kind="open"][data-transport="sockjs/xhr-streaming"]').waitFor();
  const hb = await waitHeartbeats(page, 'c.h >= 2', 'SockJS h frames');
  assert.equal(hb.in + hb.out, 0, 'no STOMP heart-beats were negotiated');
  // Only `h` frames after the `o` frame count (xhr-streaming's prelude of `h`s comes before it).
  const kinds = await page.$$eval('#timeline li', (lis) => lis.map((li) => li.dataset.kind));
  assert.ok(kinds.indexOf('open') < kinds.indexOf('heartbeats'), `timeline order: ${kinds}`);

  await consoleSubscribeAndSend(page, 'Linus');
  const s = await apiSessionOf(server.base, session);
  assert.equal(s.transport, 'sockjs');
  await page.locator(`#sessions tr.mine[data-session-id="${session}"][data-transport="sockjs"]`).waitFor();
  await shot(page, 'console-xhr-streaming-connected');

  await page.click('#disconnect');
  await page.locator('#conn-state[data-state="closed"][data-code="1000"]').waitFor();
  await waitExplained(page, await closeCode(1000, 'en'), 'en');
  const { fields } = await server.sessionClosed(session);
  assert.equal(fields.code, '1000');
  assert.equal(fields.closedBy, 'client');
  assert.equal(fields.transport, 'sockjs');
  const c = await apiCloseOf(server.base, session);
  assert.equal(c.code, 1000);
  assert.equal(c.transport, 'sockjs');
  await page.locator(`#closes tr.mine[data-session-id="${session}"][data-code="1000"]`).waitFor();
  await shot(page, 'console-xhr-streaming-closed-1000');
  await page.close();
  noPageErrors();
});

test('console over the other SockJS choices (auto, websocket, xhr-polling, eventsource): connect, round-trip, close 1000', T, async () => {
  const page = await openConsole('console-sockjs-others');
  for (const [choice, via] of [
    ['sockjs', 'sockjs/websocket'],
    ['sockjs:websocket', 'sockjs/websocket'],
    ['sockjs:xhr-polling', 'sockjs/xhr-polling'],
    ['sockjs:eventsource', 'sockjs/eventsource'],
  ]) {
    await page.click('#frames-clear');
    const session = await consoleConnect(page, choice, [0, 0]);
    await page.locator(`#timeline li[data-kind="open"][data-transport="${via}"]`).last().waitFor();
    await page.fill('#sub-dest', '/topic/greetings');
    await page.click('#subscribe');
    await page.locator('#subscriptions li').waitFor();
    await page.fill('#send-body', JSON.stringify({ name: choice }));
    await page.click('#send');
    await page.locator('#frames li[data-command="MESSAGE"]', { hasText: `Hello, ${choice}!` }).waitFor();
    await page.click('#disconnect');
    await page.locator('#conn-state[data-state="closed"][data-code="1000"]').waitFor();
    const { fields } = await server.sessionClosed(session);
    assert.equal(fields.code, '1000', `${choice}: ${server.tail(3)}`);
    assert.equal(fields.transport, 'sockjs');
  }
  await page.close();
  noPageErrors();
});

test('console: a refused destination gets an ERROR frame in the list and a 1002 close, explained', T, async () => {
  const page = await openConsole('console-error');
  const session = await consoleConnect(page, 'websocket', [0, 0]);
  await page.fill('#sub-dest', '/nowhere/x');
  await page.click('#subscribe');
  const error = page.locator('#frames li[data-command="ERROR"]');
  await error.waitFor();
  assert.match(await error.textContent(), /message:/);
  await page.locator('#timeline li[data-kind="error"]').waitFor();
  await page.locator('#conn-state[data-state="closed"][data-code="1002"]').waitFor();
  await waitExplained(page, await closeCode(1002, 'en'), 'en');
  const { fields } = await server.sessionClosed(session);
  assert.equal(fields.code, '1002');
  assert.equal(fields.closedBy, 'server');
  await page.locator(`#closes tr.mine[data-session-id="${session}"][data-code="1002"][data-closed-by="server"]`).waitFor();
  await shot(page, 'console-error-1002');
  await page.close();
  noPageErrors();
});

/**
 * The seed's nginx in miniature: a TCP proxy that cuts a connection (both sides, no Close frame)
 * after `idleMs` without a byte in either direction, like `proxy_read_timeout`.
 */
function idleProxy(upstreamPort, idleMs) {
  const sockets = new Set();
  const srv = net.createServer((down) => {
    const up = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(down).add(up);
    let timer;
    const cut = () => {
      down.destroy();
      up.destroy();
    };
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(cut, idleMs);
    };
    touch();
    down.on('data', touch);
    up.on('data', touch);
    down.pipe(up);
    up.pipe(down);
    for (const s of [down, up]) {
      s.on('error', cut);
      s.on('close', () => {
        clearTimeout(timer);
        sockets.delete(s);
        cut();
      });
    }
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => {
      resolve({
        base: `http://127.0.0.1:${srv.address().port}`,
        close: () => {
          for (const s of sockets) s.destroy();
          return new Promise((r) => srv.close(r));
        },
      });
    });
  });
}

test("the seed's problem: an idle-timeout proxy cuts connections quieter than it (1006 on both sides); heart-beats keep them open", T, async (t) => {
  // The seed: SockJS heart-beat 25 s, nginx proxy_read_timeout 10 s. Here: 25 s and a 1 s proxy.
  const backend = await new Server(await freePort(), ['--sockjs-heartbeat', '25s', '--heart-beat', '400,400']).start();
  const proxy = await idleProxy(backend.port, 1000);
  t.after(async () => {
    await proxy.close();
    await backend.stop();
  });

  const observer = await openConsole('proxy-observer', proxy.base);
  // The seed's page through the proxy: connects, then nothing moves for 1 s and the proxy cuts.
  const seed = await newPage('proxy-seed');
  await seed.goto(`${proxy.base}/seed.html`);
  await seed.locator('#log[data-state="connected"]').waitFor();
  const seedSession = (await seed.textContent('#log')).match(/connected: session=(\S+)/)[1];
  await seed.locator('#log', { hasText: 'close: code=1006' }).waitFor();
  const { fields } = await backend.sessionClosed(seedSession);
  assert.equal(fields.code, '1006', `the server saw no Close frame: ${backend.tail(3)}`);
  assert.equal(fields.closedBy, 'none(abnormal)');
  const c = await apiCloseOf(backend.base, seedSession);
  assert.equal(c.code, 1006);
  assert.equal(c.closedBy, 'none');
  assert.ok(c.durationMs >= 900 && c.durationMs < 5000, `cut after the proxy's 1 s idle timeout, not later: ${c.durationMs} ms`);

  // The console lists it with its registry name and explains it on click.
  const row = observer.locator(`#closes tr[data-session-id="${seedSession}"][data-code="1006"][data-closed-by="none"]`);
  await row.waitFor();
  await row.locator('.code-name', { hasText: 'Abnormal Closure' }).waitFor();
  await row.locator('button.code-badge').click();
  const ex = await waitExplained(observer, await closeCode(1006, 'en'), 'en');
  assert.match(ex.context, new RegExp(`Session ${seedSession} \\(sockjs\\).*closed by none \\(abnormal\\)`));

  // The console without heart-beats through the same proxy: cut too, and the timeline says the
  // server had been silent for the proxy's timeout.
  const quiet = await openConsole('proxy-quiet', proxy.base);
  const quietSession = await consoleConnect(quiet, 'websocket', [0, 0]);
  await quiet.locator('#conn-state[data-state="closed"][data-code="1006"]').waitFor();
  const close = await quiet.locator('#timeline li[data-kind="close"][data-code="1006"][data-diagnosis="idle"]').textContent();
  assert.match(close, /an idle timeout of about/);
  const [, n, unit] = close.match(/last traffic from the server ([\d.]+) (ms|s) before/) ?? [];
  const silence = Number(n) / (unit === 'ms' ? 1000 : 1);
  // ≈ the proxy's 1 s; the page timestamps when it handles the data, so allow for a busy machine.
  assert.ok(silence >= 0.7 && silence < 3, `silence before the cut ≈ the proxy's 1 s: ${close}`);
  assert.equal((await backend.sessionClosed(quietSession)).fields.code, '1006');
  await waitExplained(quiet, await closeCode(1006, 'en'), 'en');
  await shot(quiet, 'console-proxy-idle-cut-1006');

  // The seed's fix: heart-beats well below the proxy's timeout (0.4 s both ways) keep it open.
  const beating = await openConsole('proxy-beating', proxy.base);
  const beatingSession = await consoleConnect(beating, 'websocket', [400, 400]);
  await sleep(3000);
  assert.equal(await beating.getAttribute('#conn-state', 'data-state'), 'connected', 'still open after 3 proxy timeouts');
  const hb = await waitHeartbeats(beating, 'c.in >= 4 && c.out >= 4', 'STOMP EOLs both ways');
  assert.ok(hb.in >= 4 && hb.out >= 4);
  assert.ok(!backend.closedLines().some((l) => l.fields.sessionId === beatingSession));
  await observer.locator(`#sessions tr[data-session-id="${beatingSession}"]`).waitFor();
  await shot(observer, 'console-proxy-observer');
  await beating.click('#disconnect');
  await beating.locator('#conn-state[data-state="closed"][data-code="1000"]').waitFor();
  assert.equal((await backend.sessionClosed(beatingSession)).fields.code, '1000');
  for (const p of [observer, seed, quiet, beating]) await p.close();
  noPageErrors();
});

test('server killed (SIGKILL): the pages show 1006 explained (English, then 中文); after a restart the lost sessions are named', T, async () => {
  const en = await closeCode(1006, 'en');
  const zh = await closeCode(1006, 'zh');
  const port = server.port;

  const ws = await openConsole('killed-ws');
  const wsSession = await consoleConnect(ws, 'websocket', [1000, 1000]);
  await waitHeartbeats(ws, 'c.in >= 1', 'STOMP EOLs in');
  const xs = await openConsole('killed-xhr-streaming');
  const xsSession = await consoleConnect(xs, 'sockjs:xhr-streaming', [0, 0]);
  await waitHeartbeats(xs, 'c.h >= 1', 'SockJS h frames');
  const seed = await newPage('killed-seed');
  await seed.goto(`${server.base}/seed.html`);
  await seed.locator('#log[data-state="connected"]').waitFor();
  const seedSession = (await seed.textContent('#log')).match(/connected: session=(\S+)/)[1];
  // The console has seen all three sessions before the kill.
  for (const id of [wsSession, xsSession, seedSession]) await ws.locator(`#sessions tr[data-session-id="${id}"]`).waitFor();
  const linesBefore = server.closedLines().length;

  const killed = server;
  const status = await killed.kill('SIGKILL');
  assert.equal(status.signal, 'SIGKILL');

  // Every page sees the connection vanish without a Close frame: 1006.
  await ws.locator('#conn-state[data-state="closed"][data-code="1006"]').waitFor();
  // Heart-beats were arriving until the kill: the console says it was no idle timeout.
  await ws.locator('#timeline li[data-kind="close"][data-code="1006"][data-diagnosis="cut"]', { hasText: 'not an idle timeout' }).waitFor();
  await xs.locator('#timeline li[data-kind="close"][data-code="1006"][data-diagnosis="cut"]').waitFor();
  await xs.locator('#conn-state[data-state="closed"][data-code="1006"]').waitFor();
  await seed.locator('#log', { hasText: 'close: code=1006' }).waitFor();
  // The explanation comes from the registry the page fetched while the server was up.
  const exWs = await waitExplained(ws, en, 'en');
  assert.match(exWs.context, new RegExp(`session ${wsSession}`));
  await waitExplained(xs, en, 'en');
  await ws.locator('#server-status[data-state="down"]').waitFor();
  await shot(ws, 'console-server-killed-1006-en');

  await ws.click('#lang-zh');
  const exZh = await waitExplained(ws, zh, 'zh');
  assert.match(exZh.context, /本连接.*不是空闲超时/);
  assert.match(zh.meaning, /[\u4e00-\u9fff]/, 'the Chinese entry is Chinese');
  assert.equal(await ws.getAttribute('#lang-zh', 'aria-pressed'), 'true');
  await shot(ws, 'console-server-killed-1006-zh');
  await ws.click('#lang-en');
  await waitExplained(ws, en, 'en');

  // SIGKILL gave the server no chance to log anything: its log has no close line for them.
  assert.equal(killed.closedLines().length, linesBefore, `a killed process logged a close?\n${killed.tail()}`);

  // Restart on the same port: its lists start empty; the console names the sessions it had
  // listed before the outage that left no record.
  server = await new Server(port).start();
  await ws.locator('#server-status[data-state="up"]').waitFor({ timeout: 15_000 });
  const outage = ws.locator('#outage');
  await outage.waitFor();
  const lost = (await outage.getAttribute('data-lost')).split(' ');
  for (const id of [wsSession, xsSession, seedSession]) assert.ok(lost.includes(id), `outage note names ${id}: ${lost}`);
  assert.match(await outage.textContent(), /has no record of them/);
  const { closes } = await getJson(`${server.base}/api/closes`);
  const { sessions } = await getJson(`${server.base}/api/sessions`);
  for (const id of [wsSession, xsSession, seedSession]) {
    assert.ok(!closes.some((c) => c.id === id) && !sessions.some((s) => s.id === id), `restarted server knows nothing of ${id}`);
  }

  // The console reconnects to the restarted server and closes normally there.
  const again = await consoleConnect(ws, 'websocket', [1000, 1000]);
  assert.notEqual(again, wsSession);
  await ws.locator(`#sessions tr.mine[data-session-id="${again}"]`).waitFor();
  await shot(ws, 'console-server-restarted');
  await ws.click('#disconnect');
  await ws.locator('#conn-state[data-state="closed"][data-code="1000"]').waitFor();
  assert.equal((await server.sessionClosed(again)).fields.code, '1000');
  for (const p of [ws, xs, seed]) await p.close();
  noPageErrors();
});
