"""Keep notebook kernels off the network.

fairlab never needs the network at run time.  The book builder starts every kernel with an
IPython startup file that calls :func:`install`, which makes any socket connection or name
lookup beyond the loopback interface raise :class:`NetworkBlocked`.  The kernel's own
ZeroMQ channels are loopback (and not Python sockets), so they keep working.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
_installed = False


class NetworkBlocked(OSError):
    """A connection beyond the loopback interface was attempted while fairlab runs offline."""


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address, what: str) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return
    host, port = (address[0], address[1]) if isinstance(address, tuple) and len(address) >= 2 else (address, None)
    if not _is_local(host):
        raise NetworkBlocked(f"fairlab runs offline: blocked {what} to {host}:{port} (only loopback is allowed)")


def install() -> None:
    """Patch :mod:`socket` in this process so that only loopback connections are possible."""
    global _installed
    if _installed:
        return
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex
    original_getaddrinfo, original_create_connection = socket.getaddrinfo, socket.create_connection

    def connect(self, address):
        _check(address, "a connection")
        return original_connect(self, address)

    def connect_ex(self, address):
        _check(address, "a connection")
        return original_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            raise NetworkBlocked(f"fairlab runs offline: blocked a name lookup of {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    def create_connection(address, *args, **kwargs):
        _check(address, "a connection")
        return original_create_connection(address, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo, socket.create_connection = getaddrinfo, create_connection
    _installed = True


def ipython_dir_with_guard(folder: Path) -> Path:
    """An ``IPYTHONDIR`` whose default profile runs :func:`install` when a kernel starts."""
    startup = folder / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-fairlab-offline.py").write_text("import fairlab.offline\nfairlab.offline.install()\n")
    return folder
