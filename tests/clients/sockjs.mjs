// STOMP over SockJS with the real sockjs-client (1.6.1) against the real `stompbox serve` binary.
//
// What runs here: sockjs-client forced onto each of its Node transports (websocket,
// xhr-streaming, xhr-polling, eventsource) under @stomp/stompjs 7, and the legacy stompjs 2.3.3
// `Stomp.over(new SockJS(url))` of the seed article's page. Each session must end in the server
// log as `code=1000 closedBy=client transport=sockjs`. The server is started by this file on a
// free loopback port and killed at the end, also when a test fails. Every wait is bounded.
//
// Run: `node tests/clients/sockjs.mjs` after `cargo build --release -p stompbox` and
// `npm ci --prefix tests/clients`. STOMPBOX_BIN overrides the binary path;
// STOMPBOX_TEST_VERBOSE=1 echoes the server's stderr.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { Client } from '@stomp/stompjs';

const require = createRequire(import.meta.url);
const SockJS = require('sockjs-client');
// The legacy package's entry point returns the `Stomp` object (`Stomp.over`).
const LegacyStomp = require('stompjs');

const BIN =
  process.env.STOMPBOX_BIN ??
  fileURLToPath(new URL('../../target/release/stompbox', import.meta.url));
const VERBOSE = process.env.STOMPBOX_TEST_VERBOSE === '1';
const TEST_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Helpers: time, ports, the server process, its log (the same approach as run.mjs).

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with `what` when `promise` has not settled within `ms`. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A free loopback port: bind port 0, read it, close. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function httpGet(url, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('http timeout')));
    req.on('error', reject);
  });
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** Parses `key=value key="quoted value"` pairs of a `session closed:` log line. */
function parseFields(text) {
  const fields = {};
  for (const m of text.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    let v = m[2];
    if (v.startsWith('"')) v = JSON.parse(v);
    fields[m[1]] = v;
  }
  return fields;
}

const servers = new Set();

/** The server's environment: ours minus STOMPBOX_* settings, so only the flags here count. */
function serverEnv() {
  const env = { NO_COLOR: '1' };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('STOMPBOX_') && k !== 'RUST_LOG') env[k] = v;
  }
  return env;
}

class Server {
  constructor(extraArgs = []) {
    this.extraArgs = extraArgs;
    this.log = '';
    this.waiters = new Set();
  }

  async start() {
    assert.ok(existsSync(BIN), `server binary not found at ${BIN}; run cargo build --release -p stompbox`);
    this.port = await freePort();
    this.httpUrl = `http://127.0.0.1:${this.port}/test-ws`;
    const args = ['serve', '--listen', `127.0.0.1:${this.port}`, ...this.extraArgs];
    this.child = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'], env: serverEnv() });
    servers.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk) => {
      this.log += chunk.replace(ANSI, '');
      if (VERBOSE) process.stderr.write(`[stompbox:${this.port}] ${chunk}`);
      for (const w of this.waiters) w();
    });
    // Ready when /healthz answers `ok` (at most 15 s).
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (this.exitStatus) {
        throw new Error(`stompbox exited early (${JSON.stringify(this.exitStatus)}):\n${this.log}`);
      }
      try {
        const res = await httpGet(`http://127.0.0.1:${this.port}/healthz`, 1000);
        if (res.status === 200 && res.body.trim() === 'ok') break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        throw new Error(`stompbox not healthy within 15 s on port ${this.port}:\n${this.log}`);
      }
      await sleep(100);
    }
  }

  /** The parsed `session closed:` line for `sessionId`, waiting at most `ms`. */
  async sessionClosed(sessionId, ms = 8000) {
    const find = () => {
      for (const line of this.log.split('\n')) {
        const i = line.indexOf('session closed:');
        if (i < 0) continue;
        const fields = parseFields(line.slice(i + 'session closed:'.length));
        if (fields.sessionId === sessionId) return { line: line.slice(i), fields };
      }
      return undefined;
    };
    const found = find();
    if (found) return found;
    let waiter;
    try {
      return await within(
        ms,
        `"session closed" log line for sessionId=${sessionId}\n--- server log tail ---\n${this.tail()}`,
        new Promise((resolve) => {
          waiter = () => {
            const f = find();
            if (f) resolve(f);
          };
          this.waiters.add(waiter);
        }),
      );
    } finally {
      this.waiters.delete(waiter);
    }
  }

  /** Fails if a `session closed:` line for `sessionId` has appeared. */
  assertStillOpen(sessionId) {
    const line = this.log
      .split('\n')
      .find((l) => l.includes('session closed:') && l.includes(`sessionId=${sessionId} `));
    assert.equal(line, undefined, `session ${sessionId} was closed by the server: ${line}`);
  }

  tail(lines = 30) {
    return this.log.split('\n').slice(-lines).join('\n');
  }

  async stop() {
    servers.delete(this);
    if (!this.child || this.exitStatus) return;
    this.child.kill('SIGTERM');
    const stopped = await within(5000, 'stompbox exit after SIGTERM', this.exited).catch(() => undefined);
    if (!stopped) {
      this.child.kill('SIGKILL');
      await within(2000, 'stompbox exit after SIGKILL', this.exited).catch(() => {});
    }
  }
}

