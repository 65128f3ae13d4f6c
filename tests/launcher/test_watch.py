"""``keycard-serve CONFIG --reload`` follows every way a file gets replaced, again and again.

Each test runs the real launcher as a subprocess and replaces its config (or a secret file)
the way an editor, a deploy script or the kubelet does, three times in a row: the second
and third updates are the ones a watcher that lost its inode misses. ``/healthz`` tells when
the new config serves (its SHA-256 and the reload count).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.launcher import Launched, launch
from tests.support.servers import free_port

CONFIG = """\
version: 1
log_level: debug
server:
  name: Watched {version}
  base_url: {base_url}
zone:
  dev: {{port: {dev_port}}}
tools:
  - function: examples.weather:forecast
    grants: [https://api.weather.example/]
"""

UPDATES = 3
LOOKED = "a watched directory stirred; no followed file changed"


class Kubelet:
    """Publishes files into a volume the way the kubelet's atomic writer does.

    Each update is a new ``..<timestamp>`` directory; a ``..data_tmp`` link to it is renamed
    over ``..data``; the visible names are links ``name -> ..data/name`` made once; the old
    directory is removed last.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def publish(self, files: dict[str, str | bytes], *, mode: int = 0o644) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.directory / "..data"
        old = data.resolve() if data.is_symlink() else None
        stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime())
        fresh = Path(tempfile.mkdtemp(prefix=f"..{stamp}.", dir=self.directory))
        for name, content in files.items():
            file = fresh / name
            file.write_bytes(content.encode() if isinstance(content, str) else content)
            file.chmod(mode)
        temporary = self.directory / "..data_tmp"
        temporary.symlink_to(fresh.name)
        os.replace(temporary, data)
        for name in files:
            if not (self.directory / name).is_symlink():
                (self.directory / name).symlink_to(f"..data/{name}")
        if old is not None:
            shutil.rmtree(old)


def in_place(config: Path, text: str) -> None:
    with config.open("r+") as file:
        file.truncate()
        file.write(text)


