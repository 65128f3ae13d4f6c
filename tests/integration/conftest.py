from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisServer, redis_server


@pytest.fixture(scope="module")
def store() -> Iterator[RedisServer]:
    """A real redis-server on loopback, one per test module."""
    with redis_server() as server:
        yield server
