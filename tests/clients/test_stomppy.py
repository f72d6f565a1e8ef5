"""stomp.py (the Python STOMP client) against the real `stompbox serve` binary.

Covers STOMP 1.2 over plain TCP (`stomp.Connection12`): subscribe/send/receive, receipts,
client-individual ACK on a queue, NACK and redelivery with `redelivered: true`; STOMP over
WebSocket (`stomp.WSStompConnection`, which offers no subprotocol); and a raw TCP socket that
sends a frame with an unknown command after CONNECT and must get an ERROR frame with a
`message` header, then the connection closed.

The server is started once for the module on free loopback ports and killed at the end (also
when a test fails). Every wait is bounded; pytest-timeout bounds each test as a last resort.

Run: `pytest tests/clients/test_stomppy.py` after `cargo build --release -p stompbox`.
STOMPBOX_BIN overrides the binary path; STOMPBOX_TEST_VERBOSE=1 echoes the server's stderr.
"""

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import stomp

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("STOMPBOX_BIN", ROOT / "target" / "release" / "stompbox"))
VERBOSE = os.environ.get("STOMPBOX_TEST_VERBOSE") == "1"
WAIT = 5.0  # seconds: the bound on any single expected event

pytestmark = pytest.mark.timeout(60)


# ----------------------------------------------------------------------------------------------
# The server process and its log.


