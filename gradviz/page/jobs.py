"""The computations a section asks for, each with its cost estimated before it runs.

A Job names a pure function and its frozen arguments (together they key every cache) and says, in seconds
on a 2-core machine with BLAS on one thread, roughly how long it takes. The page runs a job by itself only
when the whole section's estimate is within the work budget; beyond it, it offers a button.
Estimates are linear models of the work (layers × steps, multiply-adds), with constants measured on this
machine (2 cores, one BLAS thread) by timing the experiments at small and large settings; they are right
within a factor of about 1.5 on the settings measured (the chain at depth 10,000, plain and gated; Nielsen's
network at 4 × 30 and 6 × 100; the RNN at T = 50 and 1,000; the deep networks at 30 × 256 and 100 × 512).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

BUDGET_SECONDS = 10.0
# Seconds per unit of work, measured (scripts/bench.py --calibrate).
PER_CHAIN_LAYER = 8e-7             # one backprop of a width-1 chain, per layer
GATED_CHAIN = 2.5                  # a gated chain's backprop and update, against a plain one's
PER_BACKPROP = 4e-4                # fixed cost of one backprop call
PER_MULTIPLY_ADD = 1.0e-10          # a dense layer's forward and backward, per multiply-add of the forward pass
PER_RNN_STEP = 4e-5                # one step of backprop through time, small width
PER_UPLOAD_BYTE = 7e-8             # reading a run's CSV, per byte (a 2.5 MB long file: 0.18 s)
PER_UPLOAD = 0.02                  # fixed cost of reading one


@dataclass(frozen=True)
class Stream:
    """A large buffer handed to a job as a binary file-like object, keyed by its SHA-256 digest.

    The job board reads the buffer in place (a memoryview, no copy) and sends it to the job's worker process
    in chunks, as the job reads them; pickling a Stream (to send a job to a worker) drops the buffer, so the
    bytes never travel whole.
    """

    digest: str
    size: int
    buffer: memoryview | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, data) -> Stream:
        """A stream over any bytes-like object (bytes, bytearray, memoryview), without copying it."""
        view = memoryview(data).cast("B")
        return cls(hashlib.sha256(view).hexdigest(), view.nbytes, view)

    def __getstate__(self) -> dict:
        return {"digest": self.digest, "size": self.size, "buffer": None}


@dataclass(frozen=True)
class Job:
    """run(*args, progress=…) -> result, keyed by the function and its frozen arguments; `what` names it for
    people (a catalogue key) and `cost` is the estimated seconds. A Stream among the arguments reaches `run`
    as a binary file-like object. A private job's result goes only to the sessions that asked for it: it is
    not kept in the shared store (an upload is read for its visitor alone) and never written to disk."""

    run: Callable
    args: tuple
    what: str
    cost: float
    progress: bool = False
    private: bool = False

    @property
    def key(self) -> tuple:
        return (self.run.__module__, self.run.__qualname__, self.args)

    def __call__(self, progress: Callable[[float], None] | None = None):
        return self.run(*self.args, progress=progress) if self.progress else self.run(*self.args)


def chain_analysis_cost(depth: int) -> float:
    return PER_BACKPROP + PER_CHAIN_LAYER * depth


def chain_training_cost(depth: int, steps: int, gated: bool = False) -> float:
    return (steps + 1) * (PER_BACKPROP + (GATED_CHAIN if gated else 1.0) * PER_CHAIN_LAYER * depth)


def dense_training_cost(sizes: list[int], rows: int, epochs: int) -> float:
    """Full-batch training: each epoch a forward and a backward pass over `rows` examples."""
    multiply_adds = rows * sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return (epochs + 1) * (PER_BACKPROP * len(sizes) + 3 * PER_MULTIPLY_ADD * multiply_adds)


def recurrent_cost(steps: int, width: int, batch: int, updates: int) -> float:
    per_pass = steps * (PER_RNN_STEP + 3 * PER_MULTIPLY_ADD * batch * width * width)
    return (updates + 1) * per_pass


def upload_cost(size: int) -> float:
    """Reading an uploaded run of `size` bytes."""
    return PER_UPLOAD + PER_UPLOAD_BYTE * size


def section_cost(jobs: dict[str, Job]) -> float:
    """The estimated seconds of a section's jobs, run one after the other."""
    return sum(job.cost for job in jobs.values())

