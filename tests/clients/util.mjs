// Side-effect-free helpers shared by the Node client tests (through harness.mjs, which
// re-exports them) and the browser runner (tests/browser/run.mjs): time, ports, HTTP, and reading
// the server's process and log. Importing this module installs no handlers and starts nothing.

import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';

// ---------------------------------------------------------------------------------------------
// Time, ports, HTTP.

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with `what` when `promise` has not settled within `ms`. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A free loopback port: bind port 0, read it, close. */
export function freePort() {
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

/** A bounded GET; resolves with `{ status, headers, body }`, rejects with `timeoutMessage` on timeout. */
export function httpGet(url, timeoutMs, timeoutMessage = 'http timeout') {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(timeoutMessage)));
    req.on('error', reject);
  });
}

/** A queue of incoming messages with a bounded `next()`. */
export function inbox() {
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

// ---------------------------------------------------------------------------------------------
// The server's process, log and environment.

/** SGR colour sequences, stripped from the server's stderr. */
export const ANSI = /\x1b\[[0-9;]*m/g;

/** Parses `key=value key="quoted value"` pairs of a `session closed:` log line. */
export function parseFields(text) {
  const fields = {};
  for (const m of text.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    let v = m[2];
    if (v.startsWith('"')) v = JSON.parse(v);
    fields[m[1]] = v;
  }
  return fields;
}

/** The server's environment: ours minus STOMPBOX_* settings, so only the flags here count. */
export function serverEnv() {
  const env = { NO_COLOR: '1' };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('STOMPBOX_') && k !== 'RUST_LOG') env[k] = v;
  }
  return env;
}

/**
 * Spawns `bin serve --listen 127.0.0.1:<server.port> …args` for `server` with `serverEnv()`:
 * sets `server.child`, `server.exited` (resolves with `server.exitStatus`, `{ code, signal }`,
 * set on exit) and appends the stderr, without colours, to `server.log` (echoed when `verbose`).
 * Tracking the child for cleanup is the caller's.
 */
export function spawnServe(server, bin, args, verbose) {
  server.child = spawn(bin, ['serve', '--listen', `127.0.0.1:${server.port}`, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: serverEnv(),
  });
  server.exited = new Promise((resolve) => {
    server.child.once('exit', (code, signal) => {
      server.exitStatus = { code, signal };
      resolve(server.exitStatus);
    });
  });
  server.child.stderr.setEncoding('utf8');
  server.child.stderr.on('data', (chunk) => {
    server.log += chunk.replace(ANSI, '');
    if (verbose) process.stderr.write(`[stompbox:${server.port}] ${chunk}`);
  });
  return server.child;
}
