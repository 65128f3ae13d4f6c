"""``keycard-serve doctor``: replay real MCP clients' OAuth discovery against a running server.

Each client (the MCP TypeScript SDK as in Claude Code, the MCP Inspector, mcp-remote, VS Code,
claude.ai, Cursor, the MCP Python SDK) is described as data in ``clients.py``; ``diagnose``
replays every selected one without credentials and returns their requests and checks.
"""

from __future__ import annotations

from .clients import CLIENTS, ClientProfile
from .replay import diagnose
from .report import render_json, render_text, to_dict
from .results import Check, ClientReport, Diagnosis

__all__ = [
    "CLIENTS",
    "Check",
    "ClientProfile",
    "ClientReport",
    "Diagnosis",
    "diagnose",
    "render_json",
    "render_text",
    "to_dict",
]
