"""``keycard-serve dev`` on any config, and the banner's commands run as a user pastes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from keycard_serve.cli import app
from keycard_serve.launcher.banner import example_arguments
from tests.support.launcher import ROOT, launch
from tests.support.servers import free_port

PUBLIC = """\
version: 1
server:
  name: Public
  base_url: https://mcp.example.com/tools/
  host: 0.0.0.0
zone:
  url: https://zone.example.com/
  required_scopes: [mcp:tools]
credentials:
  type: private_key_jwt
  client_id: ${PUBLIC_CLIENT_ID}
  private_key_file: ${PUBLIC_KEY_FILE}
tools:
  - function: examples.weather:forecast      # city is a required argument
    grants: [https://api.weather.example/]
"""


def environment(tmp: Path) -> dict[str, str]:
    """No KEYCARD_* variables at all, the venv's scripts on PATH (the banner calls them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYCARD_")}
    env["KEYCARD_SERVE_STATE_DIR"] = str(tmp / "state")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def curl_from_banner(log: str) -> str:
    """The banner's "Try it" command, continuation lines joined, as a shell reads it."""
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if "Try it:" in line)
    command = []
    for line in lines[start:]:
        command.append(line.replace("Try it:", "").strip().removesuffix("\\"))
        if not line.rstrip().endswith("\\"):
            break
    return " ".join(command)


def run_banner_command(command: str, env: dict[str, str]) -> dict:
    done = subprocess.run(
        ["sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    body = done.stdout
    if body.startswith(("event:", "data:")):  # an SSE answer: the data line
        body = next(line[5:] for line in body.splitlines() if line.startswith("data:"))
    return json.loads(body)


def token_claims(config: str, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "keycard_serve", "token", config],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return jwt.decode(done.stdout.strip(), options={"verify_signature": False})


def test_dev_serves_a_real_zone_config_without_its_variables_for_the_user_given(tmp_path):
    env = environment(tmp_path)
    port = free_port()
    with launch(
        ["dev", "configs/adopt-app.yaml", "--user", "bob", "--port", str(port)],
        base_url=f"http://127.0.0.1:{port}/",
        env=env,
        log_path=tmp_path / "log.txt",
    ) as running:
        log = running.log()
        assert "zone.id: not used in dev mode" in log
        assert f"MCP endpoint   http://127.0.0.1:{port}/mcp" in log
        claims = token_claims("configs/adopt-app.yaml", env)
        assert (claims["sub"], claims["aud"]) == ("bob", f"http://127.0.0.1:{port}/mcp")
        # search_docs needs a query: the banner's call fills it in, and the call succeeds.
        answer = run_banner_command(curl_from_banner(log), env)
    result = answer["result"]
    assert not result.get("isError"), result
    assert "Results for 'example'" in result["content"][0]["text"]


def test_dev_serves_a_public_base_url_on_loopback_and_says_which_url(tmp_path):
    config = tmp_path / "public.yaml"
    config.write_text(PUBLIC)
    env = environment(tmp_path)
    port = free_port()
    with launch(
        ["dev", str(config), "--port", str(port)],
        base_url=f"http://127.0.0.1:{port}/",
        env=env,
        log_path=tmp_path / "log.txt",
    ) as running:
        log = running.log()
        local = f"http://127.0.0.1:{port}/mcp"
        assert f"dev mode serves https://mcp.example.com/tools/mcp as {local}: use that URL" in log
        assert f"listening on   http://127.0.0.1:{port}" in log
        assert token_claims(str(config), env)["aud"] == local
        answer = run_banner_command(curl_from_banner(log), env)
    result = answer["result"]
    assert not result.get("isError"), result
    assert result["content"][0]["text"].startswith("Forecast for example: sunny")


@pytest.mark.parametrize("name", ["keycloak", "entra"])
def test_dev_serves_another_servers_example_with_working_delegation(tmp_path, name):
    """Its token and exchange shapes describe the real server; the development zone has its
    own, so a granted call through the banner's curl line gets delegated tokens."""
    env = environment(tmp_path)
    port = free_port()
    config = f"configs/{name}.yaml"
    with launch(
        ["dev", config, "--port", str(port)],
        base_url=f"http://127.0.0.1:{port}/",
        env=env,
        log_path=tmp_path / "log.txt",
    ) as running:
        log = running.log()
        assert "zone.exchange: not used in dev mode" in log
        answer = run_banner_command(curl_from_banner(log), env)
    result = answer["result"]
    assert not result.get("isError"), result
    text = result["content"][0]["text"]
    assert '"status":"success"' in text.replace(" ", ""), text


def test_token_works_for_any_config_and_says_the_zone_is_replaced(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("KEYCARD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KEYCARD_SERVE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(ROOT)
    config = tmp_path / "public.yaml"
    config.write_text(PUBLIC)
    result = CliRunner().invoke(app, ["token", str(config)])
    assert result.exit_code == 0, result.output
    assert "zone.url: not used in dev mode" in result.output
    assert "credentials: not used in dev mode" in result.output
    # stdout's one line is the token (other lines are stderr's warnings, maybe logs).
    (token,) = [line for line in result.output.splitlines() if line.startswith("eyJ")]
    claims = jwt.decode(token, options={"verify_signature": False})
    # Never served yet: the URL dev would serve it on.
    assert claims["aud"] == "http://127.0.0.1:8000/mcp"
    assert set(claims["scope"].split()) == {"mcp:tools"}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "object", "properties": {"a": {"type": "string"}}}, {}),
        (
            {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1},
                    "ratio": {"type": "number"},
                    "loud": {"type": "boolean"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "unit": {"enum": ["C", "F"]},
                    "when": {"anyOf": [{"type": "null"}, {"type": "string"}]},
                    "at": {"$ref": "#/$defs/Point"},
                    "skip": {"type": "string"},
                },
                "required": ["city", "days", "ratio", "loud", "tags", "unit", "when", "at"],
                "$defs": {
                    "Point": {
                        "type": "object",
                        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                        "required": ["x"],
                    }
                },
            },
            {
                "city": "example",
                "days": 1,
                "ratio": 1,
                "loud": True,
                "tags": [],
                "unit": "C",
                "when": "example",
                "at": {"x": 1},
            },
        ),
    ],
)
def test_example_arguments_fill_required_parameters_by_type(schema, expected):
    assert example_arguments(schema) == expected
