from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keycard_serve.config import ConfigError, LoadedConfig, import_tools, load_config

REPO = Path(__file__).resolve().parents[2]

# What the example configs and the broken battery expect to find in the environment.
ENV = {
    "KEYCARD_ZONE_ID": "my-zone",
    "KEYCARD_CLIENT_ID": "weather-server",
    "KEYCARD_CLIENT_SECRET": "sentinel-secret-value",
}


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader puts config directories on sys.path; keep that inside each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the project root, where ``examples`` is importable from the current directory."""
    monkeypatch.chdir(REPO)
    return REPO


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a file under tmp_path (a config by default) and return its path."""

    def write(text: str | bytes, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def module(write: Callable[..., Path]) -> Iterator[Callable[[str, str], str]]:
    """Write an importable module next to the config; it is forgotten after the test."""
    names: list[str] = []

    def module(name: str, source: str) -> str:
        write(source, f"{name}.py")
        names.append(name)
        return name

    yield module
    for name in names:
        sys.modules.pop(name, None)


def load(path: Path, env: dict[str, str] | None = None, *, imports: bool = True) -> LoadedConfig:
    """``load_config``, then ``import_tools`` unless ``imports`` is False (what serving does)."""
    loaded = load_config(path, environ=ENV if env is None else env)
    return import_tools(loaded) if imports else loaded


def error_text(path: Path, env: dict[str, str] | None = None, *, imports: bool = True) -> str:
    """What a user sees when ``path`` fails to load."""
    with pytest.raises(ConfigError) as info:
        load(path, env, imports=imports)
    return str(info.value)


# A valid config; tests replace parts of it to break one thing at a time.
VALID = """\
version: 1
server:
  name: Weather Tools
  base_url: http://127.0.0.1:8000/
zone:
  id: my-zone
credentials:
  client_id: ${KEYCARD_CLIENT_ID}
  client_secret: ${KEYCARD_CLIENT_SECRET}
tools:
  - function: examples.weather:forecast
    grants: [https://api.weather.example/]
"""
