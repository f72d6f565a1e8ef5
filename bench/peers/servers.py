"""The servers under test, each a context manager giving a URL, the client flags it needs and the
server's pid (for `--server-pid`): stompbox (`stompbox serve`) and RabbitMQ (rabbit.Rabbit)."""
import os
import subprocess
import tempfile

from procs import free_port, stop_child, wait_tcp
from rabbit import Rabbit


class ServerError(RuntimeError):
    pass


class Stompbox:
    name = "stompbox"
    client_args = []

    def __init__(self, binary):
        self.binary = binary
        self.proc = None
        self.port = None
        self.log = None

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/test-ws"

    @property
    def pid(self):
        return self.proc.pid

    def __enter__(self):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="stompbox-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--log", "warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_tcp(self.port, 30, alive=lambda: self.proc.poll() is None):
            self.__exit__()
            raise ServerError(f"stompbox serve did not listen on 127.0.0.1:{self.port}: {self.log_tail()}")
        return self

    def log_tail(self, lines=20):
        try:
            with open(self.log.name) as f:
                return "".join(f.readlines()[-lines:])
        except (OSError, AttributeError):
            return ""

    def __exit__(self, *exc):
        stop_child(self.proc)
        if self.log is not None:
            self.log.close()
            try:
                os.unlink(self.log.name)
            except FileNotFoundError:
                pass
            self.log = None


class RabbitMQ(Rabbit):
    name = "rabbitmq"
    client_args = ["--login", "guest", "--passcode", "guest", "--vhost", "/"]

    @property
    def url(self):
        return self.ws_url


def open_server(name, binary):
    if name == "stompbox":
        return Stompbox(binary)
    if name == "rabbitmq":
        return RabbitMQ()
    raise ServerError(f"unknown server {name!r}")
