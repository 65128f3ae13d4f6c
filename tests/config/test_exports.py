"""The package's public names: what the CLI and the server assembly build on."""

from __future__ import annotations

import keycard_serve.config as config


def test_all_is_sorted_and_importable() -> None:
    assert config.__all__ == sorted(config.__all__)
    for name in config.__all__:
        assert getattr(config, name) is not None


def test_promised_api_is_exported() -> None:
    promised = {
        "load_config",
        "import_tools",
        "ConfigError",
        "Finding",
        "ServeConfig",
        "json_schema",
    }
    assert promised <= set(config.__all__)
