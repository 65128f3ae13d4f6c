from __future__ import annotations

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