// Last resort: never leave a server behind, whatever happens to this process.
function killAllSync() {
  for (const s of servers) {
    try {
      s.child?.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAllSync();
    process.exit(130);
  });
}
// If something keeps the event loop alive after the tests, do not hang CI.
const watchdog = setTimeout(() => {
  console.error('sockjs.mjs: watchdog fired after 240 s; killing the server and exiting');
  killAllSync();
  process.exit(1);
}, 240_000);
watchdog.unref();

// ---------------------------------------------------------------------------------------------
// Helpers: clients.

const openSockets = new Set();
const openClients = new Set();

/** A SockJS socket limited to `transports`, on a session id we choose (to find it in the log). */
function sockjs(url, transports, sessionId) {
  const options = { sessionId: () => sessionId };
  if (transports) options.transports = transports;
  const sock = new SockJS(url, null, options);
  openSockets.add(sock);
  return sock;
}

/** A queue of incoming messages with a bounded `next()`. */
function inbox() {
  const items = [];
  const waiting = [];
  return {
    items,
    push(msg) {
      items.push(msg);
      const w = waiting.shift();
      if (w) w();
    },
    async next(ms, what) {
      const deadline = Date.now() + ms;
      while (items.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await within(left, what, new Promise((resolve) => waiting.push(resolve))).catch(() => {});
      }
      return items.shift();
    },
  };
}

/**
 * An @stomp/stompjs 7 client over SockJS; resolves with `{ client, connected }` at CONNECTED.
 * A STOMP ERROR or a socket close before that rejects.
 */
async function stompjs7OverSockJs(url, transports, sessionId, login) {
  const client = new Client({
    webSocketFactory: () => sockjs(url, transports, sessionId),
    connectHeaders: { login, passcode: 'secret' },
    reconnectDelay: 0, // one attempt only: a failure must fail the test, not retry
    connectionTimeout: 10_000,
    debug: () => {},
  });
  client.errors = [];
  client.closes = [];
  openClients.add(client);
  const connected = await within(
    12_000,
    `@stomp/stompjs CONNECTED over SockJS ${JSON.stringify(transports)}`,
    new Promise((resolve, reject) => {
      client.onConnect = resolve;
      client.onStompError = (frame) => {
        client.errors.push(frame);
        reject(new Error(`STOMP ERROR: ${frame.headers.message} ${frame.body}`));
      };
      client.onWebSocketClose = (evt) => {
        client.closes.push(evt);
        reject(new Error(`SockJS closed before CONNECTED: code=${evt.code} reason=${evt.reason}`));
      };
      client.activate();
    }),
  );
  client.onStompError = (frame) => client.errors.push(frame);
  client.onWebSocketClose = (evt) => client.closes.push(evt);
  return { client, connected };
}

/** Sends a frame with a receipt header and waits for the matching RECEIPT. */
function withReceipt(client, send, what, ms = 8000) {
  const receiptId = `rcpt-${randomUUID()}`;
  const got = new Promise((resolve) => client.watchForReceipt(receiptId, resolve));
  send({ receipt: receiptId });
  return within(ms, `RECEIPT ${receiptId} for ${what}`, got);
}

async function closeAll() {
  const pending = [];
  for (const c of openClients) pending.push(c.deactivate({ force: true }).catch(() => {}));
  openClients.clear();
  await within(5000, 'closing clients', Promise.all(pending)).catch(() => {});
  for (const s of openSockets) {
    try {
      s.close();
    } catch {
      // already closed
    }
  }
  openSockets.clear();
}

// ---------------------------------------------------------------------------------------------
// The suites.

