"""``--reload``: watch the config file and the tools' own modules, reload on change.

The config's directory is watched rather than the file, because editors and Kubernetes
ConfigMaps replace files atomically: the save arrives as "added", and the old inode is gone.
Only the config file itself and the Python files of loaded tool modules count; editor
temporaries and everything else are ignored.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterable
from pathlib import Path

from watchfiles import Change, awatch

from ..config import LoadedConfig
from .reload import Reloader

__all__ = ["module_files", "tool_directories", "watch"]

logger = logging.getLogger("keycard_serve.reload")


def tool_directories(loaded: LoadedConfig) -> list[Path]:
    """Directories holding the modules of the config's tools (and of its app)."""
    names = [tool.function.__module__ for tool in loaded.tools if tool.function is not None]
    if loaded.config.app is not None:
        # The app object's own __module__ is fastmcp's; the user's module is in the reference.
        names.append(loaded.config.app.split(":", 1)[0])
    directories = set()
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and "site-packages" not in Path(file).parts:
            directories.add(Path(file).resolve().parent)
    return sorted(directories)


def module_files(roots: Iterable[Path]) -> dict[Path, str]:
    """Source files of imported modules that live under ``roots``: the user's own code."""
    roots = [root.resolve() for root in roots]
    found: dict[Path, str] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            continue
        path = Path(file).resolve()
        if any(path.is_relative_to(root) for root in roots) and "site-packages" not in path.parts:
            found[path] = name
    return found


async def watch(reloader: Reloader, roots: list[Path], stop: asyncio.Event) -> None:
    """Reload whenever the config or a tool module under ``roots`` changes, until ``stop``."""
    config = reloader.path.resolve()
    directories = sorted({config.parent, *(root.resolve() for root in roots)})

    modules = module_files(directories)

    def relevant(change: Change, path: str) -> bool:
        resolved = Path(path).resolve()
        return resolved == config or (change != Change.deleted and resolved in modules)

    logger.info("watching %s for changes", ", ".join(map(str, directories)))
    async for changes in awatch(
        *directories, watch_filter=relevant, debounce=300, step=50, stop_event=stop
    ):
        changed = {Path(path).resolve() for _, path in changes}
        reimport = sorted({modules[path] for path in changed if path in modules})
        try:
            await reloader.reload(reimport=reimport)
        except Exception:  # never let one bad reload end the watching
            logger.exception("reload raised; still watching")
        modules = module_files(directories)  # a reload may have imported new modules
