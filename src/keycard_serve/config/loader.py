"""``load_config``: one YAML file in, a validated config and its resolved tools out.

The stages run in order and each one's problems are collected before the next is skipped:
read (size cap) and parse (no aliases, no implicit types), then schema validation with
``${VAR}`` expansion, then cross-section rules and the imports of tool functions. Whatever
fails, the caller gets one ``ConfigError`` listing every problem with file, line and field.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastmcp import FastMCP
from pydantic import ValidationError

from ._locate import format_path, locate_all, validation_issues
from ._rules import check_rules
from ._types import LoadContext
from ._yaml import YamlError, parse_yaml, read_file
from .imports import ToolSpec, resolve_tools
from .issues import ConfigError, ConfigIssue
from .models import ServeConfig

__all__ = ["LoadedConfig", "load_config"]


@dataclass(frozen=True)
class LoadedConfig:
    """A config that passed every check.

    ``path`` is absolute; ``sha256`` is the hex digest of the bytes that were parsed, so a
    reloader can skip an unchanged file; ``warnings`` are issues that did not stop the load.
    """

    path: Path
    config: ServeConfig
    sha256: str
    tools: tuple[ToolSpec, ...]
    app: FastMCP | None
    warnings: tuple[ConfigIssue, ...]


def load_config(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    check_imports: bool = True,
) -> LoadedConfig:
    """Read, validate and resolve the config at ``path``.

    ``environ`` supplies ``${VAR}`` values (default ``os.environ``). Relative file paths in
    the config are relative to its directory. Tool modules and the app are imported from the
    config file's directory first, then the current directory (both are put on ``sys.path``),
    then the installed packages. With ``check_imports=False`` no user code is imported: tool
    names come from ``name`` or the function reference, ``function`` and ``app`` stay None.
    Raises ``ConfigError`` listing every problem found.
    """
    file = os.fspath(path)
    config_path = Path(file).absolute()
    try:
        data = read_file(config_path)
        document = parse_yaml(data)
    except YamlError as exc:
        raise ConfigError([ConfigIssue(file, exc.line, exc.column, "", exc.message)]) from None
    issues = [
        ConfigIssue(file, line, column, format_path(key), message)
        for key, message, (line, column) in document.problems
    ]
    context = LoadContext(
        environ=os.environ if environ is None else environ, base_dir=config_path.parent
    )
    try:
        config = ServeConfig.model_validate(document.data, context=context)
    except ValidationError as exc:
        # A value dropped by the parser (say, a refused tag) is not also "missing".
        reported = {issue.path for issue in issues}
        found = validation_issues(exc, document, file)
        raise ConfigError(issues + [i for i in found if i.path not in reported]) from None
    findings = check_rules(config)
    tools, app, import_findings = resolve_tools(
        config, config_path.parent, check_imports=check_imports
    )
    issues += locate_all(findings + import_findings, document, file)
    if any(issue.severity == "error" for issue in issues):
        raise ConfigError(issues)
    return LoadedConfig(
        path=config_path,
        config=config,
        sha256=hashlib.sha256(data).hexdigest(),
        tools=tools,
        app=app,
        warnings=tuple(issues),
    )
