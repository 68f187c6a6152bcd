"""Results of the default view and its neighbours, shipped with the app so they answer at once.

The neighbours are the default settings with each remedy switch turned on alone, and with all four on;
for each, every section's jobs. They are computed by `python scripts/precompute.py` into
gradviz/data/precomputed.pkl.gz (a pickle of {job key: result}, versioned by the package's code hash) and
a test recomputes them to check they equal a fresh computation. Shipping beats a warm-up at server start
here: Streamlit Community Cloud starts a sleeping app when its first visitor arrives, so a warm-up would run
exactly when that visitor is waiting.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
from importlib.resources import files

from gradviz.page.settings import DEFAULTS

REMEDY_SWITCHES = ("relu", "gating", "clip", "regularize")
FILE_NAME = "precomputed.pkl.gz"


def neighbour_values() -> list[dict]:
    """The default settings, each remedy switch on alone, and all four on."""
    variants = [{}] + [{switch: True} for switch in REMEDY_SWITCHES] + [{switch: True for switch in REMEDY_SWITCHES}]
    return [{**DEFAULTS, **variant} for variant in variants]


def neighbour_jobs() -> dict:
    """{job key: job} of every section for every neighbour (shared jobs once)."""
    from gradviz.page.sections import SECTIONS
    from gradviz.page.state import PageState

    jobs = {}
    for values in neighbour_values():
        state = PageState.of(values)
        for section in SECTIONS.values():
            for job in section.jobs(state).values():
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


def compute_all(progress=None) -> dict:
    """Every neighbour job's result: {key: result}."""
    jobs = neighbour_jobs()
    results = {}
    for count, (key, job) in enumerate(jobs.items(), start=1):
        results[key] = job()
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

