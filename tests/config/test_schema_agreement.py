"""The published JSON Schema and the loader agree on every config file the tests use.

An editor checks a config against ``schemas/keycard-serve.schema.json`` after reading it as
YAML 1.2 (where ``8000`` is a number and ``"8000"`` a string); the loader checks it with its
own strict reader. A file the loader accepts must pass the schema, and a file the schema
refuses must be refused by the loader, so the editor never shows red on a config that runs,
nor green on one whose types the loader would refuse. The corpus is every config the tests
use: ``configs/*.yaml``, ``tests/config/broken/*.yaml``, the deployment configs, and every
YAML text written in a test module, plus the cases below, which disagreed once.
"""

from __future__ import annotations

import ast
import io
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from keycard_serve.config import ConfigError, load_config

from .conftest import ENV, REPO

SCHEMA = jsonschema.Draft202012Validator(
    json.loads((REPO / "schemas" / "keycard-serve.schema.json").read_text())
)
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")

HEADER = 'version: 1\nserver: {name: T, base_url: "http://127.0.0.1:8000/"}\n'
TOOLS = 'tools: [{function: "examples.weather:forecast"}]\n'
# Types both must refuse: quoted numbers and booleans, numbers where text goes.
BOTH_REFUSE = {
    "quoted port": HEADER.replace("}", ', port: "8000"}') + "zone: {dev: true}\n" + TOOLS,
    "quoted stateless": HEADER.replace("}", ', stateless: "true"}') + "zone: {dev: true}\n" + TOOLS,
    "quoted version": HEADER.replace("version: 1", 'version: "1"') + "zone: {dev: true}\n" + TOOLS,
    "quoted dev": HEADER + 'zone: {dev: "true"}\n' + TOOLS,
    "quoted dev port": HEADER + 'zone: {dev: {port: "9000"}}\n' + TOOLS,
    "quoted untyped": HEADER + 'zone: {dev: true, allow_untyped_tokens: "false"}\n' + TOOLS,
    "number as name": 'version: 1\nserver: {name: 42, base_url: "http://127.0.0.1:8000/"}\n'
    "zone: {dev: true}\n" + TOOLS,
    "boolean as user": HEADER + "zone: {dev: {user: true}}\n" + TOOLS,
    "number as scope": HEADER + "zone: {dev: true, required_scopes: [1]}\n" + TOOLS,
    "float as client id": HEADER + "zone: {dev: true}\ncredentials: {client_id: 1.5, "
    'client_secret: "${SECRET}"}\n' + TOOLS,
}
# Types both accept: plain numbers and booleans, quoted text that looks like a number.
BOTH_ACCEPT = {
    "plain port": HEADER.replace("}", ", port: 8000, stateless: true}")
    + "zone: {dev: true}\n"
    + TOOLS,
    "port reference": HEADER.replace("}", ', port: "${PORT}"}') + "zone: {dev: true}\n" + TOOLS,
    "quoted numeric name": HEADER.replace("name: T", 'name: "42"') + "zone: {dev: true}\n" + TOOLS,
    "quoted boolean user": HEADER + "zone: {dev: {user: 'true', port: 9000}}\n" + TOOLS,
}


class _Environment(dict[str, str]):
    """Values for whatever ``${NAME}`` a text uses, shaped after the name."""

    def __missing__(self, name: str) -> str:
        if "URL" in name or "ISSUER" in name:
            return "http://127.0.0.1:8000/"
        if "PORT" in name:
            return "8000"
        if name == "KEYCARD_ZONE_ID" or name.endswith("ZONE"):
            return "my-zone"
        return f"value-of-{name.lower().replace('_', '-')}"

    def get(self, name: str, default: Any = None) -> Any:  # interpolation may use get()
        return self[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)


