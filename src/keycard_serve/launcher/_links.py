"""Follow a path's symbolic links one hop at a time, noting where each link lives.

A file reached through links (a Kubernetes ConfigMap's ``config.yaml -> ..data/config.yaml``
with ``..data -> ..2026_11_30_10_00_00.123``) changes when any link on the way is replaced,
not only when the file at the end does. ``follow`` names every directory whose entries decide
what the path points to, so a watcher can watch exactly those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Followed", "follow"]

_MAX_HOPS = 40  # what Linux allows before ELOOP


@dataclass(frozen=True)
class Followed:
    """Where ``follow`` ended, and the directories holding each link met on the way.

    ``target`` is the path with every link replaced (it may not exist: resolution stops at the
    first missing part and appends the rest as written); ``link_directories`` are the real
    directories holding the links, in the order met.
    """

    target: Path
    link_directories: tuple[Path, ...]

    @property
    def directories(self) -> tuple[Path, ...]:
        """Every directory whose entries decide what the path is: link homes and the target's."""
        return (*dict.fromkeys((*self.link_directories, self.target.parent)),)


def follow(path: Path) -> Followed:
    """Resolve the absolute ``path`` as the kernel does, remembering where its links live.

    A loop of links (more than 40 hops) stops the resolution where it is, like a missing
    part; nothing is raised.
    """
    current = Path(path.anchor)
    pending = list(path.parts[1:])
    homes: list[Path] = []
    hops = 0
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            current = current.parent
            continue
        candidate = current / name
        if not candidate.is_symlink():
            if not candidate.exists():
                return Followed(candidate.joinpath(*pending), tuple(homes))
            current = candidate
            continue
        hops += 1
        if hops > _MAX_HOPS:
            return Followed(candidate.joinpath(*pending), tuple(homes))
        try:
            link = Path(os.readlink(candidate))
        except OSError:  # replaced by a file or removed since is_symlink: look again later
            return Followed(candidate.joinpath(*pending), tuple(homes))
        homes.append(current)
        if link.is_absolute():
            current = Path(link.anchor)
            pending[:0] = link.parts[1:]
        else:
            pending[:0] = link.parts
    return Followed(current, tuple(homes))
