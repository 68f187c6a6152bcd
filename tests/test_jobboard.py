"""JobBoard (gradviz/page/jobboard.py): one compute budget for the whole server, computed in worker processes.

Identical requests share one computation, at most N jobs run at once and the rest wait, cheapest first, with
their place in the queue, a job nobody waits for any more stops (at its next progress report or read) or never
starts, and a job's failure is recorded on its task, never raised into a worker. The jobs run in other processes
(BLAS on one thread there); a Stream reaches its job as a binary file read in chunks, never pickled whole; a
private result stays out of the shared store; a worker that dies fails its job and is replaced.

The jobs below run in the workers, so they leave their traces in files of a test's folder: a line per call in
calls-<tag>, a file running-<tag> while they run, and they wait for a file named `gate` when asked to.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import time
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info

from gradviz.page.jobboard import Cancelled, JobBoard, Task, WorkerLost, available_cores, default_workers
from gradviz.page.jobs import Job, Stream
from gradviz.page.store import ByteStore

WAIT = 20.0  # seconds a test waits at most for something that should happen at once (a worker starts in ~1 s)


def _calls(folder: Path, tag) -> int:
    path = folder / f"calls-{tag}"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _running(folder: Path) -> int:
    return len(list(folder.glob("running-*")))


def compute(tag, folder: str, gated: bool = False, progress=None):
    """Note the call and how many jobs run now, wait for the gate if asked, answer."""
    folder = Path(folder)
    with open(folder / f"calls-{tag}", "a") as calls:
        calls.write("call\n")
    mark = folder / f"running-{tag}"
    mark.touch()
    try:
        with open(folder / "concurrency", "a") as seen:
            seen.write(f"{_running(folder)}\n")
        deadline = time.monotonic() + WAIT
        while gated and not (folder / "gate").exists():
            assert time.monotonic() < deadline
            time.sleep(0.005)
        return f"result {tag}"
    finally:
        mark.unlink()


def long_loop(tag, steps, folder: str, progress=None):
    """A job that reports progress at every step, as the training loops do."""
    for step in range(steps):
        with open(Path(folder) / f"calls-{tag}", "a") as calls:
            calls.write("step\n")
        progress(step / steps)
        time.sleep(0.01)
    return tag


def fails(tag, progress=None):
    raise ValueError(f"bad input {tag}")


class KeyedError(ValueError):
    """An error whose __init__ takes other arguments than its args (as RunFileError's key and params)."""

    def __init__(self, key: str, **params):
        self.key, self.params = key, params
        super().__init__(f"{key}: {params}")


def fails_keyed(key, progress=None):
    raise KeyedError(key, columns=["grad_norm/**bold**"])


def swallows(progress=None):
    """A job that catches every Exception around its reports: a cancel still stops it."""
    for step in range(10_000):
        try:
            progress(step / 10_000)
        except Exception:
            pass
        time.sleep(0.01)
    return "never"


def where(tag=None, progress=None):
    """The process that runs the job, and its BLAS threads."""
    import numpy  # noqa: F401  (loads BLAS)
    return os.getpid(), sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})


def read_stream(source, chunk: int, progress=None):
    """Read a binary file-like object in pieces: the pieces' sizes and the digest of what was read."""
    digest, sizes = hashlib.sha256(), []
    while piece := source.read(chunk):
        digest.update(piece)
        sizes.append(len(piece))
    return sizes, digest.hexdigest()


def read_slowly(source, folder: str, progress=None):
    """Read a stream a little at a time, noting each read."""
    while source.read(1024):
        with open(Path(folder) / "calls-slow", "a") as calls:
            calls.write("read\n")
        time.sleep(0.01)
    return "read"


def job(run, *args, private: bool = False) -> Job:
    return Job(run, args, "jobs.chain_analysis", 0.1, progress=True, private=private)


