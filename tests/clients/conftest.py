"""One keycard-serve subprocess per server shape for the whole package: starting one costs
about a second, and every client test only reads from it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.clients.devserver import DevServer, serve_dev


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """The quickstart shape: no scope required on every call, ``sync`` needs calendar:write."""
    with serve_dev(tmp_path_factory.mktemp("quickstart")) as running:
        yield running


@pytest.fixture(scope="package")
def scoped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """Every call needs mcp:tools, so the 401 challenge names a scope narrower than ``sync``
    needs: what makes a client step up on the 403."""
    with serve_dev(tmp_path_factory.mktemp("scoped"), required_scopes=["mcp:tools"]) as running:
        yield running


@pytest.fixture(scope="package")
def token(server: DevServer) -> str:
    """The dev user's bearer token with every scope, as ``keycard-serve token`` prints it."""
    return server.token()


@pytest.fixture(scope="package")
def expected_whoami(server: DevServer) -> dict[str, Any]:
    return server.expected_whoami()
