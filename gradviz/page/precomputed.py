"""Results of the default view and its neighbours, shipped with the app so they answer at once.

The neighbours are the default settings with each remedy switch turned on alone, and with all four on;
for each, every section's jobs (its training panel's too) and every lesson step's. They are computed by `python scripts/precompute.py` into
gradviz/data/precomputed.pkl.gz (a pickle of {job key: result}, versioned by the package's code hash) and
a test recomputes them to check they equal a fresh computation. Shipping beats a warm-up at server start
here: Streamlit Community Cloud starts a sleeping app when its first visitor arrives, so a warm-up would run
exactly when that visitor is waiting.
"""

from __future__ import annotations

import gzip
import time
import hashlib
import pickle
from dataclasses import replace
from importlib.resources import files

from gradviz.training.history import History

from gradviz.page.settings import DEFAULTS

REMEDY_SWITCHES = ("relu", "gating", "clip", "regularize")
FILE_NAME = "precomputed.pkl.gz"


def neighbour_values() -> list[dict]:
    """The default settings, each remedy switch on alone, and all four on."""
    variants = [{}] + [{switch: True} for switch in REMEDY_SWITCHES] + [{switch: True for switch in REMEDY_SWITCHES}]
    return [{**DEFAULTS, **variant} for variant in variants]


def neighbour_jobs() -> dict:
    """{job key: job} of every section, training panel and lesson step for every neighbour (shared jobs once)."""
    from gradviz.page.lesson import STEPS
    from gradviz.page.sections import SECTIONS
    from gradviz.page.state import PageState

    jobs = {}
    for values in neighbour_values():
        state = PageState.of(values)
        for section in SECTIONS.values():
            kinds = [section.jobs] + ([section.training_jobs] if section.training_jobs else [])
            for job in (job for kind in kinds for job in kind(state).values()):
                jobs[job.key] = job
        for step in STEPS:
            for job in step.jobs(state).values():
                jobs[job.key] = job
    return jobs


def code_version() -> str:
    """A hash of the library's source files: results computed by other code are not used."""
    digest = hashlib.sha256()
    root = files("gradviz")
    for folder in ("engine", "training", "experiments"):
        for resource in sorted(root.joinpath(folder).iterdir(), key=lambda r: r.name):
            if resource.name.endswith(".py"):
                digest.update(resource.name.encode() + resource.read_bytes())
    digest.update(root.joinpath("datasets.py").read_bytes())
    return digest.hexdigest()[:16]


def _shipped(result):
    """The result as the page uses it: a training record without its trained network (the page never draws
    it, and Nielsen's weights are most of the bytes)."""
    return replace(result, network=None) if isinstance(result, History) else result


def compute_all(progress=None) -> dict:
    """Every neighbour job's result: {key: result}."""
    jobs = neighbour_jobs()
    results = {}
    for count, (key, job) in enumerate(jobs.items(), start=1):
        results[key] = _shipped(job())
        if progress is not None:
            progress(count / len(jobs))
    return results


def dump(results: dict) -> bytes:
    return gzip.compress(pickle.dumps({"version": code_version(), "results": results}, protocol=5), mtime=0)


def load_precomputed() -> dict:
    """The shipped results, or nothing if the file is missing, damaged or from other code."""
    try:
        payload = pickle.loads(gzip.decompress(files("gradviz").joinpath("data", FILE_NAME).read_bytes()))
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError):
        return {}
    if not isinstance(payload, dict) or payload.get("version") != code_version():
        return {}
    return payload["results"]



def warm_views(results, views, languages=("en", "zh"), pause: float = 0.05, delay: float = 0.0) -> None:
    """Draw the lesson's steps (each remedy step for every answer) and the first section for the default
    settings and every neighbour, in every language, from the shipped results, into the view store — so a
    click from the first page only has to send a view. Meant for a background thread at server start: one
    view at a time, with a pause between, after `delay` seconds."""
    from gradviz.page import lesson
    from gradviz.page.i18n import Words
    from gradviz.page.sections import SECTIONS
    from gradviz.page.settings import step_view_key, view_key
    from gradviz.page.state import PageState
    from gradviz.page.views import prepare

    time.sleep(delay)
    for values in neighbour_values():
        state = PageState.of(values)
        for number, step in enumerate(lesson.STEPS, start=1):
            found = _found(step.jobs(state), results)
            for lang, answer in ((lang, answer) for lang in languages for answer in (step.options or (None,))):
                key = step_view_key(number, values, lang, answer)
                if found is not None and key not in views:
                    views.put(key, prepare(lesson.render(step, state, found, Words(lang), answer)))
                    time.sleep(pause)
        found = _found(SECTIONS["chain"].jobs(state), results)
        for lang in languages:
            key = view_key("chain", values, lang)
            if found is not None and key not in views:
                views.put(key, prepare(SECTIONS["chain"].render(state, found, Words(lang))))
                time.sleep(pause)


def _found(jobs: dict, results) -> dict | None:
    """{name: result} when every job's result is stored, else None."""
    found = {name: results.get(job.key) for name, job in jobs.items()}
    return None if any(result is None for result in found.values()) else found
