#!/usr/bin/env python3
"""The seed's experiment for real: stompbox behind a real nginx on loopback.

Each case starts its own `stompbox serve` (`--heart-beat 0,0`: no STOMP heart-beats, like
Spring's simple broker, so SockJS `h` frames are the only traffic the server sends) and its own
nginx (`nginx -c <tmp>/nginx.conf -p <tmp>`, `daemon off`), both on free loopback ports, and talks
raw WebSocket / HTTP to nginx. The cases run concurrently; everything started is stopped at the
end, also on failure, Ctrl-C or SIGTERM.

  a  seed     SockJS websocket through the seed's location block (proxy_read_timeout 10s),
              server heartbeat 25s: nginx cuts the idle session ~10 s after CONNECTED, the
              client gets EOF without a Close frame, the server logs code=1006 none(abnormal).
  b  fix-hb   the same with a 5s SockJS heartbeat: the session lives 30 s on `h` frames, then a
              DISCONNECT closes it normally (code=1000).
  c  stream   xhr_streaming through the seed's block plus `proxy_buffering off`: the 2 KiB
              prelude and `o` arrive at once, xhr_send CONNECT -> `a["CONNECTED`, `h` on time.
              Without `proxy_buffering off` it is measured and printed (nginx 1.22 passes a plain
              stream on at once anyway); with `gzip on` for application/javascript, buffering
              on delivers nothing at all, buffering off everything at once (both asserted).
  d  config   `stompbox nginx-config` output (in a minimal http {}) passes `nginx -t` (and a few
              variants do too); a session through it lives 30 s with a 25s heartbeat (one `h`),
              xhr_streaming through it is prompt.
  e  client   seed's block, server silent (60s heartbeat), the client sends a STOMP EOL every 4 s
              for 20 s, then nothing: does client->server traffic reset proxy_read_timeout on an
              upgraded connection? (nginx 1.22: yes; the cut comes 10 s after the client's last
              message.)

Python 3 standard library only. STOMPBOX_BIN overrides the binary, NGINX the nginx binary,
STOMPBOX_TEST_VERBOSE=1 echoes server logs, NGINX_TEST_CASES=a,c picks cases.
"""

import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("STOMPBOX_BIN") or os.path.join(ROOT, "target", "release", "stompbox")
NGINX = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
VERBOSE = os.environ.get("STOMPBOX_TEST_VERBOSE") == "1"
T0 = time.monotonic()

CONNECT = "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\x00"
DISCONNECT = "DISCONNECT\nreceipt:bye\n\n\x00"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')

# Every process started here, stopped by cleanup() whatever happens.
STARTED = []
TEMP_DIRS = []


def log(case, text):
    print(f"[{time.monotonic() - T0:6.2f}s] {case}: {text}", flush=True)


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def sockjs_id():
    return secrets.token_hex(6)


