"""The network guard that notebook kernels run under."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap


def run_guarded(code: str) -> subprocess.CompletedProcess:
    prelude = "import fairlab.offline as o; o.install()\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_connections_beyond_loopback_are_blocked():
    result = run_guarded("""
        import socket
        from fairlab.offline import NetworkBlocked
        for call in (lambda: socket.create_connection(("10.255.255.1", 80), timeout=1),
                     lambda: socket.getaddrinfo("pypi.org", 443),
                     lambda: socket.socket().connect(("93.184.216.34", 80))):
            try:
                call()
            except NetworkBlocked as exc:
                print("blocked:", exc)
            else:
                raise SystemExit("a connection went through")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("blocked:") == 3


def test_loopback_connections_still_work():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        result = run_guarded(f"""
            import socket
            socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
            socket.create_connection(("localhost", {port}), timeout=5).close()
            print("ok")
        """)
    finally:
        server.close()
    assert result.stdout.strip() == "ok", result.stderr
