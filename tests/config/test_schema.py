"""The committed JSON Schema matches the models and accepts the example configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from keycard_serve.config import json_schema
from keycard_serve.config.schema import render

from .conftest import REPO

SCHEMA_FILE = REPO / "schemas" / "keycard-serve.schema.json"


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(), (
        "schemas/keycard-serve.schema.json is stale; regenerate it as schema.py describes"
    )


def test_schema_identity_and_help() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] == "keycard-serve configuration"
    assert schema["additionalProperties"] is False
    server = schema["$defs"]["ServerConfig"]["properties"]
    assert "defaults to the host of base_url" in server["host"]["description"]


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_schema_accepts_the_example_configs(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    # Editors read YAML with their own (1.2) loader, so do the same here.
    validator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert path.read_text().startswith(
        "# yaml-language-server: $schema=../schemas/keycard-serve.schema.json"
    )