def free_port():
    """A free loopback port: bind port 0, read it, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def parse_fields(text):
    fields = {}
    for key, value in FIELD_RE.findall(text):
        if value.startswith('"'):
            value = value[1:-1].encode().decode("unicode_escape")
        fields[key] = value
    return fields


class Server:
    def __init__(self, extra_args=()):
        self.extra_args = list(extra_args)
        self.lines = []
        self.cond = threading.Condition()

    def start(self):
        assert BIN.exists(), f"server binary not found at {BIN}; run cargo build --release -p stompbox"
        self.ws_port = free_port()
        self.tcp_port = free_port()
        args = [
            str(BIN),
            "serve",
            "--listen",
            f"127.0.0.1:{self.ws_port}",
            "--tcp-listen",
            f"127.0.0.1:{self.tcp_port}",
            *self.extra_args,
        ]
        # Only the flags above configure the server: drop STOMPBOX_* settings from our env.
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOMPBOX_") and k != "RUST_LOG"}
        env["NO_COLOR"] = "1"
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stompbox exited early ({self.proc.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.ws_port}/healthz", timeout=1) as r:
                    if r.status == 200 and r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"stompbox not healthy within 15 s:\n{self.tail()}")
            time.sleep(0.1)

    def _pump(self):
        for raw in self.proc.stderr:
            line = ANSI_RE.sub("", raw.decode("utf-8", "replace")).rstrip("\n")
            if VERBOSE:
                print(f"[stompbox:{self.ws_port}] {line}", file=sys.stderr, flush=True)
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def session_closed(self, session_id, timeout=WAIT):
        """The `session closed:` fields for `session_id`, waiting at most `timeout` s."""

        def find():
            for line in self.lines:
                i = line.find("session closed:")
                if i >= 0:
                    fields = parse_fields(line[i + len("session closed:") :])
                    if fields.get("sessionId") == session_id:
                        return line[i:], fields
            return None

        with self.cond:
            found = self.cond.wait_for(find, timeout=timeout)
        assert found, f"no 'session closed' line for sessionId={session_id} in {timeout} s:\n{self.tail()}"
        return found

    def tail(self, n=30):
        with self.cond:
            return "\n".join(self.lines[-n:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def server():
    srv = Server()
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


# ----------------------------------------------------------------------------------------------
# Clients.


class Recorder(stomp.ConnectionListener):
    """Collects what a stomp.py connection receives, with bounded waits."""

    def __init__(self):
        self.connected = queue.Queue()
        self.messages = queue.Queue()
        self.receipts = {}
        self.errors = []
        self.disconnected = threading.Event()
        self.lock = threading.Condition()

    def on_connected(self, frame):
        self.connected.put(frame)

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        with self.lock:
            self.receipts[frame.headers.get("receipt-id")] = frame
            self.lock.notify_all()

    def on_error(self, frame):
        self.errors.append(frame)

    def on_disconnected(self):
        self.disconnected.set()

    def next_message(self, what, timeout=WAIT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no MESSAGE within {timeout} s: {what}") from None

    def no_message(self, wait=0.5):
        try:
            frame = self.messages.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected MESSAGE: {frame}")

    def receipt(self, receipt_id, timeout=WAIT):
        with self.lock:
            ok = self.lock.wait_for(lambda: receipt_id in self.receipts, timeout=timeout)
        assert ok, f"no RECEIPT for {receipt_id} within {timeout} s (errors: {self.errors})"
        return self.receipts[receipt_id]


class Client:
    """A connected stomp.py connection plus its Recorder and CONNECTED frame."""

    def __init__(self, conn, login):
        self.conn = conn
        self.rec = Recorder()
        conn.set_listener("recorder", self.rec)
        # wait=False: stomp.py's own wait has no timeout; wait on the recorder instead.
        conn.connect(login, "secret", wait=False)
        try:
            self.connected = self.rec.connected.get(timeout=WAIT)
        except queue.Empty:
            conn.disconnect()
            raise AssertionError(f"no CONNECTED within {WAIT} s (errors: {self.rec.errors})") from None
        self.session = self.connected.headers.get("session")

    def with_receipt(self, send):
        receipt_id = f"r-{uuid.uuid4()}"
        send(receipt_id)
        return self.rec.receipt(receipt_id)

    def subscribe(self, destination, sub_id, ack="auto"):
        self.with_receipt(lambda r: self.conn.subscribe(destination, id=sub_id, ack=ack, receipt=r))

    def close(self):
        if self.conn.is_connected():
            self.conn.disconnect()
            self.rec.disconnected.wait(WAIT)


@pytest.fixture
def clients():
    opened = []

    def make(factory, login):
        c = Client(factory(), login)
        opened.append(c)
        return c

    yield make
    for c in opened:
        try:
            c.close()
        except Exception:  # a test may have closed it already
            pass


def tcp_conn(server):
    return lambda: stomp.Connection12(
        [("127.0.0.1", server.tcp_port)], heartbeats=(0, 0), timeout=WAIT, reconnect_attempts_max=1
    )


def ws_conn(server):
    return lambda: stomp.WSStompConnection(
        [("127.0.0.1", server.ws_port)],
        ws_path="/test-ws",
        heartbeats=(0, 0),
        timeout=WAIT,
        reconnect_attempts_max=1,
    )


def unique(prefix):
    return f"{prefix}-{uuid.uuid4()}"


# ----------------------------------------------------------------------------------------------
# STOMP 1.2 over TCP.


def test_tcp_connect_negotiates_stomp_1_2_and_topic_message_is_received(server, clients):
    c = clients(tcp_conn(server), "py-tcp")
    assert c.connected.headers.get("version") == "1.2"
    assert c.session, f"CONNECTED has no session header: {c.connected.headers}"
    topic = f"/topic/{unique('py')}"
    c.subscribe(topic, "1")
    c.conn.send(topic, "hello over tcp", content_type="text/plain")
    msg = c.rec.next_message("MESSAGE on the topic")
    assert msg.body == "hello over tcp"
    assert msg.headers["destination"] == topic
    assert msg.headers["subscription"] == "1"
    assert msg.headers.get("message-id")
    assert c.rec.errors == []


def test_tcp_send_with_receipt_gets_matching_receipt(server, clients):
    c = clients(tcp_conn(server), "py-receipt")
    frame = c.with_receipt(lambda r: c.conn.send(f"/topic/{unique('r')}", "x", receipt=r))
    assert frame.cmd == "RECEIPT"


def test_tcp_app_hello_greets_on_topic_greetings(server, clients):
    c = clients(tcp_conn(server), "py-hello")
    c.subscribe("/topic/greetings", "g")
    c.conn.send("/app/hello", '{"name":"Py"}', content_type="application/json")
    msg = c.rec.next_message("greeting on /topic/greetings")
    assert msg.headers["destination"] == "/topic/greetings"
    assert msg.body.replace(" ", "") == '{"content":"Hello,Py!"}'


def test_tcp_queue_client_individual_acks_each_message_once(server, clients):
    queue_name = f"/queue/{unique('py-ci')}"
    producer = clients(tcp_conn(server), "py-producer")
    for body in ("one", "two"):
        producer.with_receipt(lambda r, b=body: producer.conn.send(queue_name, b, receipt=r))

    consumer = clients(tcp_conn(server), "py-consumer")
    consumer.subscribe(queue_name, "q", ack="client-individual")
    got = []
    for _ in range(2):
        msg = consumer.rec.next_message("queued message")
        assert "ack" in msg.headers, f"STOMP 1.2 MESSAGE needs an ack header: {msg.headers}"
        got.append(msg.body)
        consumer.with_receipt(lambda r, m=msg: consumer.conn.ack(m.headers["ack"], receipt=r))
    assert got == ["one", "two"]
    consumer.rec.no_message()

    late = clients(tcp_conn(server), "py-late")
    late.subscribe(queue_name, "q2", ack="client-individual")
    late.rec.no_message()
    assert producer.rec.errors == consumer.rec.errors == late.rec.errors == []


def test_tcp_nack_redelivers_with_redelivered_true(server, clients):
    queue_name = f"/queue/{unique('py-nack')}"
    c = clients(tcp_conn(server), "py-nacker")
    c.subscribe(queue_name, "n", ack="client-individual")
    c.with_receipt(lambda r: c.conn.send(queue_name, "try me", receipt=r))
    first = c.rec.next_message("first delivery")
    assert first.body == "try me"
    assert first.headers.get("redelivered") != "true", f"first delivery marked redelivered: {first.headers}"
    c.with_receipt(lambda r: c.conn.nack(first.headers["ack"], receipt=r))
    again = c.rec.next_message("redelivery after NACK")
    assert again.body == "try me"
    assert again.headers.get("redelivered") == "true", f"redelivery headers: {again.headers}"
    c.with_receipt(lambda r: c.conn.ack(again.headers["ack"], receipt=r))
    c.rec.no_message()
    assert c.rec.errors == []


def read_frame(sock, buf, deadline):
    """Reads one NUL-terminated STOMP frame (skipping heart-beat EOLs); returns (frame, rest)."""
    while True:
        stripped = buf.lstrip(b"\r\n")
        if b"\0" in stripped:
            frame, _, rest = stripped.partition(b"\0")
            return frame.decode("utf-8", "replace"), rest
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no complete frame before the deadline; got {buf!r}")
        sock.settimeout(left)
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed before a complete frame; got {buf!r}")
        buf += chunk


def test_tcp_unknown_command_gets_error_frame_with_message_and_connection_closes(server):
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=WAIT) as sock:
        sock.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\nlogin:py-raw\nheart-beat:0,0\n\n\0")
        deadline = time.monotonic() + WAIT
        connected, rest = read_frame(sock, b"", deadline)
        assert connected.startswith("CONNECTED\n"), connected
        session = re.search(r"\nsession:([^\n]+)", connected)
        assert session, f"CONNECTED has no session header: {connected!r}"

        sock.sendall(b"FOO\n\n\0")
        error, rest = read_frame(sock, rest, time.monotonic() + WAIT)
        command, _, head = error.partition("\n")
        assert command == "ERROR", f"expected an ERROR frame, got {error!r}"
        headers = dict(line.split(":", 1) for line in head.split("\n\n", 1)[0].split("\n") if ":" in line)
        assert headers.get("message"), f"ERROR frame has no message header: {error!r}"

        # Then the server closes the connection: EOF (or a reset) within the bound.
        end = time.monotonic() + WAIT
        closed = False
        while time.monotonic() < end:
            sock.settimeout(end - time.monotonic())
            try:
                data = sock.recv(4096)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not data:
                closed = True
                break
            assert not data.strip(b"\r\n\0"), f"unexpected data after ERROR: {data!r}"
        assert closed, f"server did not close the TCP connection within {WAIT} s after ERROR"
    line, fields = server.session_closed(session.group(1))
    assert fields.get("transport") == "tcp", line
    assert fields.get("closedBy") == "server", line


# ----------------------------------------------------------------------------------------------
# STOMP over WebSocket.


def test_websocket_connect_send_and_receive(server, clients):
    c = clients(ws_conn(server), "py-ws")
    assert c.connected.headers.get("version") == "1.2"
    topic = f"/topic/{unique('py-ws')}"
    c.subscribe(topic, "w")
    c.conn.send(topic, "hello over websocket", content_type="text/plain")
    msg = c.rec.next_message("MESSAGE over WebSocket")
    assert msg.body == "hello over websocket"
    assert msg.headers["subscription"] == "w"
    assert c.rec.errors == []

    session = c.session
    assert session, f"CONNECTED has no session header: {c.connected.headers}"
    c.close()
    line, fields = server.session_closed(session)
    assert fields.get("transport") == "websocket", line
    assert fields.get("closedBy") == "client", line
    assert fields.get("user") == "py-ws", line
