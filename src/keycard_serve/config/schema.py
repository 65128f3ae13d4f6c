"""The JSON Schema of the config file, generated from the models.

``schemas/keycard-serve.schema.json`` is this output, committed so editors can offer
completion and help through the ``# yaml-language-server: $schema=...`` line; a test fails
when the two drift. Regenerate it with::

    python -c "from keycard_serve.config.schema import render; print(render(), end='')" \
        > schemas/keycard-serve.schema.json
"""

from __future__ import annotations

import json
from typing import Any

from .models import ServeConfig

__all__ = ["SCHEMA_ID", "json_schema", "render"]

SCHEMA_ID = "urn:keycard-serve:config:v1"


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a keycard-serve config file."""
    schema = ServeConfig.model_json_schema(mode="validation")
    schema.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "keycard-serve configuration",
        **schema,
    }


def render() -> str:
    """The schema file's exact text."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
