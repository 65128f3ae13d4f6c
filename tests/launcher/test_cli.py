"""The command line as a user and a CI job see it: exit codes, messages, formats."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from keycard_serve.cli import app, main
from tests.config.test_configs import OTHER_SERVERS_ENV

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
ENV = {
    "KEYCARD_ZONE_ID": "my-zone",
    "KEYCARD_CLIENT_ID": "mcp-server",
    "KEYCARD_CLIENT_SECRET": "s3cret-value-SENTINEL",
    "KEYCARD_KEY_ID": "key-1",
    **OTHER_SERVERS_ENV,  # configs/{keycloak,entra,okta,auth0,cognito}.yaml
}

runner = CliRunner()


@pytest.fixture(autouse=True)
def environment(monkeypatch, tmp_path):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem)
    key_file.chmod(0o600)
    monkeypatch.setenv("KEYCARD_PRIVATE_KEY_FILE", str(key_file))
    monkeypatch.setenv("KEYCARD_SERVE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(ROOT)


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BROKEN = """\
version: 1
server:
  name: Broken
  base_url: http://127.0.0.1:8000/
zone:
  url: http://127.0.0.1:9400
  requird_scopes: [x]
credentials:
  client_id: id
  client_secret: ${KEYCARD_CLIENT_SECRET}
