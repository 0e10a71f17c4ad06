"""Keep notebook kernels, and every process they start, off the network.

fairlab never needs the network at run time.  The book builder starts every kernel with an
IPython startup file and a ``sitecustomize`` on ``PYTHONPATH`` (:func:`child_environment`), both
calling :func:`install`: connections, datagrams and name lookups beyond the loopback interface
raise :class:`NetworkBlocked` before the operating system is asked, in the kernel and in every
Python process it starts (``subprocess``, ``multiprocessing``). Programs that are not Python and
honour the proxy variables meet a closed loopback port; for a guarantee that covers any program,
run the build in an empty network namespace (``unshare -n``). The kernel's own ZeroMQ channels
are loopback (and not Python sockets), so they keep working.
"""

from __future__ import annotations

import ipaddress
import os
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


def is_local_host(host) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback."""
    return _is_local(host)


def _check(address, what: str) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return
    host, port = (address[0], address[1]) if isinstance(address, tuple) and len(address) >= 2 else (address, None)
    if not _is_local(host):
        raise NetworkBlocked(f"fairlab runs offline: blocked {what} to {host}:{port} (only loopback is allowed)")


#: set in the environment of every guarded process (and so of its children): fairlab code that would reach out
#: (a hosted LLM endpoint) says so before trying
OFFLINE_ENV = "FAIRLAB_OFFLINE"
#: where proxy-aware programs that are not Python (curl, wget, pip's vendored client) are sent: a closed loopback port
DEAD_PROXY = "http://127.0.0.1:9"


def is_offline() -> bool:
    return os.environ.get(OFFLINE_ENV) == "1"


def install() -> None:
    """Patch :mod:`socket` and :mod:`_socket` in this process so that only loopback is reachable.

    Connections (``connect``, ``connect_ex``, ``create_connection``), datagrams (``sendto``, ``sendmsg``)
    and name resolution (``getaddrinfo``, ``gethostbyname[_ex]``, ``gethostbyaddr``, ``getnameinfo``) to
    anything but loopback raise :class:`NetworkBlocked` before the operating system is asked; sockets made
    from the raw ``_socket`` module are guarded as well.
    """
    global _installed
    if _installed:
        return
    import _socket

    os.environ[OFFLINE_ENV] = "1"
    originals = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex", "sendto", "sendmsg")}

    def connect(self, address):
        _check(address, "a connection")
        return originals["connect"](self, address)

    def connect_ex(self, address):
        _check(address, "a connection")
        return originals["connect_ex"](self, address)

    def sendto(self, data, *args):
        _check(args[-1], "a datagram")  # sendto(data, address) or sendto(data, flags, address)
        return originals["sendto"](self, data, *args)

    def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
        if address is not None:
            _check(address, "a datagram")
            return originals["sendmsg"](self, buffers, ancdata, flags, address)
        return originals["sendmsg"](self, buffers, ancdata, flags)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.socket.sendto, socket.socket.sendmsg = sendto, sendmsg

    class GuardedRawSocket(_socket.socket):
        """``_socket.socket`` with the same checks, for code that bypasses :mod:`socket`."""

        def connect(self, address):
            _check(address, "a connection")
            return super().connect(address)

        def connect_ex(self, address):
            _check(address, "a connection")
            return super().connect_ex(address)

        def sendto(self, data, *args):
            _check(args[-1], "a datagram")
            return super().sendto(data, *args)

    _socket.socket = _socket.SocketType = GuardedRawSocket

    def lookup(original, what):
        def guarded(host, *args, **kwargs):
            if not _is_local(host[0] if isinstance(host, tuple) else host):
                raise NetworkBlocked(f"fairlab runs offline: blocked {what} of {host!r}")
            return original(host, *args, **kwargs)
        return guarded

    for module in (socket, _socket):
        for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"):
            if hasattr(module, name):
                setattr(module, name, lookup(getattr(module, name), "a name lookup"))
    original_create_connection = socket.create_connection

    def create_connection(address, *args, **kwargs):
        _check(address, "a connection")
        return original_create_connection(address, *args, **kwargs)

    socket.create_connection = create_connection
    _installed = True


def child_environment(folder: Path) -> dict[str, str]:
    """Variables that carry the block into every child process of a guarded one.

    Python children (``subprocess``, ``multiprocessing`` spawn, Dask workers) import ``sitecustomize`` from
    ``folder`` (first on ``PYTHONPATH``), which installs the guard and then runs the interpreter's own
    ``sitecustomize`` if it has one; other programs that honour the proxy variables meet a closed loopback port.
    A program with its own network code is only kept off by an empty network namespace (``unshare -n``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    path = os.pathsep.join([str(folder)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    proxies = {name: DEAD_PROXY for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                                             "ALL_PROXY")}
    return {"PYTHONPATH": path, OFFLINE_ENV: "1", **proxies, "no_proxy": "localhost,127.0.0.1,::1",
            "NO_PROXY": "localhost,127.0.0.1,::1"}


_SITECUSTOMIZE = '''"""fairlab's network block for a child of a guarded process (fairlab.offline.child_environment)."""
import importlib.util
import os
import sys

import fairlab.offline

fairlab.offline.install()
# then the interpreter's own sitecustomize, which this file shadows
_here = os.path.dirname(os.path.abspath(__file__))
for _entry in sys.path:
    if _entry and os.path.abspath(_entry) != _here and os.path.isfile(os.path.join(_entry, "sitecustomize.py")):
        _spec = importlib.util.spec_from_file_location("_fairlab_next_sitecustomize", os.path.join(_entry, "sitecustomize.py"))
        _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
        break
'''


def ipython_dir_with_guard(folder: Path) -> Path:
    """An ``IPYTHONDIR`` whose default profile runs :func:`install` when a kernel starts."""
    startup = folder / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-fairlab-offline.py").write_text("import fairlab.offline\nfairlab.offline.install()\n")
    return folder
