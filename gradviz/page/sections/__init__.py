"""The page's sections, in the article's order: each turns its settings and results into blocks.

A section has jobs(state) -> {name: Job} (what to compute, with cost estimates) and
render(state, results, words) -> tuple of blocks (gradviz.page.blocks); `what` names its work for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gradviz.page.sections import chain, deep, layers, run, theory, time


@dataclass(frozen=True)
class Section:
    what: str
    jobs: Callable
    render: Callable


SECTIONS = {
    "chain": Section("jobs.chain_training", chain.jobs, chain.render),
    "layers": Section("jobs.nielsen_training", layers.jobs, layers.render),
    "time": Section("jobs.rnn_training", time.jobs, time.render),
    "deep": Section("jobs.deep", deep.jobs, deep.render),
    "theory": Section("jobs.theory", theory.jobs, theory.render),
    "run": Section("jobs.run", run.jobs, run.render),
}
