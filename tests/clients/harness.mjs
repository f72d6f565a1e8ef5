// The test harness shared by run.mjs and sockjs.mjs: time, ports, HTTP, the `stompbox serve`
// process and its log, and the last-resort cleanup that never leaves a server behind.
//
// Importing this module installs exit and signal handlers that SIGKILL every started Server;
// each script installs its own watchdog with `installWatchdog(name, ms)`.
// STOMPBOX_BIN overrides the binary path; STOMPBOX_TEST_VERBOSE=1 echoes the server's stderr.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { freePort, httpGet, parseFields, sleep, spawnServe, within } from './util.mjs';

export const BIN =
  process.env.STOMPBOX_BIN ??
  fileURLToPath(new URL('../../target/release/stompbox', import.meta.url));
export const VERBOSE = process.env.STOMPBOX_TEST_VERBOSE === '1';

// ---------------------------------------------------------------------------------------------
// Time, ports, HTTP, the log's fields (side-effect-free, in util.mjs; re-exported here).

export { freePort, httpGet, inbox, parseFields, serverEnv, sleep, spawnServe, within } from './util.mjs';

/**
 * Activates an @stomp/stompjs client and resolves with its CONNECTED frame within `ms` (`what`
 * names the wait). A STOMP ERROR or a close of its `socketName` socket before that rejects.
 * After CONNECTED, later errors and closes are recorded in `client.errors` and `client.closes`
 * (not thrown); tests assert on them.
 */
export async function activateConnected(client, ms, what, socketName) {
  client.errors = [];
  client.closes = [];
  const connected = await within(
    ms,
    what,
    new Promise((resolve, reject) => {
      client.onConnect = resolve;
      client.onStompError = (frame) => {
        client.errors.push(frame);
        reject(new Error(`STOMP ERROR: ${frame.headers.message} ${frame.body}`));
      };
      client.onWebSocketClose = (evt) => {
        client.closes.push(evt);
        reject(new Error(`${socketName} closed before CONNECTED: code=${evt.code} reason=${evt.reason}`));
      };
      client.activate();
    }),
  );
  client.onStompError = (frame) => client.errors.push(frame);
  client.onWebSocketClose = (evt) => client.closes.push(evt);
  return connected;
}

/**
 * Connects a legacy stompjs 2.3.3 client as `legacy`/`secret` and resolves with its CONNECTED
 * frame within `ms` (`what` names the wait). An error callback before that is pushed to `errors`
 * and rejects.
 */
export function legacyConnect(legacy, ms, what, errors) {
  return within(ms, what, new Promise((resolve, reject) => {
    legacy.connect({ login: 'legacy', passcode: 'secret' }, resolve, (err) => {
      errors.push(err);
      reject(new Error(`legacy stompjs error: ${typeof err === 'string' ? err : err.headers?.message}`));
    });
  }));
}

/**
 * SUBSCRIBEs a legacy stompjs 2.3.3 client to `topic` with a receipt, pushing each MESSAGE to
 * `got`; resolves once the RECEIPT has arrived, within `ms`.
 */
export function legacySubscribe(legacy, topic, got, ms) {
  const receiptId = `legacy-sub-${randomUUID()}`;
  const subscribedOk = new Promise((resolve) => {
    legacy.onreceipt = (frame) => {
      if (frame.headers['receipt-id'] === receiptId) resolve(frame);
    };
  });
  legacy.subscribe(topic, (m) => got.push(m), { receipt: receiptId });
  return within(ms, 'RECEIPT for legacy SUBSCRIBE', subscribedOk);
}

// ---------------------------------------------------------------------------------------------
// The server process and its log.

const servers = new Set();

/**
 * `stompbox serve` on a free loopback port with `extraArgs`. After `start()`, `url` is the
 * WebSocket endpoint (`ws://…/test-ws`) and `httpUrl` the same endpoint over HTTP (SockJS).
 * `sessionClosedMs` is how long `sessionClosed()` waits by default.
 */
export class Server {
  constructor(extraArgs = [], { sessionClosedMs = 5000 } = {}) {
    this.extraArgs = extraArgs;
    this.sessionClosedMs = sessionClosedMs;
    this.log = '';
    this.waiters = new Set();
  }

  async start() {
    assert.ok(existsSync(BIN), `server binary not found at ${BIN}; run cargo build --release -p stompbox`);
    this.port = await freePort();
    this.url = `ws://127.0.0.1:${this.port}/test-ws`;
    this.httpUrl = `http://127.0.0.1:${this.port}/test-ws`;
    spawnServe(this, BIN, this.extraArgs, VERBOSE);
    servers.add(this);
    // After spawnServe's listener has appended the chunk to the log.
    this.child.stderr.on('data', () => {
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
  async sessionClosed(sessionId, ms = this.sessionClosedMs) {
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

// ---------------------------------------------------------------------------------------------
// Cleanup.

// Last resort: never leave a server behind, whatever happens to this process.
export function killAllSync() {
  for (const s of servers) {
    try {
      s.child?.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
// A closed stdout (e.g. piped into head) must not kill the process before its exit handler runs.
process.stdout.on('error', () => {});
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAllSync();
    process.exit(130);
  });
}

/**
 * If something keeps the event loop alive after the tests, do not hang CI: after `ms`, kill
 * every server and exit 1, reporting as `name`. The timer does not keep the process alive.
 */
export function installWatchdog(name, ms) {
  const watchdog = setTimeout(() => {
    console.error(`${name}: watchdog fired after ${ms / 1000} s; killing the server and exiting`);
    killAllSync();
    process.exit(1);
  }, ms);
  watchdog.unref();
  return watchdog;
}
