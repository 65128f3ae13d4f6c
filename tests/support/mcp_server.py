"""Serve a FastMCP app over real streamable HTTP on loopback for a test."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fastmcp import FastMCP

from .servers import bound_socket, serve_asgi


@dataclass(frozen=True)
class RunningServer:
    base_url: str  # "http://127.0.0.1:PORT/"

    @property
    def mcp_url(self) -> str:
        return self.base_url + "mcp"


@contextlib.contextmanager
def serve_mcp(build: Callable[[str], FastMCP]) -> Iterator[RunningServer]:
    """``build(base_url)`` returns the server; it is served at ``base_url`` + ``mcp``."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/"
    mcp = build(base_url)
    with serve_asgi(mcp.http_app(path="/mcp"), sock=sock):
        yield RunningServer(base_url)
