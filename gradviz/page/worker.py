"""The job board's worker processes: computations run here, off the server's event loop.

A worker is a fresh interpreter running gradviz.page.worker.main, never a fork of the threaded server, with BLAS
on one thread. It is started by hand rather than by multiprocessing's "spawn" or "forkserver" methods because
those re-run the parent's `__main__` module in every child, and under Streamlit `__main__` is app.py itself (its
script runner installs the page as `__main__`): each worker would run the page. The pipe is multiprocessing's
Connection over a socket pair, as multiprocessing.Pipe() makes it.

A worker runs one job at a time and talks to the board over its pipe:

    board -> worker   (initializer, initargs)    first, once: initializer(*initargs), or nothing if None
                      (seq, job)                 run this job (its Streams without their bytes)
                      ("cancel", seq)            nobody wants job seq any more: stop at its next report
                      ("chunk", seq, n) + bytes  the n bytes a read asked for, as one raw message
                      None                       stop
    worker -> board   ("progress", fraction)     from the job's progress reports
                      ("read", index, offset, n) the job reads its Stream argument `index`
                      ("done", result, size)     the result and its size in bytes (gradviz.page.store.nbytes)
                      then retire                this process is too large now: start another
                      ("failed", Failure) or ("cancelled",), then retire

The board answers each read with a chunk or with the cancel, and sends at most one cancel per job, so a job
that reads is stopped at its next read as well as at its next progress report.
"""

from __future__ import annotations

import gc
import io
import os
import pickle
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Callable

from gradviz.page.heap import release_memory
from gradviz.page.jobs import Job, Stream
from gradviz.page.store import nbytes

CHUNK_BYTES = 2**20     # a Stream travels in pieces of at most this size
RETIRE_BYTES = 400 * 2**20  # a worker larger than this after a job (and after handing its heap back) is replaced


class Cancelled(BaseException):
    """Raised inside a job's progress report (or read) when no session wants its result any more. A
    BaseException, as asyncio's CancelledError, so a job's `except Exception` cannot swallow it."""


class WorkerLost(RuntimeError):
    """The worker process died during the job (killed, or out of memory)."""


@dataclass(frozen=True)
class Failure:
    """An exception carried from a worker to the board: its class, args and attributes, rebuilt without
    calling its __init__ (whose signature may differ from its args), or as a RuntimeError of its text."""

    kind: type
    args: tuple
    state: dict
    text: str

    @classmethod
    def of(cls, error: BaseException) -> Failure:
        failure = cls(type(error), error.args, dict(vars(error)), f"{type(error).__name__}: {error}")
        try:
            pickle.loads(pickle.dumps(failure))
        except Exception:  # an exception that does not travel is told by its text
            return cls(RuntimeError, (failure.text,), {}, failure.text)
        return failure

    def error(self) -> BaseException:
        try:
            error = self.kind.__new__(self.kind)
            error.args = self.args
            error.__dict__.update(self.state)
        except Exception:
            return RuntimeError(self.text)
        return error


# --- in the worker process --------------------------------------------------------------------------------------

class _Link:
    """The worker's end of the pipe, during one job (sequence number `seq`)."""

    def __init__(self, conn, seq: int):
        self.conn, self.seq = conn, seq
        self.cancelled = False

    def _reply(self):
        """The board's next message for this job (stale cancels of earlier jobs skipped)."""
        while True:
            message = self.conn.recv()
            if message[1] == self.seq:
                return message

    def _stop_if_cancelled(self, message) -> None:
        if message[0] == "cancel":
            self.cancelled = True
        if self.cancelled:
            raise Cancelled()

    def report(self, fraction: float) -> None:
        """The job's progress report: told to the board, and the place where a cancel stops the job."""
        if self.cancelled:
            raise Cancelled()
        self.conn.send(("progress", float(fraction)))
        while self.conn.poll():
            message = self.conn.recv()
            if message[1] == self.seq:
                self._stop_if_cancelled(message)

    def read_into(self, index: int, offset: int, buffer) -> int:
        if self.cancelled:
            raise Cancelled()
        self.conn.send(("read", index, offset, len(buffer)))
        message = self._reply()
        self._stop_if_cancelled(message)
        return self.conn.recv_bytes_into(buffer)


class Incoming(io.RawIOBase):
    """A Stream argument inside the worker: a seekable binary file whose bytes come from the board on demand."""

    def __init__(self, link: _Link, index: int, size: int):
        super().__init__()
        self._link, self._index, self._size = link, index, size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        got = self._link.read_into(self._index, self._position, memoryview(buffer).cast("B")[:wanted])
        self._position += got
        return got


