"""A private RabbitMQ node with Web-STOMP, on loopback, for one benchmark scenario.

Everything lives in a temporary directory (Mnesia, logs, config, enabled plugins, Erlang cookie
via HOME); every port (AMQP, distribution, epmd, Web-STOMP) is chosen free at start; epmd is our
own child. The node runs in the foreground under our control and is stopped on every exit path
(`rabbitmqctl stop`, then SIGTERM/SIGKILL of the process group, then our epmd).
"""
import os
import shutil
import subprocess
import tempfile
import time

from procs import comm, descendants, free_ports, kill_pid, pid_alive, stop_child, wait_tcp

RABBIT_BIN = "/usr/lib/rabbitmq/bin"  # the real scripts; /usr/sbin's wrappers `su` to the rabbitmq user
NODE = "rabbit-bench@localhost"
START_TIMEOUT = 120.0
WS_IDLE_TIMEOUT_MS = 3_600_000
LOOPBACK_DIST = "-kernel inet_dist_use_interface {127,0,0,1}"


class RabbitError(RuntimeError):
    pass


def installed():
    return os.path.exists(f"{RABBIT_BIN}/rabbitmq-server") and shutil.which("epmd") is not None


def version():
    """The Debian package's version, e.g. 3.10.8-1.1+deb12u1 (dpkg), or '?'."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "rabbitmq-server"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


CONF = """\
# written by bench/peers/rabbit.py for one benchmark run; loopback only
listeners.tcp.default = 127.0.0.1:{amqp}
loopback_users.guest = true
stomp.listeners.tcp = none
web_stomp.tcp.ip = 127.0.0.1
web_stomp.tcp.port = {ws}
web_stomp.ws_opts.compress = false
# cowboy closes a WebSocket silent for its idle_timeout (60 s by default) with 1000; fan-out
# subscribers (heart-beat 0,0) may wait longer than that for the other 9 999 to connect
web_stomp.ws_opts.idle_timeout = {idle_ms}
log.file.level = warning
log.console = false
"""


class Rabbit:
    """Use as a context manager: `with Rabbit() as r: r.ws_url, r.pid`."""

    def __init__(self, keep_dir=False):
        self.keep_dir = keep_dir
        self.dir = None
        self.proc = None
        self.epmd = None
        self.pid = None  # beam.smp
        self.ws_port = None
        self.env = None

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def _prepare(self):
        self.dir = tempfile.mkdtemp(prefix="stompbox-rabbit-")
        home = os.path.join(self.dir, "home")
        for sub in ("home", "mnesia", "log"):
            os.makedirs(os.path.join(self.dir, sub))
        amqp, dist, epmd, ctl_dist, self.ws_port = free_ports(5)
        conf = os.path.join(self.dir, "rabbitmq.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(amqp=amqp, ws=self.ws_port, idle_ms=WS_IDLE_TIMEOUT_MS))
        env_conf = os.path.join(self.dir, "rabbitmq-env.conf")  # empty: not /etc/rabbitmq's
        open(env_conf, "w").close()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": home,  # .erlang.cookie for the node and the CLI tools
            "RABBITMQ_NODENAME": NODE,
            "RABBITMQ_USE_LONGNAME": "false",
            "RABBITMQ_CONF_ENV_FILE": env_conf,
            "RABBITMQ_CONFIG_FILE": conf,
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(self.dir, "advanced.config"),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.dir, "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.dir, "enabled_plugins"),
            "RABBITMQ_PID_FILE": os.path.join(self.dir, "rabbit.pid"),
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp),
            "RABBITMQ_DIST_PORT": str(dist),
            "ERL_EPMD_PORT": str(epmd),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            # Erlang distribution (node and CLI tools) on loopback and on the ports chosen above.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": f"{LOOPBACK_DIST} -kernel inet_dist_listen_min {dist}"
                                                   f" -kernel inet_dist_listen_max {dist}",
            "RABBITMQ_CTL_ERL_ARGS": LOOPBACK_DIST,
            "RABBITMQ_CTL_DIST_PORT_MIN": str(ctl_dist),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(ctl_dist),
        })
        self.env = env
        self.epmd_port = epmd

    def ctl(self, tool, *args, timeout=60):
        """Run a RabbitMQ CLI tool against this node; returns CompletedProcess (never raises on exit code)."""
        return subprocess.run([f"{RABBIT_BIN}/{tool}", *args], env=self.env, cwd=self.dir,
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        if not installed():
            raise RabbitError("rabbitmq-server is not installed (scripts/bench-peers installs it)")
        self._prepare()
        out = self.ctl("rabbitmq-plugins", "--offline", "enable", "rabbitmq_web_stomp")
        if out.returncode != 0:
            raise RabbitError(f"rabbitmq-plugins enable failed: {out.stderr or out.stdout}")
        # Our own epmd on our own port, so that stopping it never touches anybody else's.
        self.epmd = subprocess.Popen(["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                                     env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        if not wait_tcp(self.epmd_port, 10, alive=lambda: self.epmd.poll() is None):
            raise RabbitError(f"epmd did not listen on 127.0.0.1:{self.epmd_port}")
        log = open(os.path.join(self.dir, "log", "console.log"), "w")
        self.proc = subprocess.Popen([f"{RABBIT_BIN}/rabbitmq-server"], env=self.env, cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        self._await_boot()
        self.pid = self._beam_pid()
        if self.pid is None:
            raise RabbitError("RabbitMQ is up but its beam.smp process was not found")

    def _await_boot(self):
        """Bounded wait: the node answers `ping`, every listener passes `check_port_connectivity`,
        and the Web-STOMP port accepts a connection."""
        deadline = time.monotonic() + START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RabbitError(f"rabbitmq-server exited ({self.proc.returncode}); see {self.log_tail()}")
            out = self.ctl("rabbitmq-diagnostics", "-q", "check_port_connectivity",
                           timeout=max(5, deadline - time.monotonic()))
            if out.returncode == 0 and wait_tcp(self.ws_port, 5):
                return
            last = (out.stdout + out.stderr).strip().splitlines()[:2]
            time.sleep(1)
        raise RabbitError(f"RabbitMQ not ready within {START_TIMEOUT:.0f} s ({' '.join(last)}); "
                          f"see {self.log_tail()}")

    def _beam_pid(self):
        try:
            with open(self.env["RABBITMQ_PID_FILE"]) as f:
                pid = int(f.read().strip())
            if comm(pid).startswith("beam"):
                return pid
        except (OSError, ValueError):
            pass
        for pid in descendants(self.proc.pid):
            if comm(pid).startswith("beam"):
                return pid
        return None

    def log_tail(self, lines=30):
        path = os.path.join(self.dir or "", "log", "console.log")
        try:
            with open(path) as f:
                return path + ":\n" + "".join(f.readlines()[-lines:])
        except OSError:
            return path

    def fd_limits(self):
        """The file-descriptor lines of `rabbitmq-diagnostics status` (text), for the report."""
        out = self.ctl("rabbitmq-diagnostics", "-q", "status")
        keep = [line.strip() for line in out.stdout.splitlines()
                if "descriptor" in line.lower() or "socket" in line.lower() or "process" in line.lower()]
        return keep

    def stop(self):
        """Stop the node and our epmd; idempotent, never raises, bounded in time."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.ctl("rabbitmqctl", "stop", timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
            stop_child(self.proc)
        if self.pid is not None and pid_alive(self.pid):
            kill_pid(self.pid)
        stop_child(self.epmd, term_wait=5)
        self.proc = self.epmd = None
        if self.dir and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        elif self.dir:
            print(f"bench-peers: RabbitMQ files kept in {self.dir}")
