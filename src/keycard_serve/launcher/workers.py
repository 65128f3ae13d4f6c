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

Each worker says on a pipe when its app is built; once all have, the supervisor logs
``N workers serving``. A worker that exits on its own after starting is replaced; one that
exits before it started (the file no longer loads, the app cannot be built) stops them all,
exit status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from .._sockets import listen
from ..config import ConfigError, import_tools, load_config
from ..errors import KeycardServeError
from .serve import serve

__all__ = ["WorkerSpec", "run_workers"]

logger = logging.getLogger("keycard_serve.workers")

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


def run_workers(spec: WorkerSpec) -> int:
    """Bind ``spec.host:spec.port``, run ``spec.workers`` workers on it until SIGINT or
    SIGTERM, and return the exit status (0 stopped, 1 a worker could not start).

    Raises ``OSError`` when the address cannot be bound. Call from the main thread.
    """
    sock = listen(spec.host, spec.port)
    context = multiprocessing.get_context("spawn")
    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    pending: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in _FORWARDED}
    previous_wakeup = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
    workers: dict[int, _Worker] = {}
    status = 0
    announced = False
    try:
        for index in range(spec.workers):
            workers[index] = _Worker.start(context, spec, index, sock)
        while True:
            sentinels = {worker.process.sentinel: index for index, worker in workers.items()}
            pipes = {
                worker.pipe: worker
                for worker in workers.values()
                if not worker.started and not worker.pipe.closed
            }
            ready = wait([*sentinels, *pipes, wake_read])
            with contextlib.suppress(BlockingIOError):
                wake_read.recv(4096)
            signals, pending[:] = list(pending), []
            if _HANGUP is not None and _HANGUP in signals:
                for worker in workers.values():
                    _signal(worker.process, _HANGUP)
            if signal.SIGINT in signals or signal.SIGTERM in signals:
                break
            for item in ready:
                if item in pipes:
                    pipes[item].started = _received(item)
            if not announced and all(worker.started for worker in workers.values()):
                announced = True
                pids = ", ".join(str(worker.process.pid) for worker in workers.values())
                logger.info("%d workers serving (pids %s)", len(workers), pids)
            for sentinel in ready:
                if sentinel not in sentinels:
                    continue
                index = sentinels[sentinel]
                worker = workers[index]
                worker.process.join()
                if not worker.pipe.closed:
                    worker.pipe.close()
                if not worker.started:
                    logger.error(
                        "worker %d (pid %s) exited with status %s before it started; stopping",
                        index + 1,
                        worker.process.pid,
                        worker.process.exitcode,
                    )
                    status = 1
                    break
                logger.warning(
                    "worker %d (pid %s) exited with status %s; starting another",
                    index + 1,
                    worker.process.pid,
                    worker.process.exitcode,
                )
                workers[index] = _Worker.start(context, spec, index, sock)
            if status:
                break
    finally:
        _stop([worker.process for worker in workers.values()])
        signal.set_wakeup_fd(previous_wakeup)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        wake_read.close()
        wake_write.close()
        sock.close()
    return status


@dataclass
class _Worker:
    """A worker process and the pipe on which it says it started."""

    process: BaseProcess
    pipe: Connection
    started: bool = False

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
    # Until the app's own handler is installed, a reload request must not kill the process
    # (SIGHUP's default action); the file is loaded after this line, so nothing is missed
    # that the load does not see.
    if _HANGUP is not None:
        signal.signal(_HANGUP, signal.SIG_IGN)
    # uvicorn stops gracefully on SIGTERM, then raises it again; end quietly then.
    signal.signal(signal.SIGTERM, _exit_quietly)
    logging.basicConfig(
        level=spec.log_level.upper(),
        format=f"%(levelname)s [worker {index + 1} pid {os.getpid()}] %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(
        max(logging.WARNING, logging.getLevelName(spec.log_level.upper()))
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
            )
        )
    except (KeyboardInterrupt, SystemExit):
        return
    except (ConfigError, KeycardServeError) as exc:
        print(f"keycard-serve worker {index + 1}: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
