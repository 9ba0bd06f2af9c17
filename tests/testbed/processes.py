"""Start, watch and stop the test bed's processes (API servers, kwok, the kubelet, pods) under one DIR.

Every process runs in its own session with its output in ``DIR/logs/NAME.log``; ``DIR/pids.json``
records them so that ``down`` stops exactly what ``up`` started (it checks that a pid still runs a
command naming DIR before it signals it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger("testbed")
_PIDS_LOCK = threading.Lock()  # clusters start in parallel threads; pids.json is read-modify-write


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def host_ip() -> str:
    """This machine's primary non-loopback IPv4 address (what another cluster would dial), or 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def _pids_file(root: Path) -> Path:
    return root / "pids.json"


def recorded(root: Path) -> dict[str, int]:
    path = _pids_file(root)
    return json.loads(path.read_text()) if path.exists() else {}


def start(
    root: Path, name: str, argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen:
    """Start ``argv`` in its own session, logging to ``root/logs/name.log``, and record its pid (``down``
    stops it: its command line must name a path under ``root``)."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    # the kubelet (its own process) records its pods' processes while a test may restart an API server
    with _PIDS_LOCK, open(root / "pids.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pids = recorded(root)
        pids[name] = proc.pid
        tmp = _pids_file(root).with_suffix(".tmp")
        tmp.write_text(json.dumps(pids, indent=1))
        tmp.replace(_pids_file(root))
    log.info("started %s (pid %d)", name, proc.pid)
    return proc


def _ours(pid: int, root: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return str(root).encode() in cmdline


def stop(root: Path, name: str, grace: float = 5.0) -> bool:
    """Stop the process ``name`` (and its session) if it still runs; True if something was stopped."""
    pid = recorded(root).get(name)
    if pid is None or not _ours(pid, root):
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def running(root: Path) -> dict[str, bool]:
    return {name: _ours(pid, root) and _alive(pid) for name, pid in recorded(root).items()}


def pause(root: Path, name: str, paused: bool) -> None:
    """SIGSTOP / SIGCONT a process: a server that accepts connections and never answers."""
    pid = recorded(root)[name]
    if _ours(pid, root):
        os.kill(pid, signal.SIGSTOP if paused else signal.SIGCONT)


def wait_until(
    what: str,
    ready: Callable[[], bool],
    timeout: float,
    root: Path,
    name: str,
    proc: subprocess.Popen | None = None,
) -> None:
    """Poll ``ready`` until it holds; fail with the tail of ``name``'s log if it never does or the
    process (``proc`` if this process started it, else the one recorded as ``name``) ends."""
    deadline = time.monotonic() + timeout
    last = "not ready"
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception as exc:
            last = f"{type(exc).__name__}: {exc}"
        if proc is not None and proc.poll() is not None:
            last += f"; it exited with status {proc.returncode}"
            break
        pid = recorded(root).get(name)
        if proc is None and (pid is None or not _alive(pid)):
            last += "; it is not running"
            break
        time.sleep(0.2)
    tail = (root / "logs" / f"{name}.log").read_text(errors="replace").splitlines()[-25:]
    raise RuntimeError(f"{what} is not ready ({last}); {name}'s log ends:\n" + "\n".join(tail))


def https_ok(url: str, ca: Path, cert: Path, key: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    with urllib.request.urlopen(url, context=context, timeout=2) as response:
        return response.status == 200


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200