def atomic_rename(config: Path, text: str) -> None:
    temporary = config.with_name(f".{config.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, config)


def vim_backup(config: Path, text: str) -> None:
    """vim's default save on Unix: the original becomes ``file~``, a new file is written."""
    backup = config.with_name(config.name + "~")
    os.replace(config, backup)
    config.write_text(text)
    backup.unlink()


def swap_file(config: Path, text: str) -> None:
    """An editor that writes its swap file and renames it over the original."""
    swap = config.with_name(f".{config.name}.swp")
    swap.write_text(text)
    os.replace(swap, config)


def link_swap(config: Path, text: str) -> None:
    """``config -> versions/N.yaml``, retargeted atomically (``ln -sfn`` done right)."""
    versions = config.parent / "versions"
    versions.mkdir(exist_ok=True)
    version = versions / f"{len(list(versions.iterdir()))}.yaml"
    version.write_text(text)
    temporary = config.with_name(".link.tmp")
    temporary.symlink_to(version.relative_to(config.parent))
    os.replace(temporary, config)


def configmap(config: Path, text: str) -> None:
    Kubelet(config.parent).publish({config.name: text, "other-key": "unchanged"})


def directory_recreated(config: Path, text: str) -> None:
    shutil.rmtree(config.parent)
    config.parent.mkdir()
    config.write_text(text)


def directory_renamed(config: Path, text: str) -> None:
    """A deploy that moves the old release away and puts a new directory in its place."""
    old = config.parent.with_name(f"{config.parent.name}.old-{time.monotonic_ns()}")
    config.parent.rename(old)
    config.parent.mkdir()
    config.write_text(text)


def kubelet_first(config: Path, text: str) -> None:
    """A ConfigMap's first write: the volume appears, made of links."""
    configmap(config, text)


REPLACEMENTS: dict[str, Callable[[Path, str], None]] = {
    "in-place": in_place,
    "atomic-rename": atomic_rename,
    "vim-backup": vim_backup,
    "swap-file-rename": swap_file,
    "symlink-retarget": link_swap,
    "configmap": configmap,
    "directory-recreated": directory_recreated,
    "directory-renamed": directory_renamed,
}


class Watched:
    """A ``--reload`` server (``launched`` once started) whose config lives at ``config``."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.base_url = f"http://127.0.0.1:{free_port()}/"
        self.dev_port = free_port()
        self.launched: Launched | None = None

    def text(self, version: int) -> str:
        return CONFIG.format(version=version, base_url=self.base_url, dev_port=self.dev_port)

    def healthz(self) -> dict:
        return httpx.get(self.base_url + "healthz").json()

    def log(self) -> str:
        return self.launched.log() if self.launched is not None else ""

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}: {self.healthz()}\n{self.log()}"
                )
            time.sleep(0.05)

    def wait_for_reloads(self, reloads: int, text: str) -> None:
        """Until ``text`` serves, applied by reload number ``reloads``."""
        digest = hashlib.sha256(text.encode()).hexdigest()

        def applied() -> bool:
            config = self.healthz()["config"]
            return (config["reloads"], config["sha256"]) == (reloads, digest)

        self.wait_for(applied, f"reload {reloads}")


@contextmanager
def serving(tmp: Path, setup: Callable[[Path, str], None]) -> Iterator[Watched]:
    """Start ``--reload`` on ``tmp/etc/conf/keycard-serve.yaml``, first written by ``setup``.

    The log is kept out of the watched directories (``conf`` and its parent).
    """
    server = Watched(tmp / "etc" / "conf" / "keycard-serve.yaml")
    server.config.parent.mkdir(parents=True)
    setup(server.config, server.text(0))
    env = {"KEYCARD_SERVE_STATE_DIR": str(tmp / "state")}
    with launch(
        [str(server.config), "--reload"],
        base_url=server.base_url,
        env=env,
        log_path=tmp / "log.txt",
    ) as launched:
        server.launched = launched
        yield server


def first_write(kind: str) -> Callable[[Path, str], None]:
    """How the file is first put in place, so each later update replaces it its own way."""
    if kind == "configmap":
        return kubelet_first
    if kind == "symlink-retarget":
        return link_swap
    return lambda config, text: config.write_text(text)


@pytest.mark.parametrize("kind", REPLACEMENTS)
def test_every_replacement_is_followed_every_time(tmp_path, kind):
    with serving(tmp_path, first_write(kind)) as server:
        for update in range(1, UPDATES + 1):
            text = server.text(update)
            REPLACEMENTS[kind](server.config, text)
            server.wait_for_reloads(update, text)


@pytest.mark.parametrize("kind", ["directory-recreated", "directory-renamed"])
def test_a_replaced_directory_is_watched_itself_afterwards(tmp_path, kind):
    """After the directory is replaced, an edit inside it (nothing else stirs) still counts:
    the watch moved to the new directory, even one that got the old inode number back."""
    with serving(tmp_path, first_write(kind)) as server:
        for update in range(1, 2 * UPDATES + 1, 2):
            REPLACEMENTS[kind](server.config, server.text(update))
            server.wait_for_reloads(update, server.text(update))
            in_place(server.config, server.text(update + 1))
            server.wait_for_reloads(update + 1, server.text(update + 1))


def test_a_spurious_event_reloads_nothing(tmp_path):
    with serving(tmp_path, kubelet_first) as server:
        text = server.text(0)
        spurious = {
            "touch": lambda: os.utime(server.config),
            "same bytes written in place": lambda: in_place(server.config, text),
            # Another key of the ConfigMap changed: a whole new ..data, same config.yaml.
            "configmap sync": lambda: Kubelet(server.config.parent).publish(
                {server.config.name: text, "other-key": "changed"}
            ),
        }
        for what, action in spurious.items():
            looked = server.log().count(LOOKED)
            action()
            server.wait_for(lambda n=looked: server.log().count(LOOKED) > n, what)
        assert server.healthz()["config"]["reloads"] == 0
        configmap(server.config, server.text(1))
        server.wait_for_reloads(1, server.text(1))
        log = server.log()
    assert "config unchanged" not in log


def test_a_bad_update_keeps_the_last_good_config_and_the_next_good_one_applies(tmp_path):
    with serving(tmp_path, kubelet_first) as server:
        for update in range(1, UPDATES + 1):
            configmap(server.config, "version: 1\nserver: [unclosed\n")
            server.wait_for(
                lambda: "invalid YAML" in (server.healthz()["last_reload_error"] or ""),
                "the reload error",
            )
            assert server.healthz()["config"]["reloads"] == update - 1
            good = server.text(update)
            configmap(server.config, good)
            server.wait_for_reloads(update, good)
        assert server.healthz()["last_reload_error"] is None