def wait_until(condition, timeout=WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def finish(task: Task) -> Task:
    """Wait for the task, touching it as a waiting session does."""
    deadline = time.monotonic() + WAIT
    while not task.done:
        assert time.monotonic() < deadline, "timed out"
        task.touch()
        time.sleep(0.01)
    return task


@pytest.fixture
def boards():
    """make(workers, **options) -> a JobBoard, closed (its processes ended) after the test."""
    made = []

    def make(workers: int = 1, store: ByteStore | None = None, **options) -> JobBoard:
        made.append(JobBoard(workers, ByteStore(10**6) if store is None else store, **options))
        return made[-1]
    yield make
    for board in made:
        board.close()


@pytest.fixture
def folder(tmp_path) -> str:
    return str(tmp_path)


def test_two_requests_for_one_key_share_one_computation(boards, folder):
    board = boards()
    first, second = board.request(job(compute, "a", folder, True)), board.request(job(compute, "a", folder, True))
    assert first is second
    (Path(folder) / "gate").touch()
    assert finish(first).result == "result a" and first.state == "done"
    assert _calls(Path(folder), "a") == 1


def test_a_finished_result_answers_later_requests_from_the_store(boards, folder):
    store = ByteStore(10**6)
    board = boards(store=store)
    finish(board.request(job(compute, "b", folder)))
    assert job(compute, "b", folder).key in store
    again = board.request(job(compute, "b", folder))
    assert again.done and again.result == "result b" and _calls(Path(folder), "b") == 1


def test_at_most_n_jobs_run_at_once_and_the_rest_know_their_place(boards, folder):
    board = boards(2)
    tasks = [board.request(job(compute, k, folder, True)) for k in range(5)]
    wait_until(lambda: _running(Path(folder)) == 2)
    time.sleep(0.1)  # a third worker would have started by now
    assert _running(Path(folder)) == 2
    states = [task.state for task in tasks]
    assert states == ["running", "running", "queued", "queued", "queued"]
    assert [board.ahead(task) for task in tasks] == [0, 0, 2, 3, 4]
    (Path(folder) / "gate").touch()
    assert all(finish(task).state == "done" for task in tasks)
    assert max(int(n) for n in (Path(folder) / "concurrency").read_text().split()) == 2
    assert sum(_calls(Path(folder), k) for k in range(5)) == 5


def test_the_cheapest_queued_job_runs_first(boards, folder):
    board = boards()
    busy = board.request(job(compute, "busy", folder, True))
    wait_until(lambda: busy.state == "running")
    dear = board.request(Job(compute, ("dear", folder), "jobs.chain_analysis", 5.0, progress=True))
    cheap = board.request(Job(compute, ("cheap", folder), "jobs.chain_analysis", 0.01, progress=True))
    assert board.ahead(cheap) == 1 and board.ahead(dear) == 2
    (Path(folder) / "gate").touch()
    finish(busy)
    finish(cheap)
    assert dear.state in ("queued", "running") or finish(dear).state == "done"


def test_jobs_run_in_other_processes_with_blas_on_one_thread(boards):
    board = boards()
    pid, blas_threads = finish(board.request(job(where))).result
    assert pid != os.getpid() and pid in board.worker_pids()
    assert blas_threads == [1]


def test_a_running_job_nobody_touches_stops_at_its_next_progress_report(boards, folder):
    board = boards(grace=0.15)
    task = board.request(job(long_loop, "c", 1000, folder))
    assert task.finished.wait(WAIT)
    assert task.state == "failed" and isinstance(task.error, Cancelled)
    assert _calls(Path(folder), "c") < 200  # stopped long before its 1,000 steps (10 s)
    assert job(long_loop, "c", 1000, folder).key not in board.store


def test_a_cancel_stops_a_job_that_catches_every_exception(boards):
    board = boards(grace=0.15)
    task = board.request(job(swallows))
    assert task.finished.wait(WAIT)
    assert task.state == "failed" and isinstance(task.error, Cancelled)


def test_a_job_that_is_touched_runs_to_the_end(boards, folder):
    board = boards(grace=0.15)
    task = finish(board.request(job(long_loop, "d", 40, folder)))
    assert task.state == "done" and task.result == "d" and _calls(Path(folder), "d") == 40


def test_a_cancel_that_came_too_late_does_not_stop_the_next_job(boards, folder):
    board = boards(grace=0.15)
    first = board.request(job(long_loop, "e1", 1000, folder))
    assert first.finished.wait(WAIT) and isinstance(first.error, Cancelled)
    second = finish(board.request(job(long_loop, "e2", 30, folder)))
    assert second.state == "done" and _calls(Path(folder), "e2") == 30


def test_a_queued_job_nobody_wants_any_more_never_starts(boards, folder):
    board = boards(grace=0.15)
    busy = board.request(job(compute, "busy", folder, True))
    wait_until(lambda: busy.state == "running")
    abandoned = board.request(job(compute, "abandoned", folder))
    time.sleep(0.3)  # past the grace, untouched
    (Path(folder) / "gate").touch()
    finish(busy)
    follow = finish(board.request(job(compute, "after", folder)))  # the worker moves on past the abandoned job
    assert follow.state == "done"
    assert _calls(Path(folder), "abandoned") == 0 and abandoned.state == "queued"
    assert board.request(job(compute, "abandoned", folder)) is not abandoned  # asked again: a new task


def test_a_failure_is_recorded_on_its_task_and_the_board_keeps_working(boards, folder):
    board = boards()
    bad = finish(board.request(job(fails, "e")))
    assert bad.state == "failed" and isinstance(bad.error, ValueError) and bad.result is None
    assert str(bad.error) == "bad input e"
    assert job(fails, "e").key not in board.store
    good = finish(board.request(job(compute, "f", folder)))
    assert good.state == "done" and good.result == "result f"
    again = finish(board.request(job(fails, "e")))  # a failure is not cached: asking again retries
    assert again is not bad and again.state == "failed"


def test_an_exception_comes_back_whole_even_when_its_init_takes_other_arguments(boards):
    task = finish(boards().request(job(fails_keyed, "run.columns")))
    error = task.error
    assert task.state == "failed"
    assert type(error) is KeyedError and error.key == "run.columns" and error.params == {"columns": ["grad_norm/**bold**"]}


def test_progress_is_visible_while_a_job_runs(boards, folder):
    board = boards()
    task = board.request(job(long_loop, "g", 60, folder))
    wait_until(lambda: task.fraction > 0.3 or task.done)
    seen = task.fraction
    finish(task)
    assert 0 < seen < 1 and task.state == "done"


def test_a_stream_reaches_its_job_as_a_file_in_chunks_and_travels_without_its_bytes(boards):
    data = os.urandom(3 * 2**20 + 12345)
    stream = Stream.of(data)
    assert stream.digest == hashlib.sha256(data).hexdigest() and stream.size == len(data)
    assert stream.buffer.obj is data  # a view of the caller's bytes, not a copy
    assert len(pickle.dumps(job(read_stream, stream, 65536))) < 10_000
    task = finish(boards().request(job(read_stream, stream, 65536)))
    sizes, digest = task.result
    assert digest == stream.digest and sum(sizes) == len(data) and max(sizes) == 65536
    assert task.fraction == 1.0  # progress from the bytes read


def test_streams_are_keyed_by_their_digest():
    assert Stream.of(b"abc") == Stream.of(bytearray(b"abc")) and hash(Stream.of(b"abc")) == hash(Stream.of(b"abc"))
    assert Stream.of(b"abc") != Stream.of(b"abd")
    assert job(read_stream, Stream.of(b"abc"), 1).key == job(read_stream, Stream.of(b"abc"), 1).key


def test_a_job_reading_a_stream_nobody_wants_stops_at_its_next_read(boards, folder):
    board = boards(grace=0.15)
    task = board.request(job(read_slowly, Stream.of(bytes(1024 * 1000)), folder))
    assert task.finished.wait(WAIT)
    assert task.state == "failed" and isinstance(task.error, Cancelled)
    assert _calls(Path(folder), "slow") < 200  # of 1,000 reads (10 s)


def test_a_private_result_is_not_kept_in_the_store_but_shared_while_it_runs(boards, folder):
    store = ByteStore(10**6)
    board = boards(store=store)
    first = board.request(job(compute, "p", folder, True, private=True))
    assert board.request(job(compute, "p", folder, True, private=True)) is first
    (Path(folder) / "gate").touch()
    assert finish(first).result == "result p"
    assert len(store) == 0
    again = finish(board.request(job(compute, "p", folder, True, private=True)))
    assert again is not first and _calls(Path(folder), "p") == 2


def test_a_worker_that_dies_fails_its_job_and_is_replaced(boards, folder):
    board = boards()
    task = board.request(job(compute, "killed", folder, True))
    wait_until(lambda: _running(Path(folder)) == 1)
    (victim,) = board.worker_pids()
    os.kill(victim, signal.SIGKILL)
    assert isinstance(finish(task).error, WorkerLost)
    (Path(folder) / "gate").touch()
    after = finish(board.request(job(where, "after")))
    assert after.state == "done" and after.result[0] != victim


def test_a_worker_grown_past_its_limit_is_replaced_after_its_job_and_a_small_one_is_kept(boards):
    kept = boards()
    first, second = (finish(kept.request(job(where, tag))).result[0] for tag in (1, 2))
    assert first == second
    retiring = boards(retire_bytes=1)
    first, second = (finish(retiring.request(job(where, tag))).result[0] for tag in (1, 2))
    assert first != second


def test_closing_a_board_ends_its_worker_processes(folder):
    board = JobBoard(2, ByteStore(10**6))
    finish(board.request(job(compute, "c", folder)))
    pids = board.worker_pids()
    assert len(pids) == 2
    board.close()
    for pid in pids:
        wait_until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2])


def test_the_worker_count_follows_the_setting_else_the_cores_a_container_may_use(tmp_path):
    cpu_max, cores = tmp_path / "cpu.max", len(os.sched_getaffinity(0))
    assert available_cores(cpu_max) == cores  # no cgroup v2 file: the CPU affinity
    for quota, expected in [("max 100000", cores), ("100000 100000", 1), ("50000 100000", 1),
                            ("150000 100000", min(cores, 2)), ("300000 100000", min(cores, 3)), ("garbage", cores)]:
        cpu_max.write_text(quota + "\n")
        assert available_cores(cpu_max) == expected, quota
    cpu_max.write_text("100000 100000\n")
    assert default_workers({}, cpu_max) == 1  # one core: the server's, and still one worker
    assert default_workers({"GRADVIZ_WORKERS": "3"}, cpu_max) == 3
    assert default_workers({"GRADVIZ_WORKERS": "0"}, cpu_max) == default_workers({"GRADVIZ_WORKERS": "x"}, cpu_max) == 1
    cpu_max.write_text("max 100000\n")
    assert default_workers({}, cpu_max) == max(1, cores - 1)
