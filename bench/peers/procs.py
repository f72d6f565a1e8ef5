"""Process and port helpers shared by the peers benchmark (loopback only)."""
import os
import random
import signal
import socket
import subprocess
import time


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    return free_ports(1)[0]


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(n):
    """`n` distinct TCP ports on 127.0.0.1, free a moment ago, below the ephemeral range: the load
    generator's thousands of client sockets (and their TIME_WAITs) live in that range and could
    take a port between our choice and the server's bind. All are held at once, so they differ."""
    high = ephemeral_low() - 1
    low = max(1024, high - 12000)
    socks, ports = [], []
    try:
        for port in random.sample(range(low, high + 1), min(400, high - low + 1)):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
            ports.append(port)
            if len(ports) == n:
                return ports
        raise OSError(f"no {n} free ports on 127.0.0.1 in {low}-{high}")
    finally:
        for s in socks:
            s.close()


def time_wait_sockets():
    """TCP sockets in TIME_WAIT (IPv4 and IPv6), from /proc/net/tcp*."""
    count = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f, None)
                count += sum(1 for line in f if line.split()[3:4] == ["06"])
        except OSError:
            pass
    return count


def settle(max_time_wait, timeout):
    """Wait (at most `timeout` s) until fewer than `max_time_wait` sockets are in TIME_WAIT, so a
    scenario does not start with the previous one's closed connections holding the port range.
    Returns the count left."""
    deadline = time.monotonic() + timeout
    while True:
        left = time_wait_sockets()
        if left < max_time_wait or time.monotonic() >= deadline:
            return left
        time.sleep(2)


def wait_tcp(port, timeout, alive=None):
    """Wait until 127.0.0.1:port accepts a connection; False after `timeout` s or when `alive()` is false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def stop_child(proc, term_wait=10.0):
    """Stop a child started with start_new_session=True: SIGTERM its group, then SIGKILL it. Never raises."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, term_wait), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def kill_pid(pid, term_wait=10.0):
    """SIGTERM one process by id, SIGKILL it if it outlives `term_wait` s. Never raises."""
    for sig, wait in ((signal.SIGTERM, term_wait), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)


def descendants(root):
    """Pids of every process below `root` (from /proc/*/stat parent ids)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: fields start after the last ')'.
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def rss_kib(pid):
    """VmRSS of a process in KiB, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
