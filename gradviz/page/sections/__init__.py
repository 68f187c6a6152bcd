"""The page's sections, in the article's order: each turns its settings and results into blocks.

A section has jobs(state) -> {name: Job} (what to compute, with cost estimates) and
render(state, results, words) -> tuple of blocks (gradviz.page.blocks); `what` names its work for people.
A section that trains has its training panel apart (training_jobs, render_training), drawn on demand: the
view at initialization answers at once, the training runs when asked for.
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
    training_jobs: Callable | None = None
    render_training: Callable | None = None


SECTIONS = {
    "chain": Section("jobs.chain_training", chain.jobs, chain.render, chain.training_jobs, chain.render_training),
    "layers": Section("jobs.nielsen_training", layers.jobs, layers.render, layers.training_jobs,
                      layers.render_training),
    "time": Section("jobs.rnn_training", time.jobs, time.render, time.training_jobs, time.render_training),
    "deep": Section("jobs.deep", deep.jobs, deep.render),
    "theory": Section("jobs.theory", theory.jobs, theory.render),
    "run": Section("jobs.run", run.jobs, run.render),
}
