"""Listening sockets bound by us, so a taken port is an ``OSError`` we can report.

uvicorn binds by itself otherwise, and then exits the whole process when the port is taken.
"""

from __future__ import annotations

import socket

__all__ = ["listen"]


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port``; ``OSError`` names the address if it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = "127.0.0.1" if host.lower() == "localhost" else host
    # proto must say TCP: asyncio only sets TCP_NODELAY on connections from such sockets,
    # and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(2048)
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or str(exc)
        raise OSError(
            getattr(exc, "errno", None), f"cannot listen on {host}:{port}: {reason}"
        ) from None
    return sock
