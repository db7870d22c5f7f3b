"""A child process forked from the ingest that makes something and streams it through a pipe.

The child shares the parsed model with its parent copy-on-write (no re-parse) and runs on the
other core; the pipe's buffer bounds how far it runs ahead. A crash of the child fails the read
instead of killing the worker. Without ``os.fork`` the callers do the work in this process.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
from collections.abc import Callable
from typing import Any, BinaryIO, NoReturn

CAN_FORK = hasattr(os, "fork")


class ForkedPipe:
    """The read end of a pipe whose writer is ``produce(out)`` running in a forked child."""

    def __init__(self, produce: Callable[[BinaryIO], None], what: str) -> None:
        self.what = what
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child process
            os.close(read_fd)
            _child(produce, write_fd)
        os.close(write_fd)
        self.pid: int | None = pid
        self.reader: BinaryIO | None = os.fdopen(read_fd, "rb", buffering=1 << 16)

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes; raises if the child stopped before writing them."""
        assert self.reader is not None, "the pipe is closed"
        data = self.reader.read(n) if n else b""
        if len(data) != n:
            self._stopped()
        return data

    def load(self) -> Any:
        """The next object the child wrote with :func:`dump`."""
        assert self.reader is not None, "the pipe is closed"
        try:
            return pickle.load(self.reader)
        except EOFError:
            self._stopped()

    def _stopped(self) -> NoReturn:
        assert self.pid is not None, "the child was already waited for"
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.waitstatus_to_exitcode(status)}"
        raise RuntimeError(f"the {self.what} process stopped ({how}) before the end")

    def close(self) -> None:
        """Stop the child (if still running) and close the pipe."""
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None


def dump(value: Any, out: BinaryIO) -> None:
    """Write one object for :meth:`ForkedPipe.load`, flushed so the parent can take it at once."""
    pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def _child(produce: Callable[[BinaryIO], None], fd: int) -> None:
    """Run ``produce`` on the pipe's write end; never returns."""
    code = 0
    try:
        gc.disable()  # objects inherited from the parent (database connections) must not be finalised here
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with os.fdopen(fd, "wb", buffering=1 << 16) as out:
            produce(out)
    except BaseException:  # noqa: BLE001 - a child must never return into the parent's code
        code = 1
    finally:
        os._exit(code)