def _resident_bytes() -> int:
    """This process's resident memory (Linux /proc; 0 where there is none)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _run(job: Job, link: _Link):
    """The job's outcome message, without the retire flag."""
    args = tuple(io.BufferedReader(Incoming(link, index, arg.size), CHUNK_BYTES) if isinstance(arg, Stream) else arg
                 for index, arg in enumerate(job.args))
    try:
        result = replace(job, args=args)(progress=link.report)
        return "done", result, nbytes(result)
    except Cancelled:
        return ("cancelled",)
    except Exception as error:  # a job's failure is shown on its section, never raised out of the worker
        return "failed", Failure.of(error)


def serve(conn, retire_bytes: int = RETIRE_BYTES) -> None:
    """The worker's loop: run each job the board sends, until told to stop or the board is gone."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # two BLAS threads fighting over two busy cores made training 4-8x slower
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal stops the server; this follows
    try:
        initializer, initargs = conn.recv()
    except (EOFError, OSError):
        return
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        seq, job = message
        outcome = _run(job, _Link(conn, seq))
        del job, message
        try:
            payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # a result that cannot travel is a failure of its job
            payload = pickle.dumps(("failed", Failure.of(error)))
        del outcome
        gc.collect()
        release_memory()
        retire = _resident_bytes() > retire_bytes
        try:
            conn.send_bytes(payload)
            conn.send(retire)
        except OSError:  # the board is gone
            return
        if retire:
            return


def main(argv: list[str]) -> None:
    """The worker's command line, FD RETIRE_BYTES: serve the board on the inherited socket FD."""
    serve(Connection(int(argv[0])), int(argv[1]))


# --- in the server ----------------------------------------------------------------------------------------------

# The worker's command (not `-m gradviz.page.worker`, which would run this module as __main__, so the classes
# it pickles back, Failure, would not be found in the server).
ENTRY = "import sys; from gradviz.page.worker import main; main(sys.argv[1:])"
# One BLAS thread from the start (threadpoolctl keeps it so once loaded).
ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


class Worker:
    """The board's handle on one worker process."""

    def __init__(self, retire_bytes: int = RETIRE_BYTES, initializer: Callable | None = None, initargs: tuple = ()):
        mine, theirs = socket.socketpair()
        with theirs:
            # The worker imports what this process can import (gradviz, and a job's module): the same sys.path.
            environment = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), **ONE_THREAD)
            self.process = subprocess.Popen(
                [sys.executable, "-c", ENTRY, str(theirs.fileno()), str(retire_bytes)],
                pass_fds=(theirs.fileno(),), env=environment, stdin=subprocess.DEVNULL)
        self.conn = Connection(mine.detach())
        self.conn.send((initializer, initargs))
        self._seq = 0

    def run(self, job: Job, wanted: Callable[[float], bool]) -> tuple:
        """(the job's result, its size in bytes), computed in the process (the size too, so the server does not
        walk the result). wanted(fraction) is told the progress and answers whether anyone still wants the result;
        when not, the job is cancelled. Raises the job's exception, Cancelled, or WorkerLost (after which this
        worker is dead)."""
        self._seq += 1
        seq = self._seq
        streams = {index: arg for index, arg in enumerate(job.args) if isinstance(arg, Stream)}
        cancel_sent = False
        try:
            self.conn.send((seq, job))
            while True:
                kind, *rest = self._receive()
                if kind == "progress":
                    if not cancel_sent and not wanted(rest[0]):
                        self.conn.send(("cancel", seq))
                        cancel_sent = True
                elif kind == "read":
                    index, offset, size = rest
                    stream = streams[index]
                    if cancel_sent:
                        continue
                    if not wanted(min(1.0, (offset + size) / max(1, stream.size))):
                        self.conn.send(("cancel", seq))
                        cancel_sent = True
                        continue
                    chunk = stream.buffer[offset:offset + size]
                    self.conn.send(("chunk", seq, len(chunk)))
                    self.conn.send_bytes(chunk)
                else:
                    retire = self.conn.recv()
                    return self._outcome(kind, rest, retire)
        except (EOFError, OSError) as error:
            self.stop()
            raise WorkerLost(f"the worker process ended ({self.process.returncode})") from error

    def _receive(self) -> tuple:
        """The worker's next message; a result that cannot be unpickled here is its job's failure."""
        message = self.conn.recv_bytes()
        try:
            return pickle.loads(message)
        except Exception as error:
            return "failed", Failure.of(error)

    def _outcome(self, kind: str, rest: list, retire: bool):
        if retire:
            self.stop()
        if kind == "done":
            return tuple(rest)
        if kind == "cancelled":
            raise Cancelled()
        raise rest[0].error()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """End the process: asked politely when idle, terminated when it does not end within `timeout`."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout)
        self.conn.close()

