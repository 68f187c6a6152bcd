"""Rebuild gradviz/data/precomputed.pkl.gz: the results of the default view and its neighbours.

    python scripts/precompute.py

Run it after any change to gradviz/engine, gradviz/training, gradviz/experiments or gradviz/datasets.py
(the file is tagged with a hash of that code and ignored when it does not match; a test says so). The file is
also tagged with the numerical environment it was computed in (numpy, its CPU kernels, BLAS, libc) and used only
there; the Dockerfile runs this script to rebuild it for its image. BLAS runs on one thread, as on the server.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from threadpoolctl import threadpool_limits  # noqa: E402

from gradviz.page.precomputed import FILE_NAME, compute_all, dump, neighbour_jobs, numerical_environment  # noqa: E402


def main() -> None:
    threadpool_limits(1)
    start = time.perf_counter()
    print(f"computing {len(neighbour_jobs())} jobs …", flush=True)
    results = compute_all(lambda done: print(f"\r{done:.0%}", end="", flush=True))
    payload = dump(results)
    path = ROOT / "gradviz" / "data" / FILE_NAME
    path.write_bytes(payload)
    print(f"\nwrote {path.relative_to(ROOT)}: {len(results)} results, {len(payload) / 1024:.0f} KiB, "
          f"{time.perf_counter() - start:.1f} s; for {numerical_environment()}")


if __name__ == "__main__":
    main()
