"""Results of the default view and its neighbours, shipped with the app so they answer at once.

The neighbours are the default settings with each remedy switch turned on alone (a choice: each of its values), and
with all of them on;
for each, every section's jobs (its training panel's too) and every lesson step's. They are computed by `python scripts/precompute.py` into
gradviz/data/precomputed.pkl.gz (a pickle of {job key: result}, versioned by the package's code hash) and
a test recomputes them to check they equal a fresh computation. Shipping beats a warm-up at server start
here: Streamlit Community Cloud starts a sleeping app when its first visitor arrives, so a warm-up would run
exactly when that visitor is waiting.

The file also names the numerical environment it was computed in, and is used only there. The same code gives
the same bits only on the same numpy, BLAS and CPU kernels: on another numpy build the last bits differ, and the
chaotic runs amplify them into what a reader sees (numpy 2.5.5 / OpenBLAS 0.3.34 against 2.4.6 / 0.3.31: the
exploding RNN's trained gradients differ by up to 85 decades, Nielsen's network's by a factor of 1.8). Elsewhere
the page computes its results itself, as for any setting not shipped (the Dockerfile rebuilds the file for its
image).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import platform
import pickle
import time
from dataclasses import replace
from importlib.resources import files

from gradviz.training.history import History

from gradviz.page.settings import DEFAULTS, SETTINGS, SWITCHES

FILE_NAME = "precomputed.pkl.gz"


def _on(switch: str) -> list:
    """The values that turn a remedy switch on: True, or each of its choices but the default (off)."""
    setting = SETTINGS[switch]
    return [True] if setting.kind == "bool" else [value for value in setting.choices if value != setting.default]


def neighbour_values() -> list[dict]:
    """The default settings, each remedy switch on alone (each of its values), and all of them on (a choice at its
    last value: layer norm, which applies wherever normalization does)."""
    variants = [{}] + [{switch: value} for switch in SWITCHES for value in _on(switch)]
    variants.append({switch: _on(switch)[-1] for switch in SWITCHES})
    return [{**DEFAULTS, **variant} for variant in variants]


def neighbour_jobs() -> dict:
    """{job key: job} of every section, training panel and lesson step for every neighbour (shared jobs once)."""
    from gradviz.page.lesson import STEPS
    from gradviz.page.sections import SECTIONS
    from gradviz.page.state import PageState

    jobs = {}
    for values in neighbour_values():
        state, lesson = PageState.of(values), PageState.of({**values, "lesson": True})
        for section in SECTIONS.values():
            kinds = [section.jobs] + ([section.training_jobs] if section.training_jobs else [])
            for job in (job for kind in kinds for job in kind(state).values()):
                jobs[job.key] = job
        for step in STEPS:
            for job in step.jobs(lesson).values():
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


def numerical_environment() -> dict:
    """What decides a computation's last bits besides the code: numpy's version and the CPU kernel each of its
    functions dispatches to here, the BLAS library, its version and the kernel set it chose for this CPU, and the
    C library (libm)."""
    import numpy as np
    from numpy.lib.introspect import opt_func_info
    from threadpoolctl import threadpool_info

    kernels = {name: {dtype: info["current"] for dtype, info in by_type.items()}
               for name, by_type in opt_func_info().items()}
    blas = sorted(f"{pool['internal_api']} {pool['version']} {pool.get('architecture')}"
                  for pool in threadpool_info() if pool["user_api"] == "blas")
    return {"machine": platform.machine(), "libc": " ".join(platform.libc_ver()), "numpy": np.__version__,
            "numpy kernels": hashlib.sha256(json.dumps(kernels, sort_keys=True).encode()).hexdigest()[:16],
            "blas": blas}


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
    payload = {"version": code_version(), "environment": numerical_environment(), "results": results}
    return gzip.compress(pickle.dumps(payload, protocol=5), mtime=0)


def shipped_payload() -> dict:
    """The shipped file as written ({"version", "environment", "results"}), or {} if it is missing or damaged."""
    try:
        payload = pickle.loads(gzip.decompress(files("gradviz").joinpath("data", FILE_NAME).read_bytes()))
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def load_precomputed() -> dict:
    """The shipped results, or nothing if the file is missing, damaged, from other code or from another numerical
    environment."""
    payload = shipped_payload()
    if payload.get("version") != code_version() or payload.get("environment") != numerical_environment():
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
        state, in_lesson = PageState.of(values), PageState.of({**values, "lesson": True})
        for number, step in enumerate(lesson.STEPS, start=1):
            found = _found(step.jobs(in_lesson), results)
            for lang, answer in ((lang, answer) for lang in languages for answer in (step.options or (None,))):
                key = step_view_key(number, dict(in_lesson.values), lang, answer)
                if found is not None and key not in views:
                    views.put(key, prepare(lesson.render(step, in_lesson, found, Words(lang), answer)))
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
