"""From config to provider: what the file says is what the provider enforces."""

from __future__ import annotations

import time

import pytest

from keycard_serve import TokenError
from keycard_serve.config import load_config
from keycard_serve.launcher.assemble import build_provider
from tests.support.fake_zone import run_fake_zone
from tests.support.keys import public_jwk, rsa_key, sign

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
