"""The network guard that notebook kernels, and every process they start, run under.

No test here addresses anything but loopback: each guarded process runs in an empty network
namespace (``unshare -n``) where the machine allows it, and below the guard every call that would
reach the operating system is a tripwire, so a hole in the guard fails the test instead of sending.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

from fairlab import offline

#: an empty network namespace for the guarded processes, where this machine allows one
NETNS = ["unshare", "-n"] if shutil.which("unshare") and subprocess.run(
    ["unshare", "-n", "true"], capture_output=True).returncode == 0 else []

TRIPWIRES = """
import socket, _socket
def _trip(*args, **kwargs):
    raise SystemExit("REACHED THE OPERATING SYSTEM")
for _name in ("connect", "connect_ex", "sendto", "sendmsg"):
    setattr(socket.socket, _name, _trip)
class _TripRaw(_socket.socket):
    connect = connect_ex = sendto = _trip
_socket.socket = _TripRaw
for _module in (socket, _socket):
    for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"):
        if hasattr(_module, _name):
            setattr(_module, _name, _trip)
socket.create_connection = _trip
"""


def run_guarded(code: str, tripwires: bool = True) -> subprocess.CompletedProcess:
    prelude = (TRIPWIRES if tripwires else "") + "import fairlab.offline as o; o.install()\n"
    return subprocess.run([*NETNS, sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)


BLOCKED = """
from fairlab.offline import NetworkBlocked
blocked = 0
for name, call in CALLS:
    try:
        call()
    except NetworkBlocked as exc:
        blocked += 1
    else:
        raise SystemExit(f"{name} went through")
print("blocked", blocked)
"""


def test_connections_datagrams_lookups_and_raw_sockets_beyond_loopback_are_blocked_before_the_os():
    result = run_guarded(textwrap.dedent("""
        import socket, _socket
        CALLS = [
            ("create_connection", lambda: socket.create_connection(("192.0.2.1", 80), timeout=1)),
            ("connect", lambda: socket.socket().connect(("192.0.2.1", 80))),
            ("connect_ex", lambda: socket.socket().connect_ex(("192.0.2.1", 80))),
            ("getaddrinfo", lambda: socket.getaddrinfo("pypi.org", 443)),
            ("gethostbyname", lambda: socket.gethostbyname("pypi.org")),
            ("gethostbyname_ex", lambda: socket.gethostbyname_ex("pypi.org")),
            ("gethostbyaddr", lambda: socket.gethostbyaddr("192.0.2.1")),
            ("getnameinfo", lambda: socket.getnameinfo(("192.0.2.1", 80), 0)),
            ("udp sendto", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("192.0.2.1", 53))),
            ("udp sendto flags", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", 0, ("192.0.2.1", 53))),
            ("raw _socket connect", lambda: _socket.socket().connect(("192.0.2.1", 80))),
            ("raw _socket sendto", lambda: _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM).sendto(b"x", ("192.0.2.1", 53))),
            ("raw _socket lookup", lambda: _socket.getaddrinfo("pypi.org", 443)),
        ]
    """) + BLOCKED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "blocked 13"


def test_loopback_connections_still_work():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            import fairlab.offline as o; o.install()
            import socket
            socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
            socket.create_connection(("localhost", {port}), timeout=5).close()
            print("ok")
        """)], capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    assert result.stdout.strip() == "ok", result.stderr


CHILD = """
import multiprocessing, socket, subprocess, sys
import fairlab.offline

def attempt(_=None):
    try:
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    except fairlab.offline.NetworkBlocked:
        return "blocked"
    return "went through"

if __name__ == "__main__":
    code = "import socket, fairlab.offline\\n" \\
           "try:\\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\\n" \\
           "except fairlab.offline.NetworkBlocked:\\n    print('blocked')\\nelse:\\n    print('went through')"
    print("subprocess", subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip())
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        print("spawn", pool.map(attempt, [0])[0])
"""


@pytest.mark.skipif(not NETNS, reason="needs an empty network namespace (unshare -n) to start unguarded-looking children safely")
def test_subprocess_and_multiprocessing_children_of_a_guarded_process_are_guarded_too(tmp_path):
    env = {**os.environ, **offline.child_environment(tmp_path / "site")}
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    result = subprocess.run([*NETNS, sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["subprocess blocked", "spawn blocked"]


def test_programs_that_are_not_python_are_sent_to_a_closed_loopback_proxy(tmp_path):
    env = offline.child_environment(tmp_path / "site")
    assert all(env[name] == offline.DEAD_PROXY for name in ("http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy"))
    assert env[offline.OFFLINE_ENV] == "1" and env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path / "site")
