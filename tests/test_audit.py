"""The audit log writer: JSON lines from a thread, rotation, and failures that never spread."""

from __future__ import annotations

import json
import logging
import re

from fastmcp.server.auth import AccessToken

from keycard_serve._audit import AuditLog, rfc3339
from keycard_serve.launcher.observe import _caller

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_become_json_lines_with_rfc3339_utc_time(tmp_path):
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    audit.emit({"time": 0.25, "event": "tool_call", "tool": "t"})
    audit.emit({"time": 1_796_000_000.0, "event": "token_refused", "reason": "expired"})
    audit.close()
    assert lines(path) == [
        {"time": "1970-01-01T00:00:00.250Z", "event": "tool_call", "tool": "t"},
        {"time": rfc3339(1_796_000_000.0), "event": "token_refused", "reason": "expired"},
    ]
    assert STAMP.fullmatch(rfc3339(1_796_000_000.0))


def test_a_renamed_file_is_followed_by_a_new_one_at_the_path(tmp_path):
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, check_every=0)
    audit.emit({"time": 1.0, "event": "a"})
    audit.flush()
    path.rename(tmp_path / "audit.jsonl.1")  # what logrotate does
    audit.emit({"time": 2.0, "event": "b"})
    audit.close()
    assert [e["event"] for e in lines(tmp_path / "audit.jsonl.1")] == ["a"]
    assert [e["event"] for e in lines(path)] == ["b"]


def test_reopen_starts_a_new_file_after_rotation(tmp_path):
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, check_every=3600)  # only reopen() notices
    audit.emit({"time": 1.0, "event": "a"})
    audit.flush()
    path.rename(tmp_path / "old.jsonl")
    audit.emit({"time": 2.0, "event": "b"})  # still the open (renamed) file
    audit.reopen()
    audit.emit({"time": 3.0, "event": "c"})
    audit.close()
    assert [e["event"] for e in lines(tmp_path / "old.jsonl")] == ["a", "b"]
    assert [e["event"] for e in lines(path)] == ["c"]


def test_a_full_disk_is_logged_once_and_never_raises(caplog):
    caplog.set_level(logging.ERROR, logger="keycard_serve.audit")
    audit = AuditLog("/dev/full")  # every write fails with ENOSPC
    for index in range(5):
        audit.emit({"time": float(index), "event": "tool_call"})
    audit.close()
    failures = [r for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(failures) == 1
    assert "No space left on device" in failures[0].getMessage()


def test_writing_resumes_when_the_directory_is_back(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="keycard_serve.audit")
    folder = tmp_path / "logs"
    audit = AuditLog(folder / "audit.jsonl", check_every=0)
    audit.emit({"time": 1.0, "event": "lost"})
    audit.flush()
    folder.mkdir()
    audit.emit({"time": 2.0, "event": "kept"})
    audit.close()
    assert [e["event"] for e in lines(folder / "audit.jsonl")] == ["kept"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot write" in m for m in messages) == 1
    assert sum("writing again" in m for m in messages) == 1


def test_dash_writes_to_standard_error(capsys):
    audit = AuditLog("-")
    audit.emit({"time": 0.0, "event": "tool_call"})
    audit.close()
    assert json.loads(capsys.readouterr().err) == {
        "time": "1970-01-01T00:00:00.000Z",
        "event": "tool_call",
    }


def test_the_caller_is_its_sub_client_id_and_act_chain_only():
    token = AccessToken(
        token="secret-token-value",
        client_id="agent",
        scopes=["mcp:tools"],
        subject="alice",
        claims={
            "sub": "alice",
            "client_id": "agent",
            "scope": "mcp:tools",
            "act": {"sub": "svc-a", "iss": "https://zone", "act": {"sub": "svc-b", "x": 1}},
        },
    )
    assert _caller(token) == {
        "sub": "alice",
        "client_id": "agent",
        "act": [{"sub": "svc-a", "iss": "https://zone"}, {"sub": "svc-b"}],
    }
    assert _caller(None) == {"sub": None, "client_id": None}
