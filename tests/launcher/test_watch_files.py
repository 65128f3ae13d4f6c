"""What ``--reload`` follows, without a server: links, directories to watch, content changes."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from keycard_serve.launcher._links import follow
from keycard_serve.launcher._watched import Changes, WatchedFiles
from tests.launcher.test_watch import Kubelet

CONFIG = """\
version: 1
server:
  name: Files
  base_url: http://127.0.0.1:8000/
zone:
  url: https://zone.example
credentials:
  client_id: c
  client_secret_file: {secret}
tools:
  - function: examples.weather:forecast
"""


def test_a_plain_file_is_its_own_target(tmp_path):
    file = tmp_path / "config.yaml"
    file.write_text("x")
    followed = follow(file)
    assert (followed.target, followed.link_directories) == (file, ())
    assert followed.directories == (tmp_path,)


def test_a_configmap_file_names_the_volume_and_the_current_data_directory(tmp_path):
    volume = tmp_path / "config"
    Kubelet(volume).publish({"config.yaml": "x"})
    followed = follow(volume / "config.yaml")
    data = (volume / "..data").resolve()
    assert followed.target == data / "config.yaml"
    assert followed.directories == (volume, data)
    Kubelet(volume).publish({"config.yaml": "y"})
    assert follow(volume / "config.yaml").target.parent == (volume / "..data").resolve() != data


def test_absolute_links_dot_dot_and_linked_directories_are_followed(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "file").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "dir").symlink_to(tmp_path / "real")  # absolute, a directory
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "link").symlink_to("../elsewhere/dir/file")
    followed = follow(tmp_path / "a" / "link")
    assert followed.target == tmp_path / "real" / "file"
    assert followed.link_directories == (tmp_path / "a", tmp_path / "elsewhere")


def test_a_missing_part_or_a_loop_ends_the_resolution_without_raising(tmp_path):
    (tmp_path / "dangling").symlink_to("gone/file")
    assert follow(tmp_path / "dangling").target == tmp_path / "gone" / "file"
    (tmp_path / "one").symlink_to("two")
    (tmp_path / "two").symlink_to("one")
    assert follow(tmp_path / "one").link_directories[:2] == (tmp_path, tmp_path)


@pytest.fixture
def config(tmp_path) -> Path:
    secret = tmp_path / "secrets" / "client-secret"
    Kubelet(secret.parent).publish({secret.name: "s1"}, mode=0o600)
    config = tmp_path / "conf" / "keycard-serve.yaml"
    config.parent.mkdir()
    config.write_text(CONFIG.format(secret=secret))
    return config


def test_same_content_is_no_change_however_it_arrives(config):
    files = WatchedFiles(config, [])
    os.utime(config)
    config.write_text(config.read_text())
    secrets = config.parent.parent / "secrets"
    Kubelet(secrets).publish({"client-secret": "s1"}, mode=0o600)
    assert not files.changes()


def test_a_rotated_secret_and_an_edited_config_are_changes(config):
    files = WatchedFiles(config, [])
    secret = config.parent.parent / "secrets" / "client-secret"
    Kubelet(secret.parent).publish({secret.name: "s2"}, mode=0o600)
    assert files.changes() == Changes(files=(secret,))
    config.write_text(config.read_text().replace("Files", "Edited"))
    assert files.changes() == Changes(files=(config,))
    assert not files.changes()


def test_a_config_naming_another_secret_follows_it_from_then_on(config, tmp_path):
    files = WatchedFiles(config, [])
    other = tmp_path / "other-secret"
    other.write_text("o1")
    other.chmod(0o600)
    config.write_text(CONFIG.format(secret=other))
    assert files.changes() == Changes(files=(config, other))
    assert other.parent in {directory.path for directory in files.layout().flat}
    other.write_text("o2")
    assert files.changes() == Changes(files=(other,))


def test_a_change_before_watching_started_is_seen(config):
    loaded_digest = "0" * 64  # what the server loaded is not what the file holds now
    assert WatchedFiles(config, [], config_sha256=loaded_digest).changes() == Changes(
        files=(config,)
    )


def test_the_layout_watches_link_homes_targets_and_parents_and_moves_with_them(tmp_path):
    volume = tmp_path / "mnt" / "config"
    Kubelet(volume).publish({"config.yaml": "x"})
    files = WatchedFiles(volume / "config.yaml", [])
    before = files.layout()
    data = (volume / "..data").resolve()
    assert {volume, data, volume.parent} <= {directory.path for directory in before.flat}
    Kubelet(volume).publish({"config.yaml": "y"})
    assert files.layout() != before


def test_a_directory_renamed_away_and_replaced_makes_a_new_layout(tmp_path):
    # (Deleted and recreated, a directory may get its inode number back: the watcher also
    # restarts when an event names a watched directory; see test_watch.py.)
    directory = tmp_path / "conf"
    directory.mkdir()
    (directory / "config.yaml").write_text("x")
    files = WatchedFiles(directory / "config.yaml", [])
    before = files.layout()
    directory.rename(tmp_path / "conf.old")
    assert directory not in files.layout().directories  # watched through its parent meanwhile
    directory.mkdir()
    (directory / "config.yaml").write_text("x")
    after = files.layout()
    assert after != before
    assert directory in after.directories


@pytest.fixture
def tool_module(tmp_path, monkeypatch):
    package = tmp_path / "tools"
    package.mkdir()
    module = package / "watched_tool_module.py"
    module.write_text("VERSION = 1\n")
    monkeypatch.syspath_prepend(str(package))
    importlib.import_module("watched_tool_module")
    yield module
    sys.modules.pop("watched_tool_module", None)


def test_a_tool_module_is_reimported_only_when_its_content_changes(tmp_path, tool_module):
    config = tmp_path / "keycard-serve.yaml"
    config.write_text("version: 1\n")
    files = WatchedFiles(config, [tool_module.parent])
    os.utime(tool_module)
    assert not files.changes()
    backup = tool_module.with_name(tool_module.name + "~")
    os.replace(tool_module, backup)  # an editor's save, caught half-way: not a change
    assert not files.changes()
    os.replace(backup, tool_module)  # and back with the same content: still none
    assert not files.changes()
    tool_module.write_text("VERSION = 2\n")
    assert files.changes() == Changes(reimport=("watched_tool_module",))
