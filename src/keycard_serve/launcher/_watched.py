"""What ``--reload`` follows, and how it tells a real change from a spurious event.

Three kinds of file count: the config (by the path it was given, links kept), the secret files
its credentials name (``*_file``), and the source of the tools' modules. Each is compared by
content (SHA-256) every time something stirs in a watched directory, so an event that changed
nothing (a ``touch``, a rewrite with the same bytes, a ConfigMap sync of an untouched key)
reloads nothing, and a change is seen however the file was replaced.
"""

from __future__ import annotations

import hashlib
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..config import ConfigError, load_config
from ._links import follow

__all__ = ["Changes", "Directory", "Layout", "WatchedFiles", "module_files"]


class Directory(NamedTuple):
    """A directory to watch and the identity (device, inode) it had when looked at."""

    path: Path
    device: int
    inode: int


@dataclass(frozen=True)
class Layout:
    """The directories to watch: ``flat`` for their own entries, ``deep`` recursively.

    Two layouts are equal only when the same paths name the same directories, so a directory
    deleted and recreated, or renamed away and replaced, makes a new layout.
    """

    flat: frozenset[Directory]
    deep: frozenset[Directory]

    @property
    def directories(self) -> frozenset[Path]:
        """Every watched directory's path."""
        return frozenset(directory.path for directory in (*self.flat, *self.deep))


@dataclass(frozen=True)
class Changes:
    """What changed since the last look: config or secret ``files``, modules to ``reimport``."""

    files: tuple[Path, ...] = ()
    reimport: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.files or self.reimport)


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


class WatchedFiles:
    """The config at ``config`` (absolute, links not resolved), its secrets and the modules
    under ``roots``, with the content each had when last looked at.

    ``config_sha256`` is the digest of the config as the server loaded it, so a change made
    before watching started is still seen.
    """

    def __init__(
        self, config: Path, roots: Iterable[Path], *, config_sha256: str | None = None
    ) -> None:
        self.config = config
        self._roots = tuple(root.resolve() for root in roots)
        self._secrets = _secret_files(config, ())
        self._digests = {path: _digest(path) for path in (config, *self._secrets)}
        if config_sha256 is not None:
            self._digests[config] = config_sha256
        self._modules: dict[Path, str] = {}
        self._listed: tuple[int, tuple[Path, ...]] = (0, ())  # len(sys.modules), roots
        self._module_digests: dict[Path, str] = {}
        self._modules_changed()  # the modules' baseline

    def layout(self) -> Layout:
        """Where to watch now: the homes of every link to the config and the secrets, their
        targets' directories and the tools' module roots, each with its parent (which sees
        the directory itself replaced). A missing directory is watched through its nearest
        existing ancestor, which sees it come back."""
        deep = {root for root in self._module_roots() if root.is_dir()}
        flat: set[Path] = set()
        for file in (self.config, *self._secrets):
            flat.update(follow(file).directories)
        flat.update(deep)
        flat.update([directory.parent for directory in flat])
        return Layout(
            flat=frozenset(_existing(directory) for directory in flat),
            deep=frozenset(_existing(directory) for directory in deep),
        )

    def changes(self) -> Changes:
        """Read everything again; what differs from the last look (and remember it).

        A config that changed may name other secret files: they are followed from now on,
        once it loads (a config that does not load keeps the last one's secrets). A module
        file that vanished is not a change; when it comes back, its content decides.
        """
        config_digest = _digest(self.config)
        if config_digest != self._digests.get(self.config):
            self._secrets = _secret_files(self.config, self._secrets)
        digests = {self.config: config_digest}
        digests.update((path, _digest(path)) for path in self._secrets)
        files = tuple(path for path, digest in digests.items() if digest != self._digests.get(path))
        self._digests = digests
        return Changes(files, self._modules_changed())

    def _modules_changed(self) -> tuple[str, ...]:
        reimport = []
        module_digests: dict[Path, str] = {}
        roots = self._module_roots()
        if (
            len(sys.modules),
            roots,
        ) != self._listed:  # listing costs ~0.1 s: only when it may differ
            self._listed = (len(sys.modules), roots)
            self._modules = module_files(roots)
        for path, name in self._modules.items():
            before, now = self._module_digests.get(path), _digest(path)
            if now is None:
                if before is not None:
                    module_digests[path] = before
                continue
            module_digests[path] = now
            if before is not None and before != now:
                reimport.append(name)
        self._module_digests = module_digests
        return tuple(sorted(reimport))

    def _module_roots(self) -> tuple[Path, ...]:
        # The config's own directory holds modules too (helpers its tools import).
        return tuple(dict.fromkeys((*self._roots, follow(self.config).target.parent)))


def _secret_files(config: Path, previous: tuple[Path, ...]) -> tuple[Path, ...]:
    """The ``*_file`` paths of the config's credentials, or ``previous`` if it does not load."""
    try:
        credentials = load_config(config).config.credentials
    except ConfigError:
        return previous
    if credentials is None:
        return ()
    # Secret files serialise as their absolute paths (relative ones are the config's).
    fields = credentials.model_dump()
    return tuple(Path(value) for name, value in fields.items() if name.endswith("_file") and value)


def _digest(path: Path) -> str | None:
    """SHA-256 of the file's bytes (read through links); None when it cannot be read."""
    try:
        with path.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError:
        return None


def _existing(directory: Path) -> Directory:
    """``directory`` with its identity, or its nearest ancestor that is a directory."""
    for candidate in (directory, *directory.parents):
        try:
            info = candidate.stat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            return Directory(candidate, info.st_dev, info.st_ino)
    return Directory(Path(directory.anchor), 0, 0)
