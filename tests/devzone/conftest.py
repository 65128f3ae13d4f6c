"""Fixtures: one served zone per test module (stopping uvicorn costs ~0.15 s, so tests share
it and register their own clients), plus a factory for zones with their own configuration.

Every test module that uses ``zone`` or ``http`` runs in the module's event loop
(``pytestmark = pytest.mark.asyncio(loop_scope="module")``): the server task lives there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from keycard_serve.devzone import DevZone
from keycard_serve.devzone._authority import Policy
from tests.support.servers import free_port

from .helpers import DENIED_RESOURCE

ZoneFactory = Callable[..., DevZone]


_POLICY_FIELDS = frozenset(field.name for field in dataclasses.fields(Policy))


def _factory(state_dir: Path) -> ZoneFactory:
    """DevZones of one configuration: they share a loopback port and state directory, like the
    launcher restarted, or ``keycard-serve token`` run beside it.

    Options named like ``Policy`` fields (``auto_approve``, ``scope_policy``...) go into the
    zone's ``_policy``; ``DENIED_RESOURCE`` is always denied."""
    port = free_port()

    def make(**options: Any) -> DevZone:
        policy = {name: options.pop(name) for name in _POLICY_FIELDS & options.keys()}
        policy = Policy(denied_resources=frozenset([DENIED_RESOURCE]), **policy)
        return DevZone(port=port, state_dir=state_dir, _policy=policy, **options)

    return make


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "devzone"


@pytest.fixture
def make_zone(state_dir: Path) -> ZoneFactory:
    return _factory(state_dir)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def zone(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevZone]:
    async with _factory(tmp_path_factory.mktemp("devzone"))().serve() as served:
        yield served


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(zone: DevZone) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=zone.issuer) as client:
        yield client
