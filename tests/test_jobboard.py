"""JobBoard (gradviz/page/jobboard.py): one compute budget for the whole server.

Identical requests share one computation, at most N jobs run at once and the rest wait in arrival order with
their place in the queue, a job nobody waits for any more stops (at its next progress report) or never starts,
and a job's failure is recorded on its task, never raised into a worker.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from gradviz.page.jobboard import Cancelled, JobBoard, Task
from gradviz.page.jobs import Job
from gradviz.page.store import ByteStore

WAIT = 10.0  # seconds a test waits at most for something that should happen at once
CALLS: Counter = Counter()
RUNNING = {"now": 0, "most": 0}
LOCK = threading.Lock()


def compute(tag, gate=None, progress=None):
    """Count the call, note how many run at once, wait for the gate, answer."""
    with LOCK:
        CALLS[tag] += 1
        RUNNING["now"] += 1
        RUNNING["most"] = max(RUNNING["most"], RUNNING["now"])
    try:
        if gate is not None:
            assert gate.wait(WAIT)
        return f"result {tag}"
    finally:
        with LOCK:
            RUNNING["now"] -= 1


def long_loop(tag, steps, progress=None):
    """A job that reports progress at every step, as the training loops do."""
    for step in range(steps):
        CALLS[tag] += 1
        progress(step / steps)
        time.sleep(0.01)
    return tag


def fails(tag, progress=None):
    raise ValueError(f"bad input {tag}")


def job(run, *args) -> Job:
    return Job(run, args, "jobs.chain_analysis", 0.1, progress=True)


def wait_until(condition, timeout=WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def finish(task: Task) -> Task:
    assert task.finished.wait(WAIT)
    return task


@pytest.fixture(autouse=True)
def fresh_counts():
    CALLS.clear()
    RUNNING.update(now=0, most=0)


def test_two_requests_for_one_key_share_one_computation():
    board = JobBoard(2, ByteStore(10**6))
    gate = threading.Event()
    first, second = board.request(job(compute, "a", gate)), board.request(job(compute, "a", gate))
    assert first is second
    gate.set()
    assert finish(first).result == "result a" and first.state == "done"
    assert CALLS["a"] == 1


def test_a_finished_result_answers_later_requests_from_the_store():
    store = ByteStore(10**6)
    board = JobBoard(1, store)
    finish(board.request(job(compute, "b")))
    assert job(compute, "b").key in store
    again = board.request(job(compute, "b"))
    assert again.done and again.result == "result b" and CALLS["b"] == 1


def test_at_most_n_jobs_run_at_once_and_the_rest_know_their_place():
    board = JobBoard(2, ByteStore(10**6))
    gate = threading.Event()
    tasks = [board.request(job(compute, k, gate)) for k in range(5)]
    wait_until(lambda: RUNNING["now"] == 2)
    time.sleep(0.05)  # a third worker would have started by now
    assert RUNNING["now"] == 2
    states = [task.state for task in tasks]
    assert states == ["running", "running", "queued", "queued", "queued"]
    assert [board.ahead(task) for task in tasks] == [0, 0, 2, 3, 4]
    for task in tasks:
        task.touch()
    gate.set()
    assert all(finish(task).state == "done" for task in tasks)
    assert RUNNING["most"] == 2 and sum(CALLS.values()) == 5


def test_a_running_job_nobody_touches_stops_at_its_next_progress_report():
    board = JobBoard(1, ByteStore(10**6), grace=0.15)
    task = board.request(job(long_loop, "c", 1000))
    finish(task)
    assert task.state == "failed" and isinstance(task.error, Cancelled)
    assert CALLS["c"] < 200  # stopped long before its 1,000 steps (10 s)
    assert job(long_loop, "c", 1000).key not in board.store


def test_a_job_that_is_touched_runs_to_the_end():
    board = JobBoard(1, ByteStore(10**6), grace=0.15)
    task = board.request(job(long_loop, "d", 40))
    while not task.done:
        task.touch()
        time.sleep(0.02)
    assert task.state == "done" and task.result == "d" and CALLS["d"] == 40


def test_a_queued_job_nobody_wants_any_more_never_starts():
    board = JobBoard(1, ByteStore(10**6), grace=0.15)
    gate = threading.Event()
    busy = board.request(job(compute, "busy", gate))
    wait_until(lambda: busy.state == "running")
    abandoned = board.request(job(compute, "abandoned"))
    time.sleep(0.3)  # past the grace, untouched
    gate.set()
    finish(busy)
    follow = board.request(job(compute, "after"))  # the worker moves on past the abandoned job
    while not follow.done:
        follow.touch()
        time.sleep(0.01)
    assert CALLS["abandoned"] == 0 and abandoned.state == "queued"
    assert board.request(job(compute, "abandoned")) is not abandoned  # asked again: a new task


def test_a_failure_is_recorded_on_its_task_and_the_board_keeps_working():
    board = JobBoard(1, ByteStore(10**6))
    bad = finish(board.request(job(fails, "e")))
    assert bad.state == "failed" and isinstance(bad.error, ValueError) and bad.result is None
    assert job(fails, "e").key not in board.store
    good = finish(board.request(job(compute, "f")))
    assert good.state == "done" and good.result == "result f"
    again = finish(board.request(job(fails, "e")))  # a failure is not cached: asking again retries
    assert again is not bad and again.state == "failed"


def test_progress_is_visible_while_a_job_runs():
    board = JobBoard(1, ByteStore(10**6))
    task = board.request(job(long_loop, "g", 30))
    wait_until(lambda: task.fraction > 0.3 or task.done)
    seen = task.fraction
    while not task.done:
        task.touch()
        time.sleep(0.01)
    assert 0 < seen < 1 and task.state == "done"
