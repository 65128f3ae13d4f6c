from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from keycard_serve._http import ClientPool
from tests.support.authserver import AuthServer, run_authserver


@pytest.fixture(scope="session")
def authserver() -> Iterator[AuthServer]:
    """The real oidc-provider authorization server, one per session (starting node is slow)."""
    with run_authserver() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool() -> AsyncIterator[ClientPool]:
    """One pooled client per test module: creating one costs more than a loopback fetch."""
    pool = ClientPool()
    yield pool
    await pool.aclose()


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """Undo what a command run in process (``configure_logging``) did to the root logger and
    FastMCP's: its handler writes to the standard error of that moment (CliRunner's, closed
    afterwards), which later tests would hit."""
    root, fastmcp = logging.getLogger(), logging.getLogger("fastmcp")
    saved = (root.handlers[:], root.level, fastmcp.handlers[:], fastmcp.propagate, fastmcp.level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    fastmcp.handlers[:], fastmcp.propagate, fastmcp.level = saved[2], saved[3], saved[4]
