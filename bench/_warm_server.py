"""One server process of the warm-path benchmark: the same tools, with or without auth.

    python bench/_warm_server.py '{"kind": "plain", "port": 8000, ...}'

``kind``: ``plain`` (FastMCP, no auth), ``jwt`` (FastMCP's own ``JWTVerifier`` behind its
``RemoteAuthProvider``), ``library`` (keycard-serve's ``AuthProvider`` and ``@grant``) or
``original`` (keycardai-mcp-fastmcp 0.9.0 on fastmcp 2.12, in its own venv; its
``get_state`` is synchronous). Each tool ``name`` in ``tools`` (a name -> resources map) answers
``"<status> <resource> ..."``; the ungranted servers answer what a granted call that succeeded
answers. The launcher (``keycard-serve run``) gets the same body from ``tool_module`` below.
``gc_freeze``: freeze the objects start-up made before serving, as the launcher does.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["tool_module"]

_GRANTED = """\
async def {name}(ctx: Context) -> str:
    access = {await_}ctx.get_state("keycardai")
    return " ".join([access.get_status(), *sorted(access.get_successful_resources())])
"""
_PLAIN = """\
async def {name}(ctx: Context) -> str:
    return {answer!r}
"""


def tool_module(tools: dict[str, list[str]], *, granted: bool, sync_state: bool = False) -> str:
    """Python source of one tool per name (``from fastmcp import Context``).

    A granted tool reads its access context; a plain one returns what the granted one answers
    when every exchange succeeded: ``"success <resource> ..."``.
    """
    bodies = [
        _GRANTED.format(name=name, await_="" if sync_state else "await ")
        if granted
        else _PLAIN.format(name=name, answer=" ".join(["success", *sorted(resources)]))
        for name, resources in tools.items()
    ]
    return "from fastmcp import Context\n\n\n" + "\n\n".join(bodies)


def _tools(
    tools: dict[str, list[str]], *, granted: bool, sync_state: bool = False
) -> dict[str, Callable[..., Any]]:
    """The functions of ``tool_module``, compiled without this file's future import."""
    source = tool_module(tools, granted=granted, sync_state=sync_state)
    namespace: dict[str, Any] = {}
    exec(compile(source, "<bench tools>", "exec", dont_inherit=True), namespace)
    return {name: namespace[name] for name in tools}


def main() -> None:
    cfg = json.loads(sys.argv[1])
    from fastmcp import FastMCP

    kind, tools = cfg["kind"], cfg["tools"]
    if kind == "plain":
        mcp = FastMCP("bench")
    elif kind == "jwt":
        from fastmcp.server.auth import RemoteAuthProvider
        from fastmcp.server.auth.providers.jwt import JWTVerifier

        verifier = JWTVerifier(
            jwks_uri=f"{cfg['issuer']}/jwks", issuer=cfg["issuer"], audience=cfg["base_url"]
        )
        auth = RemoteAuthProvider(
            token_verifier=verifier, authorization_servers=[cfg["issuer"]], base_url=cfg["base_url"]
        )
        mcp = FastMCP("bench", auth=auth)
    else:
        if kind == "library":
            from keycard_serve import AuthProvider, ClientSecret
        else:
            from keycardai.mcp.integrations.fastmcp import AuthProvider, ClientSecret
        provider = AuthProvider(
            zone_url=cfg["issuer"],
            mcp_server_name="bench",
            mcp_base_url=cfg["base_url"],
            application_credential=ClientSecret((cfg["client_id"], cfg["client_secret"])),
        )
        mcp = FastMCP("bench", auth=provider.get_remote_auth_provider())
        bodies = _tools(tools, granted=True, sync_state=kind == "original")
        for name, resources in tools.items():
            mcp.tool(name=name)(provider.grant(resources)(bodies[name]))
    if kind in ("plain", "jwt"):
        for name, function in _tools(tools, granted=False).items():
            mcp.tool(name=name)(function)
    if cfg["gc_freeze"]:  # what `keycard-serve run` does before it serves (launcher/_heap.py)
        gc.collect()
        gc.freeze()
    mcp.run(
        transport="http",
        host="127.0.0.1",
        port=cfg["port"],
        show_banner=False,
        log_level=cfg["log_level"],
        stateless_http=cfg["stateless"],
    )


if __name__ == "__main__":
    main()
