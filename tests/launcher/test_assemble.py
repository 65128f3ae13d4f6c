"""From config to provider and app: what the file says is what the server enforces."""

from __future__ import annotations

import time

import pytest

from keycard_serve import TokenError
from keycard_serve.config import import_tools, load_config
from keycard_serve.config._provider import build_provider
from keycard_serve.launcher.assemble import served_app
from keycard_serve.launcher.banner import render_banner
from tests.support.fake_zone import run_fake_zone
from tests.support.keys import public_jwk, rsa_key, sign
from tests.support.launcher import ROOT

CONFIG = """\
version: 1
server: {{name: t, base_url: "http://127.0.0.1:8000/"}}
zone:
  url: {issuer}
  allow_untyped_tokens: {allow}
credentials: {{client_id: c, client_secret: "${{SECRET}}"}}
tools: [{{function: "examples.weather:forecast"}}]
"""


@pytest.mark.parametrize("allow", [True, False])
async def test_allow_untyped_tokens(tmp_path, allow):
    key = rsa_key()
    with run_fake_zone() as zone:
        zone.jwks = {"keys": [public_jwk(key, "rsa-1", alg="RS256")]}
        path = tmp_path / "c.yaml"
        path.write_text(CONFIG.format(issuer=zone.issuer, allow=str(allow).lower()))
        provider = build_provider(load_config(path, environ={"SECRET": "s"}))
        now = int(time.time())
        claims = {
            "iss": zone.issuer,
            "sub": "alice",
            "aud": "http://127.0.0.1:8000/mcp",
            "iat": now,
            "exp": now + 60,
        }
        untyped = sign(claims, key, typ=None)
        audiences = provider.audiences("/mcp")
        assert (await provider.verify(sign(claims, key), audiences)).subject == "alice"
        if allow:
            assert (await provider.verify(untyped, audiences)).subject == "alice"
        else:
            with pytest.raises(TokenError) as raised:
                await provider.verify(untyped, audiences)
            assert raised.value.code == "invalid_type"
        await provider.aclose()


ADOPT = """\
version: 1
app: examples.adopt_app:mcp
server: {name: Docs, base_url: "http://127.0.0.1:8000/"}
zone: {url: "https://zone.example", required_scopes: [mcp:tools]}
credentials: {client_id: c, client_secret: "${SECRET}"}
tools:
  - name: search_docs
    scopes: [docs:read]
    grants: [{resource: "https://docs.example/", scopes: [docs.search]}]
"""


async def test_banner_is_rendered_from_the_built_app_without_serving(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    path = tmp_path / "adopt.yaml"
    path.write_text(ADOPT)
    async with served_app(import_tools(load_config(path, environ={"SECRET": "s"}))) as served:
        banner = render_banner(served, "http://0.0.0.0:8000")
    assert banner.splitlines() == [
        "keycard-serve: Docs",
        "  MCP endpoint   http://127.0.0.1:8000/mcp",
        "  listening on   http://0.0.0.0:8000",
        "  zone           https://zone.example",
        "  tools:",
        "    search_docs  [needs scope docs:read]",
        "      -> https://docs.example/  (scope docs.search)",
    ]
    assert "s" not in banner.split()  # the secret's value
    async with served_app(import_tools(load_config(path, environ={"SECRET": "s"}))) as served:
        lines = render_banner(served, "http://0.0.0.0:8000", workers=3).splitlines()
    assert lines[3] == "  workers        3 processes sharing the socket"


async def test_an_adopted_apps_module_change_calls_the_restart_hook(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    path = tmp_path / "adopt.yaml"
    path.write_text(ADOPT)
    asked: list[str] = []
    loaded = import_tools(load_config(path, environ={"SECRET": "s"}))
    async with served_app(loaded, request_restart=asked.append) as served:
        outcome = await served.reloader.reload(reimport=["examples.adopt_app"])
    assert asked == ["app module examples.adopt_app changed"]
    assert outcome.endswith("restarting")


async def test_without_a_restart_hook_an_app_module_change_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    path = tmp_path / "adopt.yaml"
    path.write_text(ADOPT)
    async with served_app(import_tools(load_config(path, environ={"SECRET": "s"}))) as served:
        outcome = await served.reloader.reload(reimport=["examples.adopt_app"])
        status = served.reloader.status
    assert outcome == "reload failed; the last good config keeps serving"
    assert status.last_error == "app module examples.adopt_app changed"

