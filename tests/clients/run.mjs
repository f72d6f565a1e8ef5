// Third-party JavaScript STOMP clients against the real `stompbox serve` binary.
//
// What runs here: @stomp/stompjs 7 (the maintained client) and the legacy `stompjs` 2.3.3
// (the stomp.js of the seed article's page), both over the `ws` package's WebSocket, plus raw
// `ws` sockets for the close-code checks. Each server is started by this file on free loopback
// ports and killed at the end, also when a test fails. Every wait is bounded.
//
// Run: `node tests/clients/run.mjs` after `cargo build --release -p stompbox` and
// `npm ci --prefix tests/clients`. STOMPBOX_BIN overrides the binary path;
// STOMPBOX_TEST_VERBOSE=1 echoes the server's stderr.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';

import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

import { Server, activateConnected, inbox, installWatchdog, legacyConnect, legacySubscribe, sleep, within } from './harness.mjs';

const require = createRequire(import.meta.url);
// The legacy package's entry point returns the `Stomp` object (`Stomp.over`, `Stomp.client`).
const LegacyStomp = require('stompjs');

// @stomp/stompjs builds its socket with `new WebSocket(brokerURL, protocols)`; Node 20 has no
// global WebSocket, so give it the `ws` one (what the library's docs recommend for Node).
Object.assign(globalThis, { WebSocket });

const TEST_TIMEOUT_MS = 20_000;

installWatchdog('run.mjs', 240_000);

// ---------------------------------------------------------------------------------------------
// Helpers: clients.

const openClients = new Set();

/**
 * Connects an @stomp/stompjs 7 client and resolves with `{ client, connected }` once CONNECTED
 * arrives. Any STOMP ERROR or socket close before that rejects.
 */
async function stompjs7(url, { login = 'anon', ...config } = {}) {
  const client = new Client({
    brokerURL: url,
    connectHeaders: { login, passcode: 'secret' },
    reconnectDelay: 0, // one attempt only: a failure must fail the test, not retry
    connectionTimeout: 5000,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => {},
    ...config,
  });
  openClients.add(client);
  const connected = await activateConnected(client, 8000, `@stomp/stompjs CONNECTED from ${url}`, 'WebSocket');
  return { client, connected };
}

/** Sends a frame with a receipt header and waits for the matching RECEIPT. */
function withReceipt(client, send, what, ms = 5000) {
  const receiptId = `rcpt-${randomUUID()}`;
  const got = new Promise((resolve) => client.watchForReceipt(receiptId, resolve));
  send({ receipt: receiptId });
  return within(ms, `RECEIPT ${receiptId} for ${what}`, got).then((frame) => {
    assert.equal(frame.command, 'RECEIPT');
    assert.equal(frame.headers['receipt-id'], receiptId);
    return frame;
  });
}

/** Subscribes and waits for the server to confirm the subscription with a RECEIPT. */
async function subscribed(client, destination, onMessage, headers = {}) {
  let sub;
  await withReceipt(
    client,
    (h) => {
      sub = client.subscribe(destination, onMessage, { ...headers, ...h });
    },
    `SUBSCRIBE ${destination}`,
  );
  return sub;
}

/** Raw `ws` socket: opens, sends CONNECT, resolves with the socket and the CONNECTED text. */
async function rawConnect(url, { protocols = ['v12.stomp'], login = 'raw' } = {}) {
  const ws = new WebSocket(url, protocols);
  ws.on('error', () => {}); // errors surface as closes; tests assert on those
  await within(5000, `WebSocket open ${url}`, new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('close', (code) => reject(new Error(`closed before open: ${code}`)));
  }));
  const connected = await within(5000, 'CONNECTED on raw socket', new Promise((resolve) => {
    ws.once('message', (data) => resolve(data.toString('utf8')));
    ws.send(`CONNECT\naccept-version:1.2\nhost:localhost\nlogin:${login}\nheart-beat:0,0\n\n\0`);
  }));
  assert.match(connected, /^CONNECTED\n/, `expected CONNECTED, got ${JSON.stringify(connected)}`);
  const session = /\nsession:([^\n]+)\n/.exec(connected)?.[1];
  assert.ok(session, `CONNECTED has no session header: ${JSON.stringify(connected)}`);
  return { ws, session, connected };
}