def _test_texts() -> Iterator[tuple[str, str]]:
    """Every YAML config text written in a test module, with format templates filled in."""
    for module in sorted((REPO / "tests").rglob("*.py")):
        tree = ast.parse(module.read_text())
        templates = {
            node.func.value.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Name)
        }
        names = {
            id(node.value): node.targets[0].id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value
            if not re.match(r"(#.*\n)*version:", text):
                continue
            if names.get(id(node)) in templates:
                fields = {field for _, field, _, _ in string.Formatter().parse(text) if field}
                text = text.format(**{field: _filler(field) for field in fields})
            yield f"{module.relative_to(REPO)}:{node.lineno}", text


def _filler(field: str) -> str:
    return "http://127.0.0.1:8000/" if "url" in field or "issuer" in field else "8000"


def _corpus() -> Iterator[Any]:
    for path in sorted((REPO / "configs").glob("*.yaml")):
        yield pytest.param(path.read_bytes(), id=str(path.relative_to(REPO)))
    for path in sorted((REPO / "tests" / "config" / "broken").glob("*.yaml")):
        yield pytest.param(path.read_bytes(), id=str(path.relative_to(REPO)))
    deploy = REPO / "deploy"
    yield pytest.param((deploy / "config.yaml").read_bytes(), id="deploy/config.yaml")
    configmap = yaml.safe_load((deploy / "k8s" / "configmap.yaml").read_text())
    yield pytest.param(configmap["data"]["config.yaml"].encode(), id="deploy/k8s/configmap.yaml")
    for where, text in _test_texts():
        yield pytest.param(text.encode(), id=where)


def _editor_view(data: bytes) -> tuple[bool, str]:
    """Whether the schema accepts ``data`` read as YAML 1.2, as an editor reads it."""
    try:
        instance = YAML(typ="safe", pure=True).load(io.BytesIO(data))
    except (YAMLError, UnicodeDecodeError, ValueError) as exc:
        return False, f"not YAML 1.2: {exc}"
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in SCHEMA.iter_errors(instance)]
    return not errors, "; ".join(errors)


def _loader_view(data: bytes, tmp_path: Path) -> tuple[bool, str]:
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    try:
        load_config(path, environ=_Environment(ENV))
    except ConfigError as exc:
        return False, str(exc)
    return True, ""


def _expanded(data: bytes) -> bytes:
    """``data`` with each ``${NAME}`` replaced by its value, as the loader expands them."""
    environment = _Environment(ENV)
    return _REFERENCE.sub(lambda match: environment[match[1]], data.decode()).encode()


def test_the_corpus_is_large() -> None:
    """The harvest finds the texts: a change in how tests write configs must not empty it."""
    assert len(list(_test_texts())) >= 20
    assert len(list(_corpus())) >= 60


@pytest.mark.parametrize("data", list(_corpus()))
def test_what_the_loader_accepts_the_schema_accepts(data: bytes, tmp_path: Path) -> None:
    loaded, _loader_says = _loader_view(data, tmp_path)
    schema_ok, schema_says = _editor_view(data)
    if loaded:
        assert schema_ok, f"the loader accepts it, the schema does not: {schema_says}"
        expanded_ok, expanded_says = _editor_view(_expanded(data))
        assert expanded_ok, f"after ${{VAR}} expansion the schema refuses: {expanded_says}"
    if not schema_ok:
        assert not loaded


@pytest.mark.parametrize("text", BOTH_REFUSE.values(), ids=BOTH_REFUSE.keys())
def test_wrong_types_are_refused_by_both(text: str, tmp_path: Path) -> None:
    schema_ok, _ = _editor_view(text.encode())
    loaded, loader_says = _loader_view(text.encode(), tmp_path)
    assert not schema_ok
    assert not loaded
    assert "quote" in loader_says or "without quotes" in loader_says, loader_says


@pytest.mark.parametrize("text", BOTH_ACCEPT.values(), ids=BOTH_ACCEPT.keys())
def test_right_types_are_accepted_by_both(text: str, tmp_path: Path) -> None:
    schema_ok, schema_says = _editor_view(text.encode())
    loaded, loader_says = _loader_view(text.encode(), tmp_path)
    assert schema_ok, schema_says
    assert loaded, loader_says
