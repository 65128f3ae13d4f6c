"""Run a real ASGI app on loopback for the length of a test.

The listening socket is bound to port 0 before the server starts, so the port is known (and
held) before anything else can take it: no free-port race.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


def free_port() -> int:
    """A port that was free a moment ago, for a server in another process (racy by nature)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bound_socket() -> socket.socket:
    """A TCP socket bound to 127.0.0.1 on a port the kernel picked, ready for ``serve_asgi``."""
    # IPPROTO_TCP explicitly: asyncio disables Nagle only on sockets it knows are TCP, and a
    # kept-alive response would otherwise wait ~40 ms for the peer's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve_asgi(app, *, sock: socket.socket | None = None, **options: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on ``sock`` (default: a fresh bound socket) in a thread.

    ``options`` go to ``uvicorn.Config`` (``ssl_certfile``/``ssl_keyfile`` serve https).
    Yields the base URL without a trailing slash; the server stops when the block ends.
    """
    sock = sock or bound_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **options)
    scheme = "https" if options.get("ssl_certfile") else "http"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"test server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
