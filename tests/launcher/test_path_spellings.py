"""Every ``server.path`` spelling the config accepts serves at its one canonical endpoint,
through ``keycard-serve`` as users run it (finding 3 on issue 9 #2/#3)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.launcher import launch
from tests.support.servers import free_port

CONFIG = """\
version: 1
server:
  name: Spellings
  base_url: {base_url}
  path: {path}
  stateless: true
zone:
  url: {issuer}
tools:
  - function: examples.weather:forecast
"""
ACCEPT = {"Accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("//mcp", "/mcp"),
        ("/mcp//", "/mcp"),
        ("/a/../mcp", "/mcp"),
        ("/mcp/", "/mcp"),
        ("/tools/%6Dcp", "/tools/mcp"),
        ("/", "/"),
    ],
)
def test_every_accepted_path_spelling_serves_the_canonical_endpoint(
    authserver, tmp_path: Path, path: str, canonical: str
):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    endpoint = base_url + canonical[1:]
    prm = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource{canonical.rstrip('/')}"
    config = tmp_path / "keycard-serve.yaml"
    config.write_text(CONFIG.format(base_url=base_url, path=f"'{path}'", issuer=authserver.issuer))
    ready = prm.removeprefix(base_url)
    with launch([str(config)], base_url=base_url, log_path=tmp_path / "log", ready_path=ready):
        challenged = httpx.post(endpoint, headers=ACCEPT, json=PING)
        assert challenged.status_code == 401, challenged.text
        assert f'resource_metadata="{prm}"' in challenged.headers["www-authenticate"]
        assert httpx.get(prm).json()["resource"] == endpoint
        auth = {**ACCEPT, "Authorization": f"Bearer {authserver.user_token('alice', endpoint)}"}
        variants = [endpoint] if canonical == "/" else [endpoint, endpoint + "/"]
        for url in variants:
            answer = httpx.post(url, headers=auth, json=PING)
            assert answer.status_code == 200, (url, answer.status_code, answer.text)
