"""A base URL with a path prefix, behind a real nginx that forwards paths unchanged: the MCP
endpoint and its metadata documents all answer at their public paths (issue 9 item 3)."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastmcp import Client

from tests.support.authserver import AuthServer
from tests.support.launcher import launch
from tests.support.reverse_proxy import reverse_proxy
from tests.support.servers import free_port

CONFIG = """\
version: 1
server:
  name: Tenant
  base_url: {base_url}
  path: /mcp
zone:
  url: {issuer}
credentials:
  client_id: ${{TEST_CLIENT_ID}}
  client_secret: ${{TEST_CLIENT_SECRET}}
tools:
  - function: examples.delegation:whoami
    grants:
      - https://api.weather.example/
"""
ACCEPT = {"Accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


async def test_a_prefixed_base_url_works_behind_a_proxy_that_keeps_the_prefix(
    authserver: AuthServer, tmp_path: Path
) -> None:
    port = free_port()
    client_id, secret = authserver.clients["mcp-server"]
    env = {"TEST_CLIENT_ID": client_id, "TEST_CLIENT_SECRET": secret}
    with reverse_proxy([f"http://127.0.0.1:{port}"]) as proxy:
        base_url = proxy + "/tenant/"
        endpoint = base_url + "mcp"
        prm = proxy + "/.well-known/oauth-protected-resource/tenant/mcp"
        config = tmp_path / "tenant.yaml"
        config.write_text(CONFIG.format(base_url=base_url, issuer=authserver.issuer))
        args = ["run", str(config), "--host", "127.0.0.1", "--port", str(port)]
        local = f"http://127.0.0.1:{port}/"
        with launch(args, base_url=local, env=env, log_path=tmp_path / "log", ready_path="readyz"):
            challenged = httpx.post(endpoint, headers=ACCEPT, json=PING)
            assert challenged.status_code == 401, challenged.text
            assert f'resource_metadata="{prm}"' in challenged.headers["www-authenticate"]
            for url in (prm, endpoint + "/.well-known/oauth-protected-resource"):
                metadata = httpx.get(url)
                assert metadata.status_code == 200, url
                assert metadata.json()["resource"] == endpoint
            mirrored = httpx.get(proxy + "/.well-known/oauth-authorization-server/tenant/mcp")
            assert mirrored.status_code == 200
            # The one model: nothing at the prefix-stripped path; health stays at the root.
            assert httpx.post(proxy + "/mcp", headers=ACCEPT, json=PING).status_code == 404
            assert httpx.get(proxy + "/healthz").status_code == 200
            token = authserver.user_token("alice", endpoint)
            async with Client(endpoint, auth=token) as client:
                result = (await client.call_tool("whoami", {})).data
            assert result["status"] == "success", result
            assert result["tokens"]["https://api.weather.example/"]["sub"] == "alice"
