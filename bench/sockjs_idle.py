#!/usr/bin/env python3
"""Server memory per idle session, by transport (plain STOMP over WebSocket and SockJS).

Starts `target/release/stompbox serve` on a free loopback port, reads its RSS
(/proc/<pid>/status VmRSS), opens N idle sessions of one transport — each a
SockJS session with a STOMP CONNECT (heart-beat 0,0) — waits until all are
CONNECTED, lets the server settle, reads RSS again, prints the difference per
session, and repeats with a fresh server for the next transport.

Usage: bench/sockjs_idle.py [N]     (default 2000; bounded, loopback only)
"""
import asyncio, base64, json, os, re, signal, socket, subprocess, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
BIN = os.environ.get("STOMPBOX_BIN", "target/release/stompbox")
CONNECT = "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\u0000"


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


async def ws_connect(port, path, payload, extra_headers=""):
    """WebSocket handshake at `path`, one masked text frame with `payload`, wait for CONNECTED."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    w.write((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
             f"{extra_headers}\r\n").encode())
    await r.readuntil(b"\r\n\r\n")
    mask = os.urandom(4)
    w.write(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[k % 4] for k, b in enumerate(payload)))
    seen = b""
    while b"CONNECTED" not in seen:
        seen += await r.read(4096)
    return r, w


async def ws_session(port, i):
    """SockJS's websocket transport: STOMP frames inside a JSON array."""
    return await ws_connect(port, f"/test-ws/0/ws{i}/websocket", json.dumps([CONNECT]).encode())


async def plain_ws_session(port, i):
    """Plain STOMP over WebSocket at the endpoint (no SockJS), for comparison."""
    return await ws_connect(port, "/test-ws", CONNECT.encode(), "Sec-WebSocket-Protocol: v12.stomp\r\n")


async def xhr_streaming_session(port, i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"POST /test-ws/0/xs{i}/xhr_streaming HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    seen = b""
    while b"\no\n" not in seen:
        seen += await r.read(4096)
    body = json.dumps([CONNECT]).encode()
    r2, w2 = await asyncio.open_connection("127.0.0.1", port)
    w2.write(f"POST /test-ws/0/xs{i}/xhr_send HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    await r2.read()
    w2.close()
    while b"CONNECTED" not in seen:
        seen += await r.read(4096)
    return r, w


async def measure(pid, port, name, opener):
    base = rss_kib(pid)
    conns = []
    for start in range(0, N, 200):
        conns += await asyncio.gather(*(opener(port, i) for i in range(start, min(N, start + 200))))
    await asyncio.sleep(2)
    after = rss_kib(pid)
    per = (after - base) * 1024 / N
    print(f"{name:15} sessions={N}  rss_before={base} KiB  rss_after={after} KiB  per_session={per:,.0f} B")
    for _, w in conns:
        w.close()
    return per


async def main():
    # A fresh server per transport, so that memory freed by one run doesn't hide the next's.
    for name, opener in [("plain-websocket", plain_ws_session), ("sockjs-websocket", ws_session),
                         ("xhr-streaming", xhr_streaming_session)]:
        port = free_port()
        server = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--log", "warn"])
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port)).close(); break
                except OSError:
                    time.sleep(0.05)
            await measure(server.pid, port, name, opener)
        finally:
            server.send_signal(signal.SIGTERM); server.wait(10)


asyncio.run(main())
