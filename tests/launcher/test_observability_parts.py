"""Each part of the ``observability`` section works alone: metrics without an audit log, an
audit log without metrics, and neither (the observers are then left off the call path)."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from fastmcp import Client

from tests.launcher.test_observability import post_call, sample, scrape
from tests.support.launcher import launch
from tests.support.servers import free_port

WEATHER = "https://api.weather.example/"

CONFIG = """\
version: 1
server:
  name: Observed
  base_url: {base_url}
zone:
  url: {issuer}
  required_scopes: [mcp:tools]
credentials:
  client_id: ${{TEST_CLIENT_ID}}
  client_secret: ${{TEST_CLIENT_SECRET}}
{observability}
tools:
  - function: examples.delegation:whoami
    grants: [{weather}]
  - function: examples.calendar:sync_calendar
    name: sync
    scopes: [calendar:write]
    grants: [https://calendar.example/]
"""

PARTS = {
    "metrics": 'observability:\n  metrics: {listen: "127.0.0.1:0"}',
    "audit": "observability:\n  audit: {path: audit.jsonl}",
    "neither": "",
}


@pytest.mark.parametrize("part", PARTS)
def test_one_part_of_observability_alone(authserver, tmp_path, part):
    base_url = f"http://127.0.0.1:{free_port()}/"
    config = tmp_path / "keycard-serve.yaml"
    config.write_text(
        CONFIG.format(
            base_url=base_url,
            issuer=authserver.issuer,
            observability=PARTS[part],
            weather=WEATHER,
        )
    )
    client_id, secret = authserver.clients["mcp-server"]
    env = {"TEST_CLIENT_ID": client_id, "TEST_CLIENT_SECRET": secret}
    with launch([str(config)], base_url=base_url, env=env, log_path=tmp_path / "log.txt") as s:
        token = authserver.user_token("alice", s.mcp_url)

        async def calls() -> list[str]:
            async with Client(s.mcp_url, auth=token) as client:
                return [(await client.call_tool("whoami", {})).data["status"] for _ in range(2)]

        assert asyncio.run(calls()) == ["success", "success"]
        assert post_call(s.mcp_url, token, "sync").status_code == 403
        assert post_call(s.mcp_url, "not-a-jwt", "whoami").status_code == 401
        metrics_url = re.search(r"metrics +(http://\S+/metrics)", s.log())
        audit_path = tmp_path / "audit.jsonl"
        if part == "metrics":
            assert metrics_url is not None
            metrics = scrape(metrics_url.group(1))
            name = "keycard_serve_tool_calls_total"
            assert sample(metrics, name, tool="whoami", outcome="ok") == 2
            assert sample(metrics, name, tool="sync", outcome="scope_refused") == 1
        else:
            assert metrics_url is None
    if part == "audit":
        events = [json.loads(line) for line in audit_path.read_text().splitlines()]
        assert [(e["event"], e.get("tool")) for e in events] == [
            ("tool_call", "whoami"),
            ("tool_call", "whoami"),
            ("scope_refused", "sync"),
            ("token_refused", None),
        ]
        assert all(event["request_id"] for event in events)
        assert [e["resources"] for e in events[:2]] == [
            [{"resource": WEATHER, "outcome": "exchanged"}],
            [{"resource": WEATHER, "outcome": "cached"}],
        ]
    else:
        assert not audit_path.exists()
