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
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';

import { Client } from '@stomp/stompjs';

import { Server, activateConnected, httpGet, inbox, installWatchdog, legacyConnect, legacySubscribe, within } from './harness.mjs';

const require = createRequire(import.meta.url);
const SockJS = require('sockjs-client');
// The legacy package's entry point returns the `Stomp` object (`Stomp.over`).
const LegacyStomp = require('stompjs');

const TEST_TIMEOUT_MS = 30_000;

installWatchdog('sockjs.mjs', 240_000);

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
  openClients.add(client);
  const connected = await activateConnected(
    client,
    12_000,
    `@stomp/stompjs CONNECTED over SockJS ${JSON.stringify(transports)}`,
    'SockJS',
  );
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
  const server = new Server([], { sessionClosedMs: 8000 }); // this suite's session-closed wait: 8 s

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
    const connected = await legacyConnect(legacy, 12_000, 'legacy stompjs CONNECTED over SockJS', errors);
    assert.equal(connected.command, 'CONNECTED');
    assert.equal(connected.headers.version, '1.1', 'stomp.js 2.3.3 offers 1.1 and 1.0');
    const session = connected.headers.session;
    assert.ok(session, 'CONNECTED carries a session header');

    const topic = `/topic/legacy-sockjs-${randomUUID()}`;
    const got = inbox();
    await legacySubscribe(legacy, topic, got, 8000);

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