tools:
  - function: examples.weather:forecast
    grants: [https://api.example.com/#frag]
"""


def test_every_shipped_config_validates():
    result = runner.invoke(app, ["validate", *map(str, CONFIGS)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": valid") == len(CONFIGS)


def test_an_invalid_config_exits_1_naming_file_line_and_field(tmp_path):
    path = write(tmp_path, BROKEN)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert re.search(rf"{re.escape(str(path))}:7:\d+.*zone\.requird_scopes", result.output)
    assert "required_scopes" in result.output  # the did-you-mean hint
    assert re.search(r":13:\d+.*tools\[0\]\.grants\[0\]", result.output)
    assert "SENTINEL" not in result.output


def test_usage_errors_exit_2():
    assert runner.invoke(app, ["validate", "--format", "yaml", "x.yaml"]).exit_code == 2
    assert runner.invoke(app, ["nonsense-command-option", "--bogus"]).exit_code == 2


def test_json_format_is_machine_readable(tmp_path):
    good, bad = CONFIGS[0], write(tmp_path, BROKEN)
    result = runner.invoke(app, ["validate", "--format", "json", str(good), str(bad)])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False
    files = {Path(entry["file"]).name: entry for entry in report["files"]}
    assert files[good.name]["valid"] is True
    issues = files["config.yaml"]["issues"]
    assert {issue["path"] for issue in issues} >= {"zone.requird_scopes"}
    assert all(issue["line"] for issue in issues)


def test_github_format_emits_workflow_annotations(tmp_path):
    bad = write(tmp_path, BROKEN)
    result = runner.invoke(app, ["validate", "--format", "github", str(bad)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines and all(line.startswith("::error file=") for line in lines)
    assert any(f"file={bad},line=7," in line for line in lines)


@pytest.mark.parametrize("content", ["", "# nothing but a comment\n"])
def test_an_empty_file_is_annotated_on_its_first_line(tmp_path, content):
    empty = write(tmp_path, content)
    github = runner.invoke(app, ["validate", "--format", "github", str(empty)])
    assert github.exit_code == 1
    assert github.output.startswith(f"::error file={empty},line=1,col=1::file is empty")
    text = runner.invoke(app, ["validate", str(empty)])
    assert text.output.startswith(f"{empty}:1:1: error: file is empty")
    (finding,) = json.loads(
        runner.invoke(app, ["validate", "--format", "json", str(empty)]).output
    )["files"][0]["issues"]
    assert (finding["line"], finding["column"], finding["path"]) == (1, 1, "")


def test_plan_and_token_run_no_user_code(tmp_path, monkeypatch):
    # Loading is one job, running user code another: plan and token never import the tools.
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "explodes_on_import.py").write_text("raise SystemExit('imported')\ndef t(): ...\n")
    config = write(
        tmp_path,
        "version: 1\nserver: {name: x, base_url: 'http://127.0.0.1:8000/'}\n"
        "zone: {dev: true}\ntools: [{function: 'explodes_on_import:t', scopes: [s1]}]\n",
    )
    monkeypatch.setenv("KEYCARD_SERVE_STATE_DIR", str(tmp_path / "state"))
    plan = runner.invoke(app, ["plan", str(config)])
    assert plan.exit_code == 0, plan.output
    assert plan.output.splitlines()[1].split()[:2] == ["t", "s1"]
    assert runner.invoke(app, ["token", str(config)]).exit_code == 0
    validate = runner.invoke(app, ["validate", str(config)])
    assert validate.exit_code == 1
    assert "importing explodes_on_import failed: SystemExit: imported" in validate.output


def test_a_missing_file_is_a_message_not_a_traceback(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 1
    assert "absent.yaml" in result.output
    assert "Traceback" not in result.output


def test_schema_check_detects_drift(tmp_path):
    committed = ROOT / "schemas" / "keycard-serve.schema.json"
    ok = runner.invoke(app, ["schema", "--output", str(committed), "--check"])
    assert ok.exit_code == 0, ok.output
    stale = write(tmp_path, committed.read_text().replace('"version"', '"versoin"'), "s.json")
    drift = runner.invoke(app, ["schema", "--output", str(stale), "--check"])
    assert drift.exit_code == 1
    assert "out of date" in drift.output


def test_schema_check_of_a_missing_file_says_it_does_not_exist(tmp_path):
    missing = tmp_path / "missing.json"
    result = runner.invoke(app, ["schema", "--output", str(missing), "--check"])
    assert result.exit_code == 1
    assert f"{missing} does not exist: create it with keycard-serve schema -o {missing}" in (
        result.output
    )
    assert "out of date" not in result.output
    assert not missing.exists()


def test_schema_is_printed_as_json():
    result = runner.invoke(app, ["schema"])
    assert json.loads(result.output)["title"]


PLAN_OLD = """\
version: 1
server: {name: P, base_url: "http://127.0.0.1:8000/"}
zone: {url: "http://127.0.0.1:9400", required_scopes: [mcp:tools]}
credentials: {client_id: id, client_secret: "${KEYCARD_CLIENT_SECRET}"}
tools:
  - function: examples.weather:forecast
    grants: [https://api.weather.example/]
  - function: examples.calendar:sync_calendar
    name: sync
    scopes: [calendar:write]
    grants:
      - resource: https://mail.example/
        scopes: [mail.read]
"""

PLAN_NEW = """\
version: 1
server: {name: P, base_url: "http://127.0.0.1:8000/"}
zone: {url: "http://127.0.0.1:9400", required_scopes: [mcp:tools]}
credentials: {client_id: id, client_secret: "${KEYCARD_CLIENT_SECRET}"}
tools:
  - function: examples.weather:forecast
    grants: [https://api.weather.example/, https://maps.example/]
  - function: examples.calendar:sync_calendar
    name: sync
    grants:
      - resource: https://mail.example/
        scopes: [mail.read, mail.send]
"""


def test_plan_prints_the_effective_table(tmp_path):
    result = runner.invoke(app, ["plan", str(write(tmp_path, PLAN_OLD))])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:] if line[:1] != " "}
    assert "mcp:tools" in rows["forecast"] and "https://api.weather.example/" in rows["forecast"]
    assert "calendar:write" in rows["sync"] and "https://mail.example/ (mail.read)" in rows["sync"]


def test_plan_against_an_older_config_shows_what_widens(tmp_path):
    old = write(tmp_path, PLAN_OLD, "old.yaml")
    new = write(tmp_path, PLAN_NEW, "new.yaml")
    result = runner.invoke(app, ["plan", str(new), "--against", str(old), "--json"])
    assert result.exit_code == 0, result.output
    changes = {(c["kind"], c["tool"], c["what"]) for c in json.loads(result.output)["changes"]}
    assert changes == {
        ("add", "forecast", "-> https://maps.example/"),
        ("widen", "sync", "no longer requires scope calendar:write"),
        ("widen", "sync", "https://mail.example/ scope +mail.send"),
    }
    gate = runner.invoke(app, ["plan", str(new), "--against", str(old), "--fail-on-widening"])
    assert gate.exit_code == 1
    assert "+ add    forecast: -> https://maps.example/" in gate.output
    back = runner.invoke(app, ["plan", str(old), "--against", str(new), "--fail-on-widening"])
    assert back.exit_code == 0
    assert "- remove forecast: -> https://maps.example/" in back.output


def test_plan_shows_and_diffs_the_scopes_a_hierarchy_lets_in(tmp_path):
    hierarchy = "scope_hierarchy: {mcp:all: [mcp:tools, cal:admin], cal:admin: [calendar:write]}"
    old = write(tmp_path, PLAN_OLD, "old.yaml")
    new = write(tmp_path, PLAN_OLD.replace("}\ncredentials", ", " + hierarchy + "}\ncredentials"))
    table = runner.invoke(app, ["plan", str(new)])
    assert table.exit_code == 0, table.output
    rows = {line.split()[0]: line.split()[1:] for line in table.output.splitlines()[1:]}
    assert rows["sync"][:2] == ["mcp:tools|mcp:all", "calendar:write|cal:admin|mcp:all"]
    result = runner.invoke(app, ["plan", str(new), "--against", str(old), "--json"])
    changes = {(c["kind"], c["tool"], c["what"]) for c in json.loads(result.output)["changes"]}
    assert changes == {
        ("widen", "forecast", "mcp:tools now also granted by mcp:all"),
        ("widen", "sync", "mcp:tools now also granted by mcp:all"),
        ("widen", "sync", "calendar:write now also granted by cal:admin mcp:all"),
    }


def test_token_for_a_real_zone_config_comes_from_the_dev_zone_dev_would_run():
    result = runner.invoke(app, ["token", "configs/adopt-app.yaml"])
    assert result.exit_code == 0, result.output
    assert "zone.id: not used in dev mode: a development zone replaces it" in result.output


def test_token_from_the_dev_zone_is_for_this_server():
    import jwt

    result = runner.invoke(app, ["token", "configs/quickstart.yaml", "--user", "bob"])
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), options={"verify_signature": False})
    assert (claims["sub"], claims["aud"]) == ("bob", "http://127.0.0.1:8000/mcp")
    assert claims["scope"] == "calendar:write"


COMMANDS = ["run", "dev", "validate", "plan", "schema", "token", "doctor"]


def test_version_and_help_with_examples():
    assert runner.invoke(app, ["--version"]).output.startswith("keycard-serve ")
    for command in COMMANDS:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.output, command


def _examples(command: str) -> list[str]:
    """The example lines of a command's docstring (the indented lines of its \\b blocks)."""
    (registered,) = [c for c in app.registered_commands if c.name == command]
    lines = registered.callback.__doc__.split("Example", 1)[1].splitlines()
    return [line.strip() for line in lines if line.startswith("      ") and line.strip()]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_can_be_copied_from_a_narrow_terminal(command):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "60"})
    assert result.exit_code == 0
    shown = [line.strip() for line in result.output.splitlines()]
    examples = _examples(command)
    assert examples, command
    for example in examples:  # each example stays one line, however long
        assert example in shown, f"{command}: {example!r} was re-wrapped:\n{result.output}"
    usage = result.output.splitlines()[0]
    assert usage.startswith(f"Usage: keycard-serve {command} [OPTIONS]")
    assert "{" not in usage
    for placeholder in ("<list[", "<path>", "<str>", "<int", "<float"):
        assert placeholder not in result.output, (command, placeholder, result.output)


def test_help_examples_that_were_split_stay_whole():
    schema = runner.invoke(app, ["schema", "--help"], env={"COLUMNS": "60"}).output
    assert "keycard-serve schema -o schemas/keycard-serve.schema.json --check   # in CI" in schema
    token = runner.invoke(app, ["token", "--help"], env={"COLUMNS": "60"}).output
    assert '"Authorization: Bearer $(keycard-serve token configs/quickstart.yaml)"' in token
    assert "Usage: keycard-serve token [OPTIONS] CONFIG\n" in token


def test_a_bad_choice_names_the_values_that_exist():
    result = runner.invoke(app, ["doctor", "http://127.0.0.1:1/mcp", "--client", "vscodee"])
    assert result.exit_code == 2
    assert "'vscodee' is not one of 'ts-sdk', 'inspector'" in result.output
    assert "Value error" not in result.output
    level = runner.invoke(app, ["run", "configs/quickstart.yaml", "--log-level", "loud"])
    assert "'loud' is not one of 'debug', 'info'" in level.output
    assert "Value error" not in level.output


def test_validate_without_a_file_says_one_is_missing():
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument 'CONFIG...'" in result.output


def test_a_bare_config_argument_means_run(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("sys.argv", ["keycard-serve", str(write(tmp_path, BROKEN))])
    with pytest.raises(SystemExit) as raised:
        main()
    calls.append(raised.value.code)
    assert calls == [1]  # it tried to run the (broken) config, rather than a usage error


def test_a_tool_module_that_exits_on_import_is_a_config_error(tmp_path):
    (tmp_path / "exits_on_import.py").write_text("raise SystemExit(3)\n")
    config = (
        BROKEN.replace("  requird_scopes: [x]\n", "")
        .replace("examples.weather:forecast", "exits_on_import:tool")
        .replace("https://api.example.com/#frag", "https://api.example.com/")
    )
    good = CONFIGS[0]
    result = runner.invoke(app, ["validate", str(write(tmp_path, config)), str(good)])
    assert result.exit_code == 1
    assert "exits_on_import" in result.output and "SystemExit" in result.output
    assert f"{good}: valid" in result.output  # the next file is still checked


@pytest.mark.parametrize("args", [["--port", "99999"], ["--port", "0"], ["--log-level", "bogus"]])
def test_bad_run_options_are_usage_errors(args):
    result = runner.invoke(app, ["run", "configs/quickstart.yaml", *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_a_taken_port_is_a_message_and_exit_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["run", "configs/quickstart.yaml", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "MCP endpoint" not in result.output  # no banner for a server that never started


def test_schema_output_to_a_directory_is_a_message(tmp_path):
    result = runner.invoke(app, ["schema", "--output", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot write" in result.output


def test_the_dev_zone_refuses_to_listen_beyond_loopback():
    result = runner.invoke(app, ["dev", "configs/quickstart.yaml", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "loopback only" in result.output


@pytest.mark.parametrize(
    "secret",
    ["opaque_SECRET_4f2a9c", "header_SECRET.payload_SECRET", "a_SECRET.b.c.d.e_SECRET"],
    ids=["opaque", "two-part", "jwe-like"],
)
def test_validate_token_never_echoes_a_value_it_cannot_use(secret):
    result = runner.invoke(app, ["validate", "--token", secret, str(CONFIGS[0])])
    assert result.exit_code == 2
    assert "not a readable file and not a JWT" in result.output
    assert "SECRET" not in result.output
