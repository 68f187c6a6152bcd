"""One compute budget for the whole server: at most N jobs at once across every visitor, the rest queued,
the cheapest first (a chain's 30 ms never waits behind Nielsen's network's second).

A job is requested by its key (gradviz.page.jobs.Job); identical requests share one computation, and a
finished result goes into a ByteStore that every later request reads. Sessions that wait for a job touch
it every fraction of a second; a queued or running job that nobody has touched for `grace` seconds is
dropped (a running one stops at its next progress report), so a closed tab costs nothing. Workers are
daemon threads; everything here is plain Python, no Streamlit.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time

from gradviz.page.jobs import Job
from gradviz.page.store import ByteStore

GRACE_SECONDS = 5.0


class Cancelled(Exception):
    """Raised inside a job's progress report when no session wants its result any more."""


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
    """Runs jobs on `workers` threads, queued in arrival order, each key once; results kept in `store`."""

    def __init__(self, workers: int, store: ByteStore, grace: float = GRACE_SECONDS):
        self.store = store
        self.grace = grace
        self._queue: list[tuple[float, int, Task]] = []
        self._arrival = itertools.count()
        self._tasks: dict = {}
        self._running = 0
        self._lock = threading.Condition()
        for _ in range(max(1, workers)):
            threading.Thread(target=self._work, daemon=True).start()

    def request(self, job: Job) -> Task:
        """The job's task: finished at once if its result is stored, else the shared queued or running one."""
        stored = self.store.get(job.key)
        if stored is not None:
            return Task.ready(job, stored)
        with self._lock:
            task = self._tasks.get(job.key)
            if task is None:
                task = Task(job)
                self._tasks[job.key] = task
                heapq.heappush(self._queue, (job.cost, next(self._arrival), task))
                self._lock.notify()
            task.touch()
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

    def _stale(self, task: Task) -> bool:
        return time.monotonic() - task.last_seen > self.grace

    def _next(self) -> Task:
        with self._lock:
            while True:
                while not self._queue:
                    self._lock.wait()
                _, _, task = heapq.heappop(self._queue)
                if self._stale(task):
                    self._tasks.pop(task.key, None)
                    continue
                task.state = "running"
                self._running += 1
                return task

    def _work(self) -> None:
        while True:
            task = self._next()
            try:
                result = task.job(progress=self._reporter(task))
                self.store.put(task.key, result)
                task.result, task.state = result, "done"
            except Cancelled:
                task.state = "failed"
                task.error = Cancelled()
            except Exception as error:  # a job's failure is shown on its section, never raised into a worker
                task.error, task.state = error, "failed"
            finally:
                with self._lock:
                    self._running -= 1
                    self._tasks.pop(task.key, None)
                task.finished.set()

    def _reporter(self, task: Task):
        def report(fraction: float) -> None:
            task.fraction = float(fraction)
            if self._stale(task):
                raise Cancelled()
        return report
