"""One compute budget for the whole server: at most N jobs at once across every visitor, the rest queued,
the cheapest first (a chain's 30 ms never waits behind Nielsen's network's second).

A job is requested by its key (gradviz.page.jobs.Job); identical requests share one computation, and a
finished result goes into a ByteStore that every later request reads (a private job's result does not: it
goes only to the sessions holding its task). Sessions that wait for a job touch it every fraction of a second;
a queued or running job that nobody has touched for `grace` seconds is dropped (a running one stops at its
next progress report, or its next read of a Stream), so a closed tab costs nothing.

The jobs run in worker processes (gradviz.page.worker), one per board thread: the server's own threads only
wait on pipes, so its event loop (the websocket, /_stcore/health) stays free however hard the workers compute.
A worker that dies (killed, out of memory) fails its job and is replaced. A job estimated below `inline_below`
seconds (a chain's analysis: about a millisecond) is computed at once in the requesting session's script thread
— never on the event loop — since a round trip to a worker, or a worker still starting, costs more than the job.
Everything here is plain Python, no Streamlit.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import os
import threading
import time
from pathlib import Path
from typing import Callable

from gradviz.page.jobs import Job
from gradviz.page.store import ByteStore
from gradviz.page.worker import RETIRE_BYTES, Cancelled, Worker, WorkerLost

__all__ = ["Cancelled", "JobBoard", "Task", "WorkerLost", "GRACE_SECONDS", "default_workers"]

GRACE_SECONDS = 5.0
WORKERS_VARIABLE = "GRADVIZ_WORKERS"
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may use: its CPU affinity, capped by a container's CPU limit (cgroup v2's cpu.max,
    "quota period", which os.cpu_count() does not see), rounded up."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def default_workers(environ=os.environ, cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Worker processes for this machine: $GRADVIZ_WORKERS if set, else one per core beyond the server's own
    (at least one)."""
    try:
        return max(1, int(environ[WORKERS_VARIABLE]))
    except (KeyError, ValueError):
        return max(1, available_cores(cpu_max) - 1)


class Task:
    """One requested job: its state ("queued", "running", "done", "failed"), progress and result."""

    def __init__(self, job: Job):
        self.job = job
        self.key = job.key
        self.state = "queued"
        self.fraction = 0.0
        self.result = None
        self.error: BaseException | None = None
        self.last_seen = time.monotonic()
        self.finished = threading.Event()

    def touch(self) -> None:
        """A session still wants this result."""
        self.last_seen = time.monotonic()

    @property
    def done(self) -> bool:
        return self.state in ("done", "failed")

    @staticmethod
    def ready(job: Job, result) -> Task:
        task = Task(job)
        task.state, task.result = "done", result
        task.finished.set()
        return task


class JobBoard:
    """Runs jobs on `workers` worker processes, queued by cost, each key once; results kept in `store`.
    initializer(*initargs), if given, runs in each worker process before its first job (as in
    concurrent.futures.ProcessPoolExecutor); a worker grown past `retire_bytes` is replaced after its job."""

    def __init__(self, workers: int, store: ByteStore, grace: float = GRACE_SECONDS,
                 retire_bytes: int = RETIRE_BYTES, initializer: Callable | None = None, initargs: tuple = (),
                 inline_below: float = 0.0):
        self.store = store
        self.grace = grace
        self.inline_below = inline_below
        self._queue: list[tuple[float, int, Task]] = []
        self._arrival = itertools.count()
        self._tasks: dict = {}
        self._running = 0
        self._closed = False
        self._lock = threading.Condition()
        self._start_worker = functools.partial(Worker, retire_bytes, initializer, initargs)
        self._workers = [self._start_worker() for _ in range(max(1, workers))]
        self._threads = [threading.Thread(target=self._work, args=(slot,), daemon=True, name="gradviz-board")
                         for slot in range(len(self._workers))]
        for thread in self._threads:
            thread.start()

    def request(self, job: Job) -> Task:
        """The job's task: finished at once if its result is stored, else the shared queued or running one."""
        stored = None if job.private else self.store.get(job.key)
        if stored is not None:
            return Task.ready(job, stored)
        if job.cost < self.inline_below and not job.private:
            return self._inline(job)
        with self._lock:
            task = self._tasks.get(job.key)
            if task is None:
                task = Task(job)
                self._tasks[job.key] = task
                heapq.heappush(self._queue, (job.cost, next(self._arrival), task))
                self._lock.notify()
            task.touch()
            return task

    def _inline(self, job: Job) -> Task:
        """A cheap job computed in the caller's thread, its result stored as a worker's would be."""
        task = Task(job)
        try:
            task.result = job()
            task.state = "done"
            self.store.put(job.key, task.result)
        except Exception as error:  # a job's failure is shown on its section, as from a worker
            task.error, task.state = error, "failed"
        task.finished.set()
        return task

    def ahead(self, task: Task) -> int:
        """How many jobs run or wait before this queued one."""
        with self._lock:
            if task.state != "queued":
                return 0
            mine = next(((cost, arrival) for cost, arrival, queued in self._queue if queued is task), None)
            if mine is None:
                return self._running
            return sum(1 for cost, arrival, _ in self._queue if (cost, arrival) < mine) + self._running

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (for measurement)."""
        return [worker.process.pid for worker in self._workers if worker.alive]

    def close(self) -> None:
        """Stop the threads and the worker processes (a running job is ended with its process)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for worker in self._workers:
            worker.process.terminate()
        for thread in self._threads:
            thread.join()
        for worker in self._workers:
            worker.stop()

    def _stale(self, task: Task) -> bool:
        return time.monotonic() - task.last_seen > self.grace

    def _next(self) -> Task | None:
        with self._lock:
            while True:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return None
                _, _, task = heapq.heappop(self._queue)
                if self._stale(task):
                    self._tasks.pop(task.key, None)
                    continue
                task.state = "running"
                self._running += 1
                return task

    def _work(self, slot: int) -> None:
        while (task := self._next()) is not None:
            if not self._workers[slot].alive:
                self._workers[slot] = self._start_worker()
            try:
                result, size = self._workers[slot].run(task.job, self._wanted(task))
                if not task.job.private:
                    self.store.put(task.key, result, size)
                task.result, task.state = result, "done"
            except Cancelled as cancelled:
                task.error, task.state = cancelled, "failed"
            except Exception as error:  # a job's failure is shown on its section, never raised into a worker
                task.error, task.state = error, "failed"
            finally:
                with self._lock:
                    self._running -= 1
                    self._tasks.pop(task.key, None)
                task.finished.set()

    def _wanted(self, task: Task):
        def wanted(fraction: float) -> bool:
            task.fraction = float(fraction)
            return not self._stale(task)
        return wanted