class CaseFailure(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise CaseFailure(message)


# ---------------------------------------------------------------------------------------------
# Processes


def stop_process(proc, grace=5.0):
    """SIGTERM to the process group (each child leads its own), SIGKILL after `grace`."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(proc.pid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            return
        time.sleep(0.05)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def cleanup():
    for proc in reversed(STARTED):
        try:
            stop_process(proc)
        except Exception:  # noqa: BLE001 - cleanup goes on
            pass
    STARTED.clear()
    for d in TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)
    TEMP_DIRS.clear()


class Stompbox:
    """`stompbox serve` on a free loopback port; stderr lines kept with their arrival time."""

    def __init__(self, case, sockjs_heartbeat):
        self.case = case
        self.sockjs_heartbeat = sockjs_heartbeat
        self.port = free_port()
        self.lines = []  # (monotonic time, line)

    async def start(self):
        check(os.access(BIN, os.X_OK), f"{BIN} missing: run the build step first")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOMPBOX_") and k != "RUST_LOG"}
        env["NO_COLOR"] = "1"
        args = [
            "serve",
            "--listen", f"127.0.0.1:{self.port}",
            "--heart-beat", "0,0",
            "--sockjs-heartbeat", self.sockjs_heartbeat,
        ]
        self.proc = await asyncio.create_subprocess_exec(
            BIN, *args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=env, start_new_session=True,
        )
        STARTED.append(self.proc)
        self.reader = asyncio.create_task(self._read())
        await self.wait_line(lambda l: "listening" in l, 15, "the `listening` line")

    async def _read(self):
        while True:
            raw = await self.proc.stderr.readline()
            if not raw:
                return
            line = ANSI.sub("", raw.decode("utf-8", "replace").rstrip("\n"))
            self.lines.append((time.monotonic(), line))
            if VERBOSE:
                print(f"  [stompbox {self.case}] {line}", flush=True)

    async def wait_line(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            for t, line in self.lines:
                if pred(line):
                    return t, line
            if self.proc.returncode is not None:
                raise CaseFailure(f"stompbox exited ({self.proc.returncode}) waiting for {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise CaseFailure(f"no {what} within {timeout}s; server log tail:\n{self.tail()}")
            await asyncio.sleep(0.02)

    async def session_closed(self, sid, timeout):
        """(arrival time, fields) of the `session closed:` line for SockJS session `sid`."""

        def pred(line):
            return "session closed:" in line and f"sessionId={sid} " in line + " "

        t, line = await self.wait_line(pred, timeout, f"`session closed` line for sessionId={sid}")
        fields = {}
        for m in FIELD.finditer(line.split("session closed:", 1)[1]):
            v = m.group(2)
            fields[m.group(1)] = json.loads(v) if v.startswith('"') else v
        fields["_line"] = line[line.index("session closed:"):]
        return t, fields

    def closed_lines(self, sid):
        return [l for _, l in self.lines if "session closed:" in l and f"sessionId={sid}" in l]

    def tail(self, n=25):
        return "\n".join(l for _, l in self.lines[-n:])


def nginx_main_conf(directory, http_body):
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""# written by tests/nginx/run.py
daemon off;
master_process on;
worker_processes 1;
{user}pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;

{http_body}
}}
"""


def seed_server(listen_port, upstream_port, extra=""):
    """The seed's location block (its Host/X-* headers aside), on loopback."""
    return f"""    server {{
        listen 127.0.0.1:{listen_port};
        location /test-ws {{
            proxy_pass http://127.0.0.1:{upstream_port}/test-ws;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "Upgrade";
            proxy_read_timeout 10s;{extra}
        }}
    }}
"""


class Nginx:
    def __init__(self, case, http_body_fn):
        """`http_body_fn(directory)` returns what goes inside http {}."""
        self.case = case
        self.dir = tempfile.mkdtemp(prefix="stompbox-nginx-" + re.sub(r"\W+", "-", case) + "-")
        TEMP_DIRS.append(self.dir)
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(nginx_main_conf(self.dir, http_body_fn(self.dir)))

    def argv(self, *extra):
        return [NGINX, *extra, "-p", self.dir + "/", "-c", self.conf, "-e", os.path.join(self.dir, "error.log")]

    def test_config(self):
        r = subprocess.run(self.argv("-t"), capture_output=True, text=True, timeout=30)
        return r.returncode, (r.stdout + r.stderr).strip()

    async def start(self, ports):
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        STARTED.append(self.proc)
        deadline = time.monotonic() + 10
        for port in ports:
            while True:
                if self.proc.returncode is not None:
                    err = (await self.proc.stderr.read()).decode(errors="replace")
                    raise CaseFailure(f"nginx exited ({self.proc.returncode}): {err}\n{self.error_log()}")
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", port)
                    w.close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise CaseFailure(f"nginx not listening on {port}:\n{self.error_log()}")
                    await asyncio.sleep(0.05)

    def error_log(self, pattern=None):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        if pattern:
            lines = [l for l in lines if pattern in l]
        return "\n".join(lines[-20:])


# ---------------------------------------------------------------------------------------------
# Clients: raw WebSocket and HTTP over asyncio streams


class WebSocket:
    """A minimal RFC 6455 client: text frames out (masked), frames in with arrival times."""

    @classmethod
    async def connect(cls, port, path):
        self = cls()
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status = head.split(b"\r\n", 1)[0].decode()
        check(" 101 " in status + " ", f"WebSocket handshake to {path}: {status}")
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        check(accept.lower() in head.lower(), f"bad Sec-WebSocket-Accept in {head!r}")
        return self

    async def recv(self):
        """(opcode, payload, arrival time), or None at EOF (or a reset)."""
        try:
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await self.reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await self.reader.readexactly(n)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return b0 & 0x0F, payload, time.monotonic()

    def send(self, text, opcode=0x1):
        data = text.encode() if isinstance(text, str) else text
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        self.writer.write(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def send_sockjs(self, *messages):
        self.send(json.dumps(list(messages)))

    def close(self):
        self.writer.close()


async def sockjs_ws_connect(case, port):
    """SockJS websocket transport: `o`, then CONNECT -> CONNECTED. Returns (ws, sid, t_connected)."""
    sid = sockjs_id()
    ws = await WebSocket.connect(port, f"/test-ws/000/{sid}/websocket")
    frame = await asyncio.wait_for(ws.recv(), 10)
    check(frame is not None and frame[1] == b"o", f"expected the SockJS open frame, got {frame}")
    ws.send_sockjs(CONNECT)
    frame = await asyncio.wait_for(ws.recv(), 10)
    check(frame is not None and frame[1].startswith(b'a["CONNECTED'), f"expected CONNECTED, got {frame}")
    stomp_session = connected_session(frame[1])
    log(case, f"SockJS websocket /test-ws/000/{sid}/websocket: o, CONNECT -> CONNECTED session:{stomp_session}")
    return ws, stomp_session, frame[2]


def connected_session(payload):
    """The `session` header of the CONNECTED frame in a SockJS `a[...]` frame: the id the
    server's `session closed` line uses."""
    frame = json.loads(payload[1:])[0]
    for line in frame.split("\n\n", 1)[0].split("\n")[1:]:
        if line.startswith("session:"):
            return line[len("session:"):]
    raise CaseFailure(f"CONNECTED without a session header: {frame!r}")


async def disconnect_normally(case, ws, server, sid):
    """DISCONNECT with a receipt: RECEIPT, c[1000,...], and the log's code=1000."""
    ws.send_sockjs(DISCONNECT)
    seen = []
    while True:
        frame = await asyncio.wait_for(ws.recv(), 10)
        if frame is None:
            break
        seen.append(frame[:2])
        if frame[0] == 0x8:
            ws.send(frame[1][:2], opcode=0x8)  # complete the close handshake
            break
    payloads = [p for op, p in seen if op == 0x1]
    check(any(p.startswith(b'a["RECEIPT\\nreceipt-id:bye') for p in payloads), f"no RECEIPT after DISCONNECT: {seen}")
    check(any(p.startswith(b"c[1000") for p in payloads), f"no c[1000,...] after DISCONNECT: {seen}")
    _, fields = await server.session_closed(sid, 5)
    check(fields.get("code") == "1000", f"expected code=1000: {fields['_line']}")
    log(case, f"DISCONNECT -> RECEIPT, {payloads[-1].decode()}; server: {fields['_line']}")
    ws.close()


class Stream:
    """An HTTP request whose response body is read as it arrives (chunked or not)."""

    @classmethod
    async def post(cls, port, path, body=b"", headers=""):
        self = cls()
        self.start = time.monotonic()
        self.body = bytearray()
        self.arrivals = []  # (monotonic time, total body length so far)
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n".encode()
            + body
        )
        self.task = None
        return self

    async def read_head(self, timeout):
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for l in lines[1:]:
            if ":" in l:
                k, v = l.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        self.head_time = time.monotonic()
        return self.status

    def start_body(self):
        gzipped = self.headers.get("content-encoding", "").lower() == "gzip"
        self.decoder = zlib.decompressobj(wbits=31) if gzipped else None
        self.task = asyncio.create_task(self._body())

    async def _body(self):
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        try:
            if chunked:
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        return
                    data = await self.reader.readexactly(size + 2)
                    self._got(data[:-2])
            elif length is not None:
                self._got(await self.reader.readexactly(int(length)))
            else:
                while data := await self.reader.read(65536):
                    self._got(data)
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    def _got(self, data):
        if self.decoder is not None:
            data = self.decoder.decompress(data)
        self.body += data
        self.arrivals.append((time.monotonic(), len(self.body)))

    async def wait_for(self, pred, timeout):
        """Seconds since the request when pred(body) first held, or None after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(bytes(self.body)):
                return self.arrivals[-1][0] - self.start
            if self.task is not None and self.task.done():
                break
            await asyncio.sleep(0.01)
        return None

    def close(self):
        if self.task is not None:
            self.task.cancel()
        self.writer.close()


async def http_post(port, path, body):
    s = await Stream.post(port, path, body)
    status = await s.read_head(10)
    s.close()
    return status


# ---------------------------------------------------------------------------------------------
# Cases


async def case_a_seed():
    """The seed: 25s SockJS heartbeat, proxy_read_timeout 10s -> cut after ~10 s, 1006."""
    case = "a seed"
    server = Stompbox(case, "25s")
    await server.start()
    port = free_port()
    nginx = Nginx(case, lambda d: seed_server(port, server.port))
    await nginx.start([port])
    ws, sid, t_connected = await sockjs_ws_connect(case, port)
    frames = []
    while True:
        frame = await asyncio.wait_for(ws.recv(), 20)
        if frame is None:
            t_eof = time.monotonic()
            break
        frames.append(frame)
    check(not any(op == 0x8 for op, _, _ in frames), f"the client got a Close frame: {frames}")
    check(not frames, f"expected nothing between CONNECTED and the cut, got {frames}")
    t_log, fields = await server.session_closed(sid, 5)
    eof_after = t_eof - t_connected
    log_after = t_log - t_connected
    log(case, f"client: EOF without a Close frame {eof_after:.2f}s after CONNECTED")
    log(case, f"server: {fields['_line']}  ({log_after:.2f}s after CONNECTED)")
    cut = nginx.error_log("timed out")
    if cut:
        log(case, f"nginx error.log: {cut.splitlines()[-1].split('] ', 1)[-1]}")
    check(fields.get("code") == "1006", f"expected code=1006: {fields['_line']}")
    check(fields.get("closedBy") == "none(abnormal)", f"expected closedBy=none(abnormal): {fields['_line']}")
    check(8.0 <= log_after <= 12.0, f"log line {log_after:.2f}s after CONNECTED, expected 10 +- 2 s")
    check(8.0 <= eof_after <= 12.0, f"client EOF {eof_after:.2f}s after CONNECTED, expected 10 +- 2 s")
    ws.close()
    return f"cut {eof_after:.2f}s after CONNECTED (client EOF), logged 1006 after {log_after:.2f}s"


async def watch_idle(case, ws, seconds):
    """Frames received during `seconds`; fails on EOF."""
    frames = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            break
        check(frame is not None, f"connection cut after {seconds - left:.2f}s of {seconds}s; frames: {frames}")
        frames.append(frame)
    return frames


async def case_b_short_heartbeat():
    """The fix on the server side: a 5s heartbeat keeps the session through a 10s timeout."""
    case = "b 5s-heartbeat"
    server = Stompbox(case, "5s")
    await server.start()
    port = free_port()
    nginx = Nginx(case, lambda d: seed_server(port, server.port))
    await nginx.start([port])
    ws, sid, t_connected = await sockjs_ws_connect(case, port)
    frames = await watch_idle(case, ws, 30)
    hs = [t - t_connected for op, p, t in frames if p == b"h"]
    check(len(hs) == len(frames), f"expected only h frames, got {[f[:2] for f in frames]}")
    check(len(hs) >= 5, f"expected >= 5 h frames in 30 s, got {len(hs)}")
    check(not server.closed_lines(sid), f"session closed: {server.closed_lines(sid)}")
    log(case, f"alive 30 s; h frames at {', '.join(f'{t:.1f}' for t in hs)} s")
    await disconnect_normally(case, ws, server, sid)
    return f"30 s alive with {len(hs)} h frames, then DISCONNECT -> code=1000"


async def stream_session(case, label, port, prompt=2.0, heartbeat=None, headers=""):
    """xhr_streaming + xhr_send CONNECT (+ the first `h` when `heartbeat` s is given); returns
    the timings in seconds (None: not within `prompt` s)."""
    sid = sockjs_id()
    base = f"/test-ws/000/{sid}"
    stream = await Stream.post(port, f"{base}/xhr_streaming", headers=headers)
    try:
        try:
            status = await stream.read_head(prompt + 1)
        except asyncio.TimeoutError:
            # Nothing at all yet: CONNECT anyway, give the server time for a heartbeat, look again.
            await http_post(port, f"{base}/xhr_send", json.dumps([CONNECT]).encode())
            try:
                await stream.read_head((heartbeat or 0) + prompt)
                late = time.monotonic() - stream.start
            except asyncio.TimeoutError:
                late = None
            await http_post(port, f"{base}/xhr_send", json.dumps([DISCONNECT]).encode())
            return {"sid": sid, "headers": None, "late_headers": late, "connected_after_send": None, "open": None,
                    "encoding": None}
        check(status == 200, f"{label}: xhr_streaming answered {status}")
        head_s = stream.head_time - stream.start
        stream.start_body()
        prelude = b"h" * 2048 + b"\n"
        t_prelude = await stream.wait_for(lambda b: b.startswith(prelude), prompt)
        t_open = await stream.wait_for(lambda b: b.startswith(prelude + b"o\n"), prompt)
        t_send = time.monotonic() - stream.start
        send_status = await http_post(port, f"{base}/xhr_send", json.dumps([CONNECT]).encode())
        check(send_status == 204, f"{label}: xhr_send answered {send_status}")
        t_connected = await stream.wait_for(lambda b: b'a["CONNECTED' in b, prompt)
        after_send = None if t_connected is None else t_connected - t_send
        first_h = None
        if heartbeat is not None:
            t_h = await stream.wait_for(lambda b: re.search(rb'a\["CONNECTED.*\nh\n', b, re.S), heartbeat + prompt)
            if t_h is not None and t_connected is not None:
                first_h = t_h - t_connected
        # End the session normally (code=1000 in the log) rather than leave it to time out.
        await http_post(port, f"{base}/xhr_send", json.dumps([DISCONNECT]).encode())
        return {
            "first_h": first_h,
            "encoding": stream.headers.get("content-encoding", "identity"),
            "sid": sid,
            "headers": head_s,
            "prelude": t_prelude,
            "open": t_open,
            "connected_after_send": after_send,
            "bytes": len(stream.body),
            "arrivals": len(stream.arrivals),
        }
    finally:
        stream.close()


def fmt_s(v):
    return "not within 2 s" if v is None else f"{max(v, 0) * 1000:.0f} ms"


def fmt_stream(r):
    if r["headers"] is None:
        late = r["late_headers"]
        return (
            "not even the response headers within 3 s, nor within 4 s after xhr_send CONNECT"
            if late is None
            else f"no response headers within 3 s; they came {late:.1f}s after the request"
        )
    r_first_h = r["first_h"]
    return (
        f"2048-byte h prelude {fmt_s(r['prelude'])}, o {fmt_s(r['open'])}, "
        f"CONNECTED {fmt_s(r['connected_after_send'])} after xhr_send, "
        f"first h {'not seen' if r['first_h'] is None else f'{r_first_h:.2f}s'} after CONNECTED"
    )


async def case_c_streaming():
    """xhr_streaming with proxy_buffering off (prompt), without it, and with gzip on."""
    case = "c xhr-streaming"
    server = Stompbox(case, "2s")
    await server.start()
    port_off, port_on, port_gzip, port_gzip_off = free_port(), free_port(), free_port(), free_port()
    gzip = "\n            gzip on;\n            gzip_types application/javascript;\n            gzip_min_length 1;"
    nginx = Nginx(
        case,
        lambda d: seed_server(port_off, server.port, "\n            proxy_buffering off;")
        + seed_server(port_on, server.port)
        + seed_server(port_gzip, server.port, gzip)
        + seed_server(port_gzip_off, server.port, gzip + "\n            proxy_buffering off;"),
    )
    await nginx.start([port_off, port_on, port_gzip, port_gzip_off])
    off, on, gz, gz_off = await asyncio.gather(
        stream_session(case, "proxy_buffering off", port_off, heartbeat=2),
        stream_session(case, "proxy_buffering on", port_on, heartbeat=2),
        stream_session(case, "gzip", port_gzip, heartbeat=2, headers="Accept-Encoding: gzip\r\n"),
        stream_session(case, "gzip+off", port_gzip_off, heartbeat=2, headers="Accept-Encoding: gzip\r\n"),
    )
    log(case, f"proxy_buffering off: {fmt_stream(off)}")
    log(case, f"proxy_buffering on (nginx's default): {fmt_stream(on)}")
    log(case, f"proxy_buffering on, gzip on for application/javascript: {fmt_stream(gz)}")
    log(case, f"proxy_buffering off, gzip on ({gz_off['encoding']}): {fmt_stream(gz_off)}")
    check(off["prelude"] is not None and off["open"] is not None, f"prelude/o not delivered promptly: {off}")
    check(off["connected_after_send"] is not None, f"CONNECTED not delivered promptly: {off}")
    check(off["first_h"] is not None and off["first_h"] < 3, f"h not delivered promptly: {off}")
    check(gz["encoding"] in ("gzip", None), f"expected a gzip response: {gz}")
    check(gz["connected_after_send"] is None, f"gzip delivered CONNECTED promptly after all: {gz}")
    check(gz_off["encoding"] == "gzip", f"expected a gzip response with proxy_buffering off: {gz_off}")
    check(
        gz_off["open"] is not None and gz_off["connected_after_send"] is not None and gz_off["first_h"] is not None,
        f"gzip with proxy_buffering off was not prompt: {gz_off}",
    )
    on_prompt = on["open"] is not None and on["connected_after_send"] is not None
    return (
        f"buffering off: prelude+o {fmt_s(off['open'])}, CONNECTED {fmt_s(off['connected_after_send'])}, "
        f"h {off['first_h']:.2f}s; buffering on: {'prompt too' if on_prompt else 'frames held back'}; "
        f"buffering on + gzip: {'nothing within 7 s' if gz['headers'] is None else 'frames held back'}; "
        f"buffering off + gzip: prompt"
    )


async def case_d_generated_config():
    """`stompbox nginx-config` output: nginx -t, then a 30 s session with a 25s heartbeat."""
    case = "d nginx-config"
    server = Stompbox(case, "25s")
    await server.start()
    port = free_port("0.0.0.0")

    def generated(*args):
        r = subprocess.run([BIN, "nginx-config", *args], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, f"stompbox nginx-config {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r.stdout

    bad = subprocess.run([BIN, "nginx-config", "--upstream", "127.0.0.1:8081/test-ws"], capture_output=True, text=True)
    check(
        bad.returncode == 2 and "--upstream" in bad.stderr and not bad.stdout,
        f"a bad --upstream: exit {bad.returncode}, stderr {bad.stderr!r}, stdout {bad.stdout!r}",
    )
    text = generated("--upstream", f"127.0.0.1:{server.port}", "--listen", str(port), "--heartbeat", "25s")
    check("proxy_read_timeout 60s;" in text and "proxy_buffering off;" in text, f"unexpected config:\n{text}")
    # Variants that must pass nginx -t too.
    variants = [
        ("--upstream", f"127.0.0.1:{server.port}", "--listen", f"127.0.0.1:{free_port()}",
         "--server-name", "www.testwebsocekt.com example.com", "--location", "/stomp/", "--heartbeat", "45s"),
        ("--upstream", "http://localhost:8081", "--listen", "[::1]:8080", "--location", "/", "--heartbeat", "1500ms"),
    ]
    for args in variants:
        body = generated(*args)
        rc, out = Nginx(f"{case}-variant", lambda d, body=body: body).test_config()
        check(rc == 0, f"nginx -t refused the output of nginx-config {' '.join(args)}:\n{out}\n{body}")
    nginx = Nginx(case, lambda d: text)
    rc, out = nginx.test_config()
    check(rc == 0, f"nginx -t refused the generated config:\n{out}\n{text}")
    log(case, f"nginx -t: {out.splitlines()[-1]} (and {len(variants)} variants)")
    await nginx.start([port])
    ws, sid, t_connected = await sockjs_ws_connect(case, port)
    stream = await stream_session(case, "generated config", port)
    check(stream["open"] is not None and stream["connected_after_send"] is not None, f"xhr_streaming: {stream}")
    log(case, f"xhr_streaming through it: prelude+o {fmt_s(stream['open'])}, CONNECTED {fmt_s(stream['connected_after_send'])}")
    frames = await watch_idle(case, ws, 30)
    hs = [t - t_connected for op, p, t in frames if p == b"h"]
    check(len(hs) == len(frames) and len(hs) >= 1, f"expected h frames only (>= 1), got {[f[:2] for f in frames]}")
    check(not server.closed_lines(sid), f"session closed: {server.closed_lines(sid)}")
    log(case, f"websocket alive 30 s; h frames at {', '.join(f'{t:.1f}' for t in hs)} s")
    await disconnect_normally(case, ws, server, sid)
    return f"nginx -t ok; 30 s alive with h at {', '.join(f'{t:.1f}' for t in hs)} s; streaming prompt"


async def case_e_client_traffic():
    """Does client->server traffic reset proxy_read_timeout on an upgraded connection?"""
    case = "e client-traffic"
    server = Stompbox(case, "60s")  # the server sends nothing after CONNECTED
    await server.start()
    port = free_port()
    nginx = Nginx(case, lambda d: seed_server(port, server.port))
    await nginx.start([port])
    ws, sid, t_connected = await sockjs_ws_connect(case, port)
    last_sent = t_connected
    frames = []
    cut = None
    for _ in range(5):  # an EOL heart-beat at 4, 8, 12, 16, 20 s
        try:
            frame = await asyncio.wait_for(ws.recv(), last_sent + 4 - time.monotonic())
        except asyncio.TimeoutError:
            ws.send_sockjs("\n")
            last_sent = time.monotonic()
            continue
        if frame is None:
            cut = time.monotonic()
            break
        frames.append(frame)
    if cut is None:
        while True:
            frame = await asyncio.wait_for(ws.recv(), 20)
            if frame is None:
                cut = time.monotonic()
                break
            frames.append(frame)
    check(not frames, f"the server sent {frames}")
    since_connected = cut - t_connected
    since_sent = cut - last_sent
    t_log, fields = await server.session_closed(sid, 5)
    log(
        case,
        f"client sent an EOL every 4 s until {last_sent - t_connected:.1f}s; nginx cut the connection at "
        f"{since_connected:.2f}s after CONNECTED = {since_sent:.2f}s after the client's last message "
        f"(server: code={fields.get('code')} closedBy={fields.get('closedBy')})",
    )
    check(fields.get("code") == "1006", f"expected 1006: {fields['_line']}")
    # nginx re-arms the upstream read timer on every event of an upgraded connection, either way.
    check(since_connected > 15, f"cut {since_connected:.2f}s after CONNECTED: client traffic did not count")
    check(8.0 <= since_sent <= 12.0, f"cut {since_sent:.2f}s after the client's last message, expected ~10 s")
    return (
        f"client traffic resets proxy_read_timeout: cut {since_sent:.2f}s after the client's last send "
        f"({since_connected:.2f}s after CONNECTED)"
    )


async def probe_through(case, server, timeout_s, url_fn):
    port = free_port()
    nginx = Nginx(
        case,
        lambda d: seed_server(port, server.port).replace("proxy_read_timeout 10s;", f"proxy_read_timeout {timeout_s}s;"),
    )
    await nginx.start([port])
    url = url_fn(port)
    proc = await asyncio.create_subprocess_exec(
        BIN, "probe", url, "--max-wait", "20s", "--json",
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    STARTED.append(proc)
    out, err = await asyncio.wait_for(proc.communicate(), 40)
    check(proc.returncode == 0, f"probe {url} exited {proc.returncode}: {err.decode()}")
    report = json.loads(out)
    text = json.dumps(report)
    measured = report.get("idleSeconds")
    check(report.get("cut") is True and report.get("closeCode") == 1006, f"expected a 1006 cut: {text}")
    check(measured is not None, f"no idle time in the probe's JSON: {text}")
    check(abs(measured - timeout_s) <= 1.0, f"probe measured {measured:.2f}s through proxy_read_timeout {timeout_s}s: {text}")
    check(report.get("recommendedHeartbeatMs", 0) <= timeout_s * 500, f"heartbeat advice above half the timeout: {text}")
    return measured


async def case_f_probe():
    """stompbox probe through real nginx measures proxy_read_timeout 3s and 6s within +-1 s (SockJS and raw WS)."""
    case = "f probe"
    server = Stompbox(case, "25s")
    await server.start()
    results = await asyncio.gather(
        probe_through(case, server, 3, lambda p: f"http://127.0.0.1:{p}/test-ws"),
        probe_through(case, server, 6, lambda p: f"http://127.0.0.1:{p}/test-ws"),
        probe_through(case, server, 3, lambda p: f"ws://127.0.0.1:{p}/test-ws"),
    )
    log(case, f"measured {', '.join(f'{r:.2f}s' for r in results)} for timeouts 3s, 6s (SockJS) and 3s (WebSocket)")
    return "probe: " + ", ".join(f"{r:.2f}s" for r in results)


CASES = {
    "a": case_a_seed,
    "b": case_b_short_heartbeat,
    "c": case_c_streaming,
    "d": case_d_generated_config,
    "e": case_e_client_traffic,
    "f": case_f_probe,
}


async def run_case(key, fn):
    start = time.monotonic()
    try:
        summary = await asyncio.wait_for(fn(), 90)
        return key, True, summary, time.monotonic() - start
    except Exception as e:  # noqa: BLE001 - reported per case
        detail = str(e) if isinstance(e, CaseFailure) else traceback.format_exc()
        return key, False, detail, time.monotonic() - start


async def stop_all():
    """SIGTERM to every started process group, SIGKILL after 5 s."""
    for proc in reversed(STARTED):
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc in list(STARTED):
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except asyncio.TimeoutError:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
        STARTED.remove(proc)


async def main():
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, me.cancel)
    version = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip()
    print(f"{version} ({NGINX}), stompbox {BIN}", flush=True)
    picked = os.environ.get("NGINX_TEST_CASES")
    keys = [k.strip() for k in picked.split(",")] if picked else list(CASES)
    try:
        results = await asyncio.gather(*(run_case(k, CASES[k]) for k in keys))
    except asyncio.CancelledError:
        print("tests/nginx: interrupted", file=sys.stderr)
        return 130
    finally:
        await stop_all()
    print()
    failed = 0
    for key, ok, summary, seconds in results:
        name = CASES[key].__doc__.strip().splitlines()[0]
        print(f"{'ok  ' if ok else 'FAIL'} {key} ({seconds:5.1f}s) {name}\n       {summary}")
        failed += 0 if ok else 1
    print(f"\n{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if not (shutil.which(NGINX) or os.access(NGINX, os.X_OK)):
        print(f"tests/nginx: nginx not found ({NGINX})", file=sys.stderr)
        sys.exit(1)
    status = 1
    try:
        status = asyncio.run(main())
    finally:
        cleanup()  # whatever stop_all() could not reach
    sys.exit(status)
