"""``load_config``: one YAML file in, a validated config out; no user code runs.

The stages run in order, and each one's problems are collected before the next is skipped:
read (size cap) and parse (no aliases, no implicit types), then schema validation with
``${VAR}`` expansion, then the rules across sections. Whatever fails, the caller gets one
``ConfigError`` listing every problem with file, line and field. Importing the tools is a
separate step (``import_tools``), for the commands that run them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ._dev import dev_document, dev_warnings
from ._locate import Locator, format_path, validation_findings
from ._rules import check_rules
from ._tools import ToolSpec, tool_specs
from ._types import LoadContext
from ._yaml import YamlError, parse_yaml, read_file
from .findings import ConfigError, Finding
from .models import ServeConfig

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["LoadedConfig", "load_config"]


@dataclass(frozen=True)
class LoadedConfig:
    """A config that passed every check of its stage.

    ``path`` is absolute; ``sha256`` is the hex digest of the bytes that were parsed, so a
    reloader can skip an unchanged file; ``warnings`` are findings that did not stop the load.
    ``tools`` are named from the file until ``import_tools`` fills in their functions (and
    ``app`` in ``app:`` mode). ``locator`` places later findings (imports, online checks) on
    the file's lines.
    """

    path: Path
    config: ServeConfig
    sha256: str
    tools: tuple[ToolSpec, ...]
    warnings: tuple[Finding, ...]
    locator: Locator = field(repr=False, compare=False)
    app: FastMCP | None = None


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None, dev: bool = False
) -> LoadedConfig:
    """Read and validate the config at ``path``; nothing is imported, ``sys.path`` is untouched.

    ``environ`` supplies ``${VAR}`` values (default ``os.environ``). ``dev`` reads the file as
    ``keycard-serve dev`` serves it: the zone is a development zone and the zone's url or id and
    the credentials are not read (a warning names each). Relative file paths in
    the config are relative to its directory; the secret files they name are read. Raises
    ``ConfigError`` listing every problem found, each with file (``path`` as given), line,
    column and field.
    """
    file = os.fspath(path)
    config_path = Path(file).absolute()
    try:
        data = read_file(config_path)
        document = parse_yaml(data)
    except YamlError as exc:
        # A problem of the whole file (empty, unreadable, too large) is placed at 1:1.
        line, column = exc.line or 1, exc.column or 1
        raise ConfigError([Finding(file, line, column, "", exc.message)]) from None
    where = Locator(document, file)
    findings = [
        Finding(file, line, column, format_path(key), message)
        for key, message, (line, column) in document.problems
    ]
    parsed = document.data
    if dev:
        findings += dev_warnings(parsed, where)
        parsed = dev_document(parsed)
    context = LoadContext(
        environ=os.environ if environ is None else environ, base_dir=config_path.parent
    )
    try:
        config = ServeConfig.model_validate(parsed, context=context)
    except ValidationError as exc:
        # A value dropped by the parser (say, a refused tag) is not also "missing".
        reported = {finding.field for finding in findings}
        found = validation_findings(exc, where)
        raise ConfigError(findings + [f for f in found if f.field not in reported]) from None
    findings += check_rules(config, where)
    tools, name_findings = tool_specs(config, where)
    findings += name_findings
    if any(finding.severity == "error" for finding in findings):
        raise ConfigError(findings)
    return LoadedConfig(
        path=config_path,
        config=config,
        sha256=hashlib.sha256(data).hexdigest(),
        tools=tools,
        warnings=tuple(findings),
        locator=where,
    )