describe('stompbox with sockjs-client 1.6.1', () => {
  const server = new Server();

  before(async () => {
    await server.start();
  });

  after(async () => {
    await closeAll();
    await server.stop();
  });

  test('/info answers what sockjs-client reads before choosing a transport', { timeout: TEST_TIMEOUT_MS }, async () => {
    const res = await httpGet(`${server.httpUrl}/info`, 5000);
    assert.equal(res.status, 200);
    const info = JSON.parse(res.body);
    assert.equal(info.websocket, true);
    assert.equal(info.cookie_needed, false);
    assert.deepEqual(info.origins, ['*:*']);
    assert.equal(typeof info.entropy, 'number');
  });

  for (const transport of ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource']) {
    test(`@stomp/stompjs 7 over SockJS ${transport} subscribes, sends, receives and disconnects with 1000 by the client`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const sessionId = `sj${randomUUID().replaceAll('-', '').slice(0, 16)}`;
      const login = `sockjs-${transport}`;
      const { client, connected } = await stompjs7OverSockJs(server.httpUrl, [transport], sessionId, login);
      assert.equal(client.webSocket.transport, transport, 'sockjs-client used the forced transport');
      assert.equal(connected.headers.version, '1.2');
      const session = connected.headers.session;
      assert.ok(session, 'CONNECTED carries a session header');
      if (transport !== 'websocket') {
        // HTTP transports: the STOMP session is the SockJS session of the URL.
        assert.equal(session, sessionId, 'CONNECTED session = the SockJS session id');
      } else {
        // The spec lets concurrent WebSockets share a SockJS session id, so the server may
        // name the STOMP session itself; the log line below must use whichever it chose.
        t.diagnostic(`websocket: URL session id ${sessionId}, STOMP session ${session}`);
      }

      const topic = `/topic/sockjs-${transport}-${randomUUID()}`;
      const got = inbox();
      await withReceipt(client, (h) => client.subscribe(topic, (m) => got.push(m), h), `SUBSCRIBE ${topic}`);
      // Characters SockJS must escape on the way in and out survive the round trip.
      const bodies = ['hello over SockJS', 'quote " backslash \\ newline \n end', 'unicode \u2028\u00e9\u4e2d\ufeff\uffff'];
      for (const body of bodies) client.publish({ destination: topic, body });
      for (const body of bodies) {
        const msg = await got.next(8000, `MESSAGE ${JSON.stringify(body)} over ${transport}`);
        assert.equal(msg.command, 'MESSAGE');
        assert.equal(msg.headers.destination, topic);
        assert.equal(msg.body, body);
      }
      // /app/hello answers on /topic/greetings, as in the seed.
      const greetings = inbox();
      await withReceipt(client, (h) => client.subscribe('/topic/greetings', (m) => greetings.push(m), h), 'SUBSCRIBE /topic/greetings');
      client.publish({ destination: '/app/hello', body: JSON.stringify({ name: 'Ada' }) });
      const greeting = await greetings.next(8000, 'greeting');
      assert.deepEqual(JSON.parse(greeting.body), { content: 'Hello, Ada!' });
      assert.deepEqual(client.errors, [], 'no STOMP ERROR frames');
      server.assertStillOpen(session);

      await within(10_000, 'deactivate()', client.deactivate());
      openClients.delete(client);
      const { line, fields } = await server.sessionClosed(session);
      assert.equal(fields.code, '1000', line);
      assert.equal(fields.closedBy, 'client', line);
      assert.equal(fields.transport, 'sockjs', line);
      assert.equal(fields.user, login, line);
    });
  }

  test('legacy stompjs 2.3.3 Stomp.over(new SockJS(url)) (the seed page) connects and receives', { timeout: TEST_TIMEOUT_MS }, async () => {
    const sessionId = `legacy${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const sock = sockjs(server.httpUrl, undefined, sessionId);
    const legacy = LegacyStomp.over(sock);
    legacy.debug = null; // silence; set to console.log to see frames
    const errors = [];
    const connected = await within(12_000, 'legacy stompjs CONNECTED over SockJS', new Promise((resolve, reject) => {
      legacy.connect({ login: 'legacy', passcode: 'secret' }, resolve, (err) => {
        errors.push(err);
        reject(new Error(`legacy stompjs error: ${typeof err === 'string' ? err : err.headers?.message}`));
      });
    }));
    assert.equal(connected.command, 'CONNECTED');
    assert.equal(connected.headers.version, '1.1', 'stomp.js 2.3.3 offers 1.1 and 1.0');
    const session = connected.headers.session;
    assert.ok(session, 'CONNECTED carries a session header');

    const topic = `/topic/legacy-sockjs-${randomUUID()}`;
    const got = inbox();
    const receiptId = `legacy-sub-${randomUUID()}`;
    const subscribedOk = new Promise((resolve) => {
      legacy.onreceipt = (frame) => {
        if (frame.headers['receipt-id'] === receiptId) resolve(frame);
      };
    });
    legacy.subscribe(topic, (m) => got.push(m), { receipt: receiptId });
    await within(8000, 'RECEIPT for legacy SUBSCRIBE', subscribedOk);

    // Sent by another client (stomp.js 7 over SockJS xhr-streaming), received by the legacy one.
    const { client: sender } = await stompjs7OverSockJs(server.httpUrl, ['xhr-streaming'], `snd${randomUUID().slice(0, 8)}`, 'sender');
    sender.publish({ destination: topic, body: 'hello from stomp.js 7', headers: { 'content-type': 'text/plain' } });
    const msg = await got.next(8000, 'MESSAGE at the legacy client');
    assert.equal(msg.command, 'MESSAGE');
    assert.equal(msg.body, 'hello from stomp.js 7');
    assert.equal(msg.headers.destination, topic);
    assert.deepEqual(errors, []);
    assert.equal(sock.transport, 'websocket', 'with nothing forced, sockjs-client picks websocket');

    legacy.disconnect();
    const { line, fields } = await server.sessionClosed(session);
    assert.equal(fields.transport, 'sockjs', line);
    assert.equal(fields.closedBy, 'client', line);
    assert.equal(fields.code, '1000', line);
    await within(10_000, 'sender deactivate()', sender.deactivate());
    openClients.delete(sender);
  });
});
