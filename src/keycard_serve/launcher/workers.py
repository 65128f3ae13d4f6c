"""Several worker processes on one listening socket, and the supervisor that runs them.

The supervisor binds the socket, then starts each worker with multiprocessing's ``spawn``
method, as uvicorn's own ``--workers`` does: a fresh interpreter that inherits the socket and
the environment (so a variable such as ``PROMETHEUS_MULTIPROC_DIR`` set before
``run_workers`` reaches every worker), never a fork of a process with threads and
connections. Each worker loads and validates the config file itself, builds its own app
(provider, caches, connections to the shared store) and serves the socket with uvicorn
(``serve.serve``); the kernel hands each new connection to one of them.

Signals to the supervisor:

- SIGINT, SIGTERM: SIGTERM to every worker; each stops accepting, lets requests in flight
  finish (uvicorn's graceful shutdown, 5 s) and closes its provider; the supervisor waits
  for all of them, and kills what is left after ``_STOP_GRACE`` seconds.
- SIGHUP: passed to every worker, each of which reloads the file as a single process does
  (``reload.Reloader``): each validates it in full, so a bad file changes nothing anywhere.

Metrics (``observability.metrics``): the supervisor points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh directory (unless it is set already) before the first worker starts, serves the sum over
the workers on the metrics listener itself, and forgets the live gauges of a worker that
exits; worker 1's banner shows the listener's URL. Each worker appends its own audit lines to
the same file and reopens it on SIGHUP.

Each worker says on a pipe when its app is built; once all have, the supervisor logs
``N workers serving``. A worker that exits on its own after starting is replaced. If a first
worker exits before it started (the file does not load, the app cannot be built), all stop,
exit status 1; a replacement that cannot start (the file was broken since) is tried again,
backing off up to 30 s, while the other workers keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from .. import _metrics
from .._sockets import listen
from ..config import ConfigError, import_tools, load_config
from ..errors import KeycardServeError
from .logs import configure_logging
from .serve import serve

__all__ = ["WorkerSpec", "run_workers"]

logger = logging.getLogger("keycard_serve.workers")

_MAX_BACKOFF = 30.0  # seconds between attempts to start a replacement that fails
_CRASH_WINDOW = 5.0  # seconds: a worker dying sooner after starting is crash-looping
_STOP_GRACE = 15.0  # seconds: uvicorn's 5 s graceful shutdown, then closing, with margin
# SIGHUP does not exist on Windows; the module stays importable there.
_HANGUP = getattr(signal, "SIGHUP", None)
_FORWARDED = tuple(s for s in (signal.SIGINT, signal.SIGTERM, _HANGUP) if s is not None)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to serve: the config file (each worker loads it itself), the
    address the socket is bound to, the log level and how many workers share the socket."""

    path: Path
    host: str
    port: int
    log_level: str
    workers: int
    log_format: str = "text"
    metrics: tuple[str, int] | None = None  # the metrics listener's (host, port), if any
    metrics_url: str | None = None  # set by the supervisor once it serves it


def run_workers(spec: WorkerSpec) -> int:
    """Bind ``spec.host:spec.port``, run ``spec.workers`` workers on it until SIGINT or
    SIGTERM, and return the exit status: 0 after SIGINT, 143 after SIGTERM (as one process
    stopped by it), 1 when a worker could not start.

    Raises ``OSError`` when the address cannot be bound. Call from the main thread.
    """
    sock = listen(spec.host, spec.port)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(sock.close)
        if spec.metrics is not None:
            spec = replace(spec, metrics_url=_serve_metrics(spec.metrics, cleanup))
        return _supervise(spec, sock)


def _serve_metrics(address: tuple[str, int], cleanup: contextlib.ExitStack) -> str:
    """Start the listener serving every worker's metrics; its URL. Workers started after this
    write their values in ``PROMETHEUS_MULTIPROC_DIR`` (a new directory unless set)."""
    if not os.environ.get(_metrics.MULTIPROC_ENV):
        folder = tempfile.mkdtemp(prefix="keycard-serve-metrics-")
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        os.environ[_metrics.MULTIPROC_ENV] = folder
        cleanup.callback(os.environ.pop, _metrics.MULTIPROC_ENV, None)
    listener = _metrics.start_listener(*address, None)
    cleanup.callback(listener.close)
    return listener.url


