"""``--reload``: follow the config, its secret files and the tools' modules; reload on change.

What is followed is each file's content as seen through the path it was named by, however
the file gets replaced. Supported, each any number of times in a row:

- in-place writes (truncate and write; a half-written file fails to load and keeps the last
  good config until the rest arrives);
- atomic renames (write a temporary file, rename it over the file);
- editors' saves: backup-and-rename (vim renames the original to ``file~`` and writes a new
  file), or write a swap/temporary file and rename it over;
- symbolic link swaps: a link retargeted atomically, and Kubernetes ConfigMap and Secret
  volumes (the kubelet writes a new timestamped directory, renames a ``..data_tmp`` link
  over ``..data``, then removes the old directory; ``config.yaml -> ..data/config.yaml``),
  for the config and for the ``*_file`` secrets of ``credentials`` in any directory;
- the watched directory itself replaced: deleted and recreated, or renamed away with a new
  one put in its place;
- a file deleted, then created again (the last good config keeps serving meanwhile).

How: the directories watched are those whose entries decide what each path points to (the
home of every symbolic link met while resolving it, its target's directory, and each one's
parent, which sees the directory itself replaced); links are resolved again after every
event, and the watch moves when they point elsewhere. Any event only prompts a look: a reload
happens when the SHA-256 of the config or of a secret file differs from the last look, and a
tool module is re-imported when its own content differs, so a spurious event (a ``touch``, a
rewrite with the same bytes, a ConfigMap update of another key) changes nothing. An event
naming a watched directory itself restarts the watches (a recreated directory may get the
old inode number back). A secret file starts being followed once a config naming it loads.

Not seen: a directory replaced two or more levels above the file (``/srv/app`` swapped under
``/srv/app/etc/conf/keycard-serve.yaml``); point a symbolic link at each release instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

from ..config import LoadedConfig
from ._watched import Layout, WatchedFiles, module_files
from .reload import Reloader

__all__ = ["module_files", "tool_directories", "watch"]

logger = logging.getLogger("keycard_serve.reload")

_DEBOUNCE = 300  # milliseconds of quiet that end a burst of events
_STEP = 50  # milliseconds between checks of the stop event


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


async def watch(reloader: Reloader, roots: list[Path], stop: asyncio.Event) -> None:
    """Reload whenever the config, one of its secret files or a tool module under ``roots``
    changes content, until ``stop`` is set. A reload that raises is logged; watching goes on.
    """
    # watchfiles logs "N changes detected" at INFO for every batch, including a log file being
    # written next to the config; our own lines say what a change did, so only its warnings pass.
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    files = WatchedFiles(reloader.path, roots, config_sha256=reloader.status.sha256)
    stirred = _Stirred()
    watching: Layout | None = None
    woken = False
    async with contextlib.AsyncExitStack() as stack:
        while not stop.is_set():
            layout = files.layout()
            if layout != watching:
                await stack.aclose()
                await stack.enter_async_context(_watching(layout, stirred))
                _log_layout(layout, first=watching is None)
                watching = layout
            changes = files.changes()
            if changes:
                try:
                    await reloader.reload(reimport=changes.reimport)
                except Exception:  # never let one bad reload end the watching
                    logger.exception("reload raised; still watching")
                woken = False
                continue  # look again: the files may have moved on meanwhile
            if woken:
                logger.debug("a watched directory stirred; no followed file changed")
            await _first(stirred.arrived, stop)
            if stirred.take() & layout.directories:
                # A watched directory was itself deleted, created or renamed: its watch may be
                # dead even when a new directory got the old inode number back.
                watching = None
            woken = True


class _Stirred:
    """Paths the watches reported since the last ``take``; ``arrived`` is set when any did."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self._paths: set[Path] = set()

    def add(self, changes: set[tuple[Change, str]]) -> None:
        self._paths.update(Path(path) for _, path in changes)
        self.arrived.set()

    def take(self) -> set[Path]:
        self.arrived.clear()
        paths, self._paths = self._paths, set()
        return paths


@contextlib.asynccontextmanager
async def _watching(layout: Layout, stirred: _Stirred) -> AsyncIterator[None]:
    """Report every event in ``layout`` to ``stirred`` while inside; the watches are in place
    on entry, so a file read after entering cannot change unseen."""
    halt = asyncio.Event()
    pumps = [
        asyncio.create_task(_pump(paths, recursive=recursive, stirred=stirred, halt=halt))
        for paths, recursive in (
            (sorted(directory.path for directory in layout.flat), False),
            (sorted(directory.path for directory in layout.deep), True),
        )
        if paths
    ]
    await asyncio.sleep(0)  # each pump runs to its first await: its watches are registered
    try:
        yield
    finally:
        halt.set()
        await asyncio.gather(*pumps, return_exceptions=True)


async def _pump(
    paths: list[Path], *, recursive: bool, stirred: _Stirred, halt: asyncio.Event
) -> None:
    # Direct entries of a directory all matter (a link named ..data, a backup file~ renamed);
    # recursively watched module trees skip caches and editors' temporaries.
    watch_filter = DefaultFilter() if recursive else None
    try:
        async for changes in awatch(
            *paths,
            watch_filter=watch_filter,
            recursive=recursive,
            debounce=_DEBOUNCE,
            step=_STEP,
            stop_event=halt,
            ignore_permission_denied=True,
        ):
            stirred.add(changes)
    except OSError as exc:  # vanished before it could be watched, or out of inotify watches
        logger.warning("cannot watch %s: %s", ", ".join(map(str, paths)), exc)
        stirred.add(set())  # look again: a vanished directory makes a new layout


async def _first(*events: asyncio.Event) -> None:
    """Return as soon as one of ``events`` is set."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _log_layout(layout: Layout, *, first: bool) -> None:
    directories = sorted(layout.directories)
    logger.log(
        logging.INFO if first else logging.DEBUG,
        "watching %s for changes",
        ", ".join(map(str, directories)),
    )
