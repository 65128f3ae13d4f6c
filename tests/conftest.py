from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.authserver import AuthServer, run_authserver


@pytest.fixture(scope="session")
def authserver() -> Iterator[AuthServer]:
    """The real oidc-provider authorization server, one per session (starting node is slow)."""
    with run_authserver() as server:
        yield server
