"""Resolving tool functions and adopted apps, and the checks that need the imported code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from fastmcp import FastMCP

from .conftest import VALID, error_text, load

APP = """\
version: 1
app: {reference}
server: {{name: Docs, base_url: "http://127.0.0.1:8000/"}}
zone: {{dev: true}}
tools:
  - name: search
    scopes: [docs:read]
    grants: [https://docs.example/]
"""

SERVER_MODULE = """\
from fastmcp import Context, FastMCP
from fastmcp.server.auth import require_scopes

def make():
    mcp = FastMCP("made")

    @mcp.tool(auth=require_scopes("admin"))
    def search(ctx: Context, query: str) -> str:
        return query

    return mcp
"""


def _with_function(reference: str, extra: str = "") -> str:
    return VALID.replace("examples.weather:forecast", reference) + extra


def test_tool_modules_next_to_the_config_come_first(
    write: Callable[..., Path], module: Callable[[str, str], str], tmp_path: Path
) -> None:
    name = module(
        "cfg_tools",
        "from fastmcp import Context\ndef hello(ctx: Context) -> str:\n    return 'hi'\n",
    )
    (tool,) = load(write(_with_function(f"{name}:hello"))).tools
    assert tool.name == "hello" and tool.function(ctx=None) == "hi"  # type: ignore[misc]
    assert sys.path[0] == str(tmp_path)


def test_failing_import_is_reported_with_its_exception(
    write: Callable[..., Path], module: Callable[[str, str], str]
) -> None:
    name = module("cfg_broken", "import not_installed_anywhere\n")
    path = write(_with_function(f"{name}:tool"))
    assert (
        f"{path}:11:15: error: tools[0].function: importing cfg_broken failed: "
        "ModuleNotFoundError: No module named 'not_installed_anywhere'"
    ) in error_text(path)


def test_lambda_needs_an_explicit_name(
    write: Callable[..., Path], module: Callable[[str, str], str], in_repo: Path
) -> None:
    name = module("cfg_lambda", "tool = lambda: 'x'\n")
    path = write(
        _with_function(f"{name}:tool").replace("    grants: [https://api.weather.example/]\n", "")
    )
    assert (
        f"{path}:11:15: error: tools[0].function: '<lambda>' cannot be a tool name "
        "(a tool name is 1-128 letters, digits, '_', '-' or '.'); set name:"
    ) in error_text(path)
    assert (
        load(
            write(
                _with_function(f"{name}:tool", "    name: shout\n").replace(
                    "    grants: [https://api.weather.example/]\n", ""
                )
            )
        )
        .tools[0]
        .name
        == "shout"
    )


def test_without_imports_names_come_from_the_reference(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    path = write(_with_function("not_a_module.sub:handlers.forecast"))
    (tool,) = load(path, imports=False).tools
    assert (tool.name, tool.function) == ("forecast", None)
    assert str(tmp_path) not in sys.path


def test_app_factory_and_auth_hidden_tools(
    write: Callable[..., Path], module: Callable[[str, str], str]
) -> None:
    name = module("cfg_server", SERVER_MODULE)
    loaded = load(write(APP.format(reference=f"{name}:make")))
    assert isinstance(loaded.app, FastMCP) and loaded.app.name == "made"
    (tool,) = loaded.tools
    assert (tool.name, tool.function, tool.scopes) == ("search", None, ("docs:read",))


async def test_app_loads_inside_a_running_event_loop(
    write: Callable[..., Path], module: Callable[[str, str], str]
) -> None:
    # A reload runs in the server's loop; listing the app's tools must not need a new one.
    name = module("cfg_server_async", SERVER_MODULE)
    assert load(write(APP.format(reference=f"{name}:make"))).app is not None


def test_app_factory_that_fails(
    write: Callable[..., Path], module: Callable[[str, str], str]
) -> None:
    name = module("cfg_bad_factory", "def make():\n    raise RuntimeError('no database')\n")
    path = write(APP.format(reference=f"{name}:make"))
    assert (
        f"{path}:2:6: error: app: calling cfg_bad_factory:make failed: RuntimeError: no database"
    ) in error_text(path)


def test_all_tool_problems_are_reported_together(write: Callable[..., Path], in_repo: Path) -> None:
    path = write(
        _with_function("examples.weather:nope", "  - function: examples.calendar:absent\n").replace(
            "id: my-zone", "dev: true"
        )
    )
    text = error_text(path)
    assert text.startswith(f"invalid configuration {path} (2 errors):")
    assert "tools[0].function: examples.weather has no attribute 'nope'" in text
    assert "tools[1].function: examples.calendar has no attribute 'absent'" in text


def test_module_getattr_failure_is_reported(
    write: Callable[..., Path], module: Callable[[str, str], str]
) -> None:
    name = module(
        "cfg_lazy", "def __getattr__(name):\n    raise ImportError('lazy import failed')\n"
    )
    path = write(_with_function(f"{name}:tool"))
    assert (
        f"{path}:11:15: error: tools[0].function: reading cfg_lazy.tool failed: "
        "ImportError: lazy import failed"
    ) in error_text(path)


def test_loading_runs_no_user_code(
    write: Callable[..., Path], module: Callable[[str, str], str], tmp_path: Path
) -> None:
    # plan, token and doctor only load: a module with side effects is not imported, and
    # sys.path is left alone; import_tools is the step that runs it.
    name = module("cfg_side_effect", "raise SystemExit('imported!')\ndef tool(): ...\n")
    loaded = load(write(_with_function(f"{name}:tool")), imports=False)
    assert name not in sys.modules and str(tmp_path) not in sys.path
    assert [tool.name for tool in loaded.tools] == ["tool"]
    assert "importing cfg_side_effect failed: SystemExit: imported!" in error_text(loaded.path)
