"""Prefect's ephemeral API server as a child process that ends with trivium.

Without PREFECT_API_URL, Prefect starts a temporary API server (`python -m uvicorn ...`) and stops
it at interpreter exit; a SIGKILL skips that, and the server lived on as an orphan. `guard()` makes
Prefect start it through this module instead, which runs uvicorn after starting a watchdog thread
that ends the server once its parent process is gone.

    python -m trivium.flows.prefect_child PARENT_PID MODULE [ARGS...]
"""

from __future__ import annotations

import os
import runpy
import signal
import subprocess
import sys
import threading
import time

POLL_S = 0.5


class _GuardedSubprocess:
    """Stands in for the `subprocess` module inside Prefect's server module: the same, except that
    `python -m uvicorn ...` is started through this module."""

    def __getattr__(self, name: str):
        return getattr(subprocess, name)

    @staticmethod
    def Popen(args, *rest, **kwargs):  # noqa: N802 (subprocess's name)
        args = list(args)
        if args[1:3] == ["-m", "uvicorn"]:
            args = [args[0], "-m", __name__, str(os.getpid()), *args[2:]]
        return subprocess.Popen(args, *rest, **kwargs)


def guard() -> None:
    """Route the ephemeral server's start through this module (idempotent)."""
    from prefect.server.api import server

    if not isinstance(server.subprocess, _GuardedSubprocess):
        server.subprocess = _GuardedSubprocess()


def start_ephemeral_server() -> None:
    """Start Prefect's ephemeral API server now when no PREFECT_API_URL names a server. Prefect keeps one
    per process, so the flow's client finds it running instead of starting it then."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return
    guard()
    from prefect.server.api.server import SubprocessASGIServer

    SubprocessASGIServer().start()


def _end_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down cleanly on SIGTERM
    time.sleep(10)
    os._exit(1)


def main(argv: list[str]) -> None:
    parent, module, args = int(argv[0]), argv[1], argv[2:]
    threading.Thread(target=_end_when_orphaned, args=(parent,), daemon=True).start()
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