def _supervise(spec: WorkerSpec, sock: socket.socket) -> int:
    """Run the workers on ``sock`` until SIGINT or SIGTERM; the exit status."""
    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    pending: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in _FORWARDED}
    previous_wakeup = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
    supervisor = _Supervisor(spec, sock)
    try:
        supervisor.start_all()
        while supervisor.status is None:
            supervisor.wait([wake_read])
            with contextlib.suppress(BlockingIOError):
                wake_read.recv(4096)
            signals, pending[:] = list(pending), []
            supervisor.handle(signals)
    finally:
        supervisor.stop()
        signal.set_wakeup_fd(previous_wakeup)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        wake_read.close()
        wake_write.close()
    return supervisor.status or 0


class _Supervisor:
    """The workers of one socket: started, watched, replaced, signalled, stopped."""

    def __init__(self, spec: WorkerSpec, sock: socket.socket) -> None:
        self._spec = spec
        self._sock = sock
        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[int, _Worker] = {}
        self._retry_at: dict[int, float] = {}  # index -> monotonic time of the next attempt
        self._backoff = _Backoff()
        self._announced = False
        self._ready: list[object] = []
        self.status: int | None = None

    def start_all(self) -> None:
        for index in range(self._spec.workers):
            self._start(index)

    def wait(self, others: list[object]) -> None:
        """Block until a worker exits or says it started, an ``other`` is readable, or a
        replacement is due."""
        due = min(self._retry_at.values(), default=None)
        timeout = None if due is None else max(0.0, due - time.monotonic())
        watched = [worker.process.sentinel for worker in self._workers.values()]
        watched += [w.pipe for w in self._workers.values() if not w.started and not w.pipe.closed]
        self._ready = wait([*watched, *others], timeout)

    def handle(self, signals: list[int]) -> None:
        """Act on ``signals`` received and on what ``wait`` saw; sets ``status`` to stop."""
        if _HANGUP is not None and _HANGUP in signals:
            for worker in self._workers.values():
                _signal(worker.process, _HANGUP)
        if signal.SIGTERM in signals:
            self.status = 128 + signal.SIGTERM  # as a single process stopped by SIGTERM exits
            return
        if signal.SIGINT in signals:
            self.status = 0
            return
        for index, worker in list(self._workers.items()):
            if worker.pipe in self._ready and not worker.started:
                worker.started = _received(worker.pipe)
                if worker.started:
                    worker.started_at = time.monotonic()
                if worker.started and self._announced:
                    logger.info("worker %d (pid %s) serving", index + 1, worker.process.pid)
            if worker.process.sentinel in self._ready:
                self._exited(index, worker)
        if not self._announced and all(w.started for w in self._workers.values()):
            self._announced = True
            pids = ", ".join(str(worker.process.pid) for worker in self._workers.values())
            logger.info("%d workers serving (pids %s)", len(self._workers), pids)
        now = time.monotonic()
        for index, due in list(self._retry_at.items()):
            if due <= now and self.status is None:
                del self._retry_at[index]
                self._start(index)

    def stop(self) -> None:
        _stop([worker.process for worker in self._workers.values()])

    def _start(self, index: int) -> None:
        self._workers[index] = _Worker.start(self._context, self._spec, index, self._sock)

    def _exited(self, index: int, worker: _Worker) -> None:
        worker.process.join()
        if not worker.pipe.closed:
            worker.pipe.close()
        del self._workers[index]
        _metrics.mark_process_dead(worker.process.pid or 0)  # its live gauges no longer count
        where = (index + 1, worker.process.pid, worker.process.exitcode)
        if worker.started_at is None and not self._announced:
            logger.error("worker %d (pid %s) exited with status %s before it started", *where)
            self.status = 1
            return
        now = time.monotonic()
        lived = None if worker.started_at is None else now - worker.started_at
        delay = self._backoff.delay(index, lived)
        if delay == 0:
            logger.warning("worker %d (pid %s) exited with status %s; starting another", *where)
            self._start(index)
            return
        self._retry_at[index] = now + delay
        if lived is not None:
            logger.error(
                "worker %d (pid %s) exited with status %s %.1f s after it started; the other "
                "workers keep serving; starting another in %g s",
                *where,
                lived,
                delay,
            )
        else:
            # A replacement loads the file as it is now; while that fails (a broken file),
            # the other workers keep serving the last good config and it is tried again.
            logger.error(
                "worker %d (pid %s) could not start (status %s); the other workers keep "
                "serving; trying again in %g s",
                *where,
                delay,
            )