async function closeAllClients() {
  const pending = [];
  for (const c of openClients) {
    if (c instanceof Client) pending.push(c.deactivate({ force: true }).catch(() => {}));
    else if (typeof c.terminate === 'function') c.terminate();
    else if (c.ws && typeof c.ws.terminate === 'function') c.ws.terminate();
  }
  openClients.clear();
  await within(5000, 'closing clients', Promise.all(pending)).catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// The suites.

describe('stompbox with third-party JavaScript STOMP clients', () => {
  const server = new Server();
  const hbServer = new Server(['--heart-beat', '1000,1000']);

  before(async () => {
    await Promise.all([server.start(), hbServer.start()]);
  });

  after(async () => {
    await closeAllClients();
    await Promise.all([server.stop(), hbServer.stop()]);
  });

  describe('@stomp/stompjs 7 over ws', () => {
    test('negotiates v12.stomp and STOMP 1.2, and /app/hello greets on /topic/greetings', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { client, connected } = await stompjs7(server.url, { login: 'ada' });
      assert.equal(client.webSocket.protocol, 'v12.stomp', 'negotiated WebSocket subprotocol');
      assert.equal(connected.command, 'CONNECTED');
      assert.equal(connected.headers.version, '1.2', 'CONNECTED version header');
      assert.ok(connected.headers.session, 'CONNECTED carries a session header');

      const greetings = inbox();
      await subscribed(client, '/topic/greetings', (m) => greetings.push(m));
      client.publish({ destination: '/app/hello', body: JSON.stringify({ name: 'Ada' }) });
      const msg = await greetings.next(5000, 'MESSAGE on /topic/greetings');
      assert.equal(msg.command, 'MESSAGE');
      assert.equal(msg.headers.destination, '/topic/greetings');
      assert.deepEqual(JSON.parse(msg.body), { content: 'Hello, Ada!' });
      assert.deepEqual(client.errors, [], 'no STOMP ERROR frames');
      await client.deactivate();
    });

    test('a queue keeps messages until a consumer subscribes; client-individual ACKs are accepted', { timeout: TEST_TIMEOUT_MS }, async () => {
      const queue = `/queue/ci-${randomUUID()}`;
      const { client: producer } = await stompjs7(server.url, { login: 'producer' });
      const bodies = ['one', 'two', 'three'];
      for (const body of bodies) {
        await withReceipt(producer, (h) => producer.publish({ destination: queue, body, headers: h }), `SEND ${body}`);
      }

      const { client: consumer } = await stompjs7(server.url, { login: 'consumer' });
      const got = inbox();
      await subscribed(consumer, queue, (m) => got.push(m), { ack: 'client-individual' });
      const received = [];
      for (let i = 0; i < bodies.length; i++) {
        const m = await got.next(5000, `queued message ${i + 1} of ${bodies.length}`);
        assert.ok(m.headers.ack, `STOMP 1.2 MESSAGE in a client-individual subscription has an ack header: ${JSON.stringify(m.headers)}`);
        assert.ok(m.headers['message-id'], 'MESSAGE has a message-id');
        received.push(m.body);
        // ACK each one individually, with a receipt proving the server accepted it.
        await withReceipt(consumer, (h) => m.ack(h), `ACK of ${m.body}`);
      }
      assert.deepEqual(received, bodies, 'queued messages arrive once each, in order');

      // A second consumer on the same queue sees nothing: all three were acknowledged.
      const { client: late } = await stompjs7(server.url, { login: 'late' });
      const lateGot = inbox();
      await subscribed(late, queue, (m) => lateGot.push(m), { ack: 'client-individual' });
      await sleep(500);
      assert.deepEqual(lateGot.items.map((m) => m.body), [], 'acknowledged messages are not delivered again');
      assert.deepEqual([...producer.errors, ...consumer.errors, ...late.errors], [], 'no STOMP ERROR frames');
      await Promise.all([producer.deactivate(), consumer.deactivate(), late.deactivate()]);
    });

    test('a queue delivers each message to exactly one of its consumers', { timeout: TEST_TIMEOUT_MS }, async () => {
      const queue = `/queue/rr-${randomUUID()}`;
      const a = await stompjs7(server.url, { login: 'rr-a' });
      const b = await stompjs7(server.url, { login: 'rr-b' });
      const gotA = inbox();
      const gotB = inbox();
      await subscribed(a.client, queue, (m) => gotA.push(m));
      await subscribed(b.client, queue, (m) => gotB.push(m));
      const bodies = ['m1', 'm2', 'm3', 'm4'];
      for (const body of bodies) {
        await withReceipt(a.client, (h) => a.client.publish({ destination: queue, body, headers: h }), `SEND ${body}`);
      }
      const deadline = Date.now() + 5000;
      while (gotA.items.length + gotB.items.length < bodies.length && Date.now() < deadline) await sleep(50);
      await sleep(300); // a duplicate would show up here
      const all = [...gotA.items, ...gotB.items].map((m) => m.body).sort();
      assert.deepEqual(all, [...bodies].sort(), 'every message delivered exactly once across consumers');
      assert.ok(gotA.items.length > 0 && gotB.items.length > 0,
        `both consumers get a share (round-robin): a=${gotA.items.length} b=${gotB.items.length}`);
      await Promise.all([a.client.deactivate(), b.client.deactivate()]);
    });

    test('a SEND with a receipt header gets a RECEIPT with the same receipt-id', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { client } = await stompjs7(server.url, { login: 'receipts' });
      const frame = await withReceipt(
        client,
        (h) => client.publish({ destination: `/topic/r-${randomUUID()}`, body: 'x', headers: h }),
        'SEND to a topic',
      );
      assert.equal(frame.command, 'RECEIPT');
      await client.deactivate();
    });

    test('alice sends to /user/bob/queue/x and only bob (subscribed to /user/queue/x) receives it', { timeout: TEST_TIMEOUT_MS }, async () => {
      const bob = await stompjs7(server.url, { login: 'bob' });
      const alice = await stompjs7(server.url, { login: 'alice' });
      const bobGot = inbox();
      const aliceGot = inbox();
      await subscribed(bob.client, '/user/queue/x', (m) => bobGot.push(m));
      await subscribed(alice.client, '/user/queue/x', (m) => aliceGot.push(m));
      await withReceipt(
        alice.client,
        (h) => alice.client.publish({ destination: '/user/bob/queue/x', body: 'hello bob', headers: h }),
        'SEND to /user/bob/queue/x',
      );
      const msg = await bobGot.next(5000, "bob's MESSAGE on /user/queue/x");
      assert.equal(msg.body, 'hello bob');
      await sleep(300);
      assert.deepEqual(aliceGot.items.map((m) => m.body), [], 'alice does not receive what was sent to bob');
      await Promise.all([bob.client.deactivate(), alice.client.deactivate()]);
    });

    test('deactivate() is logged as session closed with closedBy=client for the CONNECTED session id', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { client, connected } = await stompjs7(server.url, { login: 'leaver' });
      const session = connected.headers.session;
      assert.ok(session, 'CONNECTED carries a session header');
      server.assertStillOpen(session);
      await within(5000, 'deactivate()', client.deactivate());
      const { line, fields } = await server.sessionClosed(session);
      assert.equal(fields.closedBy, 'client', line);
      assert.equal(fields.user, 'leaver', line);
      assert.equal(fields.transport, 'websocket', line);
      // deactivate() sends DISCONNECT (with a receipt) before closing the socket.
      assert.equal(fields.code, '1000', line);
      assert.equal(fields.reason, 'DISCONNECT', line);
    });
  });

  describe('legacy stompjs 2.3.3 (the seed page client) over ws', () => {
    test('offers v10/v11, gets STOMP 1.1, and receives a message sent by another client', { timeout: TEST_TIMEOUT_MS }, async () => {
      const ws = new WebSocket(server.url, ['v10.stomp', 'v11.stomp']);
      ws.on('error', () => {});
      openClients.add(ws);
      const legacy = LegacyStomp.over(ws);
      legacy.debug = null; // silence; set to console.log to see frames
      const errors = [];
      const connected = await legacyConnect(legacy, 8000, 'legacy stompjs CONNECTED', errors);
      assert.equal(ws.protocol, 'v11.stomp', 'negotiated WebSocket subprotocol');
      assert.equal(connected.command, 'CONNECTED');
      assert.equal(connected.headers.version, '1.1', 'CONNECTED version header');
      const session = connected.headers.session;
      assert.ok(session, 'CONNECTED carries a session header');

      const topic = `/topic/legacy-${randomUUID()}`;
      const got = inbox();
      await legacySubscribe(legacy, topic, got, 5000);

      const { client: sender } = await stompjs7(server.url, { login: 'sender' });
      sender.publish({ destination: topic, body: 'hello from stomp.js 7', headers: { 'content-type': 'text/plain' } });
      const msg = await got.next(5000, 'MESSAGE at the legacy client');
      assert.equal(msg.command, 'MESSAGE');
      assert.equal(msg.body, 'hello from stomp.js 7');
      assert.equal(msg.headers.destination, topic);
      assert.ok(msg.headers.subscription, 'MESSAGE carries the subscription id');
      assert.deepEqual(errors, []);

      // stomp.js 2.3.3 disconnect(): DISCONNECT, then ws.close() at once.
      legacy.disconnect();
      const { line, fields } = await server.sessionClosed(session);
      assert.equal(fields.closedBy, 'client', line);
      await sender.deactivate();
    });
  });

  describe('close codes in the server log', () => {
    test('a socket destroyed without a Close frame is logged as code=1006 closedBy=none(abnormal)', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { ws, session } = await rawConnect(server.url, { login: 'dropper' });
      openClients.add(ws);
      server.assertStillOpen(session);
      ws._socket.destroy(); // what a killed browser tab or a dead proxy leaves behind
      const { line, fields } = await server.sessionClosed(session);
      assert.equal(fields.code, '1006', line);
      assert.equal(fields.closedBy, 'none(abnormal)', line);
      assert.equal(fields.user, 'dropper', line);
    });

    test('a Close frame with code 1000 is logged as code=1000 closedBy=client', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { ws, session } = await rawConnect(server.url, { login: 'closer' });
      openClients.add(ws);
      ws.close(1000, 'bye');
      const { line, fields } = await server.sessionClosed(session);
      assert.equal(fields.code, '1000', line);
      assert.equal(fields.reason, 'bye', line);
      assert.equal(fields.closedBy, 'client', line);
    });

    test('a browser-style Close frame without a code is logged as code=1005 closedBy=client', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { ws, session } = await rawConnect(server.url, { login: 'nocode' });
      openClients.add(ws);
      ws.close(); // empty Close payload
      const { line, fields } = await server.sessionClosed(session);
      assert.equal(fields.code, '1005', line);
      assert.equal(fields.closedBy, 'client', line);
    });
  });

  describe('heart-beats (server started with --heart-beat 1000,1000)', () => {
    test('@stomp/stompjs 7 with 1000 ms heart-beats stays connected 4 s and receives server heart-beats', { timeout: TEST_TIMEOUT_MS }, async (t) => {
      let rawSocket;
      let serverHeartBeats = 0;
      const { client, connected } = await stompjs7(hbServer.url, {
        login: 'beater',
        heartbeatIncoming: 1000,
        heartbeatOutgoing: 1000,
        // Our own socket so that the raw frames can be observed beside the library.
        webSocketFactory: () => {
          rawSocket = new WebSocket(hbServer.url, ['v12.stomp', 'v11.stomp', 'v10.stomp']);
          rawSocket.on('message', (data) => {
            // A STOMP heart-beat is a lone EOL in its own WebSocket message.
            const text = data.toString('utf8');
            if (/^(\r?\n)+$/.test(text)) serverHeartBeats += 1;
          });
          return rawSocket;
        },
      });
      assert.equal(connected.headers.version, '1.2');
      assert.equal(connected.headers['heart-beat'], '1000,1000', 'server offers its configured heart-beat');
      const session = connected.headers.session;
      const beatsAtConnect = serverHeartBeats;
      await sleep(4000);
      assert.ok(client.connected, 'client is still connected after 4 s');
      assert.deepEqual(client.closes, [], 'no WebSocket close during the 4 s');
      assert.equal(rawSocket.readyState, WebSocket.OPEN);
      hbServer.assertStillOpen(session);
      const beats = serverHeartBeats - beatsAtConnect;
      t.diagnostic(`server heart-beats seen on the raw socket in 4 s: ${beats}`);
      assert.ok(beats >= 2, `expected at least 2 server heart-beats in 4 s at 1000 ms, saw ${beats}`);
      await client.deactivate();
      const { fields, line } = await hbServer.sessionClosed(session);
      assert.equal(fields.closedBy, 'client', line);
    });
  });
});
