"""``keycard-serve CONFIG`` on its embedded development zone, run the way users run it.

Clients under test talk to a real subprocess over loopback; the config has the shape of
``configs/quickstart.yaml``, with fixed ports and a private state directory so a test never
touches ``~/.local/state``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keycard_serve.config import load_config
from keycard_serve.launcher.dev import dev_zone_for
from tests.support.launcher import ROOT, Launched, launch
from tests.support.servers import free_port

USER = "alice"
SERVER_NAME = "Client tests"
TOOLS = {"whoami", "forecast", "sync"}
WEATHER_API = "https://api.weather.example/"
MAIL_API = "https://mail.example/"

CONFIG = """\
version: 1
server:
  name: {name}
  base_url: {base_url}
zone:
  dev:
    user: {user}
    port: {zone_port}
  required_scopes: [{required_scopes}]
tools:
  - function: examples.delegation:whoami
    grants:
      - {weather}
      - resource: {mail}
        scopes: [mail.read]
  - function: examples.weather:forecast
    grants: [{weather}]
  - function: examples.calendar:sync_calendar
    name: sync
    scopes: [calendar:write]
    grants:
      - https://calendar.example/
      - resource: {mail}
        scopes: [mail.read]
"""


@dataclass
class DevServer:
    """A running keycard-serve, its config and the environment its CLI must share."""

    launched: Launched
    config: Path
    env: dict[str, str]  # what the server's environment adds to ours; its CLI needs it too
    issuer: str

    @property
    def base_url(self) -> str:
        return self.launched.base_url

    @property
    def mcp_url(self) -> str:
        return self.launched.mcp_url

    def token(self, *scopes: str) -> str:
        """A bearer token from ``keycard-serve token CONFIG`` (all advertised scopes by default)."""
        args = [sys.executable, "-m", "keycard_serve", "token", str(self.config)]
        for scope in scopes:
            args += ["--scope", scope]
        done = subprocess.run(
            args,
            cwd=ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def server_client_id(self) -> str:
        """The client the server authenticates as for token exchange: the ``act`` it must get."""
        environ = {**os.environ, **self.env}
        loaded = load_config(self.config, environ=environ)
        return dev_zone_for(loaded, environ).server_client[0]

    def expected_whoami(self) -> dict[str, Any]:
        """What ``whoami`` returns when delegation worked: one token per grant, for the user,
        audience the downstream API, acting as the server's client."""
        act = {"sub": self.server_client_id()}
        return {
            "status": "success",
            "tokens": {
                WEATHER_API: {"sub": USER, "aud": WEATHER_API, "act": act, "scope": None},
                MAIL_API: {"sub": USER, "aud": MAIL_API, "act": act, "scope": "mail.read"},
            },
            "errors": {},
        }


@contextlib.contextmanager
def serve_dev(tmp: Path, *, required_scopes: Sequence[str] = ()) -> Iterator[DevServer]:
    """Write a dev-zone config into ``tmp`` and run ``keycard-serve CONFIG`` on it."""
    base_url = f"http://127.0.0.1:{free_port()}/"
    zone_port = free_port()
    config = tmp / "keycard-serve.yaml"
    config.write_text(
        CONFIG.format(
            name=SERVER_NAME,
            base_url=base_url,
            user=USER,
            zone_port=zone_port,
            required_scopes=", ".join(required_scopes),
            weather=WEATHER_API,
            mail=MAIL_API,
        )
    )
    env = {"KEYCARD_SERVE_STATE_DIR": str(tmp / "state")}
    with launch([str(config)], base_url=base_url, env=env, log_path=tmp / "server.log") as running:
        yield DevServer(running, config, env, issuer=f"http://127.0.0.1:{zone_port}")