class _Backoff:
    """How long to wait before starting a worker again (seconds): at once after a worker that
    served for ``_CRASH_WINDOW`` s or more (which also forgets earlier failures); doubling from
    1 s up to ``_MAX_BACKOFF`` while it keeps failing to start or dying sooner."""

    def __init__(self) -> None:
        self._delays: dict[int, float] = {}

    def delay(self, index: int, lived: float | None) -> float:
        """The delay for worker ``index`` that exited ``lived`` seconds after it said it
        started (None: it exited before that)."""
        if lived is not None and lived >= _CRASH_WINDOW:
            self._delays.pop(index, None)
            return 0.0
        delay = min(_MAX_BACKOFF, self._delays.get(index, 0.5) * 2)
        self._delays[index] = delay
        return delay


@dataclass
class _Worker:
    """A worker process, the pipe on which it says it started, and when it did (monotonic)."""

    process: BaseProcess
    pipe: Connection
    started: bool = False
    started_at: float | None = None

    @classmethod
    def start(
        cls, context: SpawnContext, spec: WorkerSpec, index: int, sock: socket.socket
    ) -> _Worker:
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker,
            args=(spec, index, sock, writer),
            name=f"keycard-serve worker {index + 1}",
        )
        process.start()
        writer.close()  # the worker holds its end; ours would keep the pipe open forever
        return cls(process, reader)


def _received(pipe: Connection) -> bool:
    """Whether the worker said it started (False at end of file: it exited first)."""
    try:
        pipe.recv()
    except (EOFError, OSError):
        pipe.close()
        return False
    return True


def _signal(process: BaseProcess, signum: int) -> None:
    if process.pid is not None and process.exitcode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signum)


def _stop(processes: list[BaseProcess]) -> None:
    """SIGTERM to every worker, then wait for all; SIGKILL what outlives the grace period."""
    for process in processes:
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.exitcode is None:
            logger.warning(
                "worker pid %s did not stop in %g s; killing it", process.pid, _STOP_GRACE
            )
            process.kill()
            process.join()


def _worker(spec: WorkerSpec, index: int, sock: socket.socket, started: Connection) -> None:
    """A worker process: load the file, build the app, serve ``sock`` until told to stop."""
    # Terminal signals (Ctrl-C) reach only the supervisor, which stops workers with SIGTERM:
    # a worker also interrupted by the terminal would race that graceful stop.
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    # Until the app's own handler is installed, a reload request must not kill the process
    # (SIGHUP's default action) nor be lost: it is noted, and ``serve`` reloads once after
    # installing its handler if one came (a no-op when the file did not change).
    hangups: list[int] = []
    if _HANGUP is not None:
        signal.signal(_HANGUP, lambda signum, _frame: hangups.append(signum))
    # uvicorn stops gracefully on SIGTERM, then raises it again; end quietly then.
    signal.signal(signal.SIGTERM, _exit_quietly)
    configure_logging(
        spec.log_level,
        spec.log_format,  # type: ignore[arg-type]
        text_format=f"%(levelname)s [worker {index + 1} pid {os.getpid()}] %(name)s: %(message)s",
    )
    try:
        loaded = import_tools(load_config(spec.path))
        asyncio.run(
            serve(
                loaded,
                host=spec.host,
                port=spec.port,
                log_level=spec.log_level,
                out=sys.stdout if index == 0 else None,
                sock=sock,
                workers=spec.workers,
                started=lambda: started.send(os.getpid()),
                log_format=spec.log_format,  # type: ignore[arg-type]
                metrics_url=spec.metrics_url,
                hangup_pending=lambda: bool(hangups),
            )
        )
    except (KeyboardInterrupt, SystemExit):
        return
    except (ConfigError, KeycardServeError) as exc:
        print(f"keycard-serve worker {index + 1}: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
