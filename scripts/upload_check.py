"""Measure how an upload is answered: time and memory of gradviz's reader on large and hostile files.

    .venv/bin/python scripts/upload_check.py            # every case
    .venv/bin/python scripts/upload_check.py hostile    # only the cases whose name contains "hostile"

Each case writes its file to a temporary folder, then reads it with `load_run(path)` in a fresh Python process
that has already imported gradviz's reader (numpy, pandas), so the figures are the reader's own: the wall
time of load_run, the growth of the process's peak resident memory over the imports (ru_maxrss), and the
outcome (the layout read, or the error's message id). Targets (issue 19): any file up to 200 MB answered
with ≤ 300 MB growth; a hostile single line answered in ≤ 1 s. The machine is shared: the load average is
printed with the figures.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
CHILD = """
import json, sys, time
from gradviz.experiments.your_run import RunFileError, load_run
def status(field):
    with open("/proc/self/status") as file:
        return next(int(line.split()[1]) for line in file if line.startswith(field + ":"))
before = status("VmRSS")
start = time.perf_counter()
try:
    run = load_run(sys.argv[1])
    outcome = f"read: {run.file_format} {run.layout}, {run.n_layers} layers, {run.n_steps} steps"
except RunFileError as error:
    outcome = f"refused: {error.key} {error.params}"
seconds = time.perf_counter() - start
peak = status("VmHWM")
print(json.dumps({"seconds": seconds, "growth_mb": (peak - before) / 1024, "outcome": outcome}))
"""


def _long_csv(path: Path, target_bytes: int, n_layers: int = 12, clip: float | None = None) -> None:
    """A recorder's long file (step,layer,grad_norm,loss,weight_norm,update_norm,clipped_norm) of about
    target_bytes: n_layers layers named encoder.layers.k.mlp, every step recorded, clipped at `clip` (each
    layer's norm capped: the clipped column then differs from grad_norm, as with clipping on)."""
    rng = np.random.default_rng(0)
    names = [f"encoder.layers.{k}.mlp" for k in range(n_layers)]
    with open(path, "w", encoding="utf-8") as file:
        file.write("step,layer,grad_norm,loss,weight_norm,update_norm,clipped_norm\n")
        step = 0
        while file.tell() < target_bytes:
            norms = rng.lognormal(-3, 1, (1000, n_layers))
            lines = []
            for row in norms:
                loss = 2.3 * np.exp(-step / 50_000)
                lines += [f"{step},{name},{g:.7g},{loss:.7g},{12.5:.7g},{g * 0.01:.7g},{min(g, clip or g):.7g}\n"
                          for name, g in zip(names, row)]
                step += 10
            file.write("".join(lines))


def _wide_csv(path: Path, n_columns: int, n_rows: int) -> None:
    rng = np.random.default_rng(1)
    with open(path, "w", encoding="utf-8") as file:
        file.write("step," + ",".join(f"grad_norm/layers.{k}.weight" for k in range(n_columns)) + "\n")
        for step in range(n_rows):
            file.write(f"{step}," + ",".join(f"{v:.6g}" for v in rng.lognormal(-3, 1, n_columns)) + "\n")


def _single_line(path: Path, n_fields: int, cell: str) -> None:
    path.write_text(",".join([cell] * n_fields), encoding="utf-8")


def cases() -> dict[str, tuple]:
    """{name: (a function writing the case's file at a path, the file's name)}."""
    return {
        "hostile: 100,000 commas on one line (0.1 MB)": (lambda p: _single_line(p, 100_001, ""), "commas.csv"),
        "hostile: 200,000 numbers on one line (1.3 MB)": (lambda p: _single_line(p, 200_000, "0.12345"), "numbers.csv"),
        "hostile: a 50 MB single line of numbers": (lambda p: _single_line(p, 50 * MB // 8, "0.12345"), "line.csv"),
        "hostile: a header of 20,000 gradient columns, then 100,000 commas a row": (
            lambda p: p.write_text("step," + ",".join(f"grad_norm/l{k}" for k in range(19_999)) + "\n"
                                   + ("0" + "," * 100_000 + "\n") * 10, encoding="utf-8"), "wide_header.csv"),
        "hostile: gzip of 1 GB of newlines (a decompression bomb)": (
            lambda p: p.write_bytes(gzip.compress(b"\n" * (1024 * MB), compresslevel=9)), "bomb.csv.gz"),
        "hostile: deeply nested JSON (1 MB of [)": (lambda p: p.write_text("[" * MB, encoding="utf-8"), "nested.json"),
        "large: a 100 MB long CSV (recorder layout, 12 layers)": (lambda p: _long_csv(p, 100 * MB), "long100.csv"),
        "large: a 190 MB long CSV (recorder layout, 12 layers)": (lambda p: _long_csv(p, 190 * MB), "long190.csv"),
        "large: a 190 MB long CSV with clipping on (every column kept)": (
            lambda p: _long_csv(p, 190 * MB, clip=0.05), "long190clip.csv"),
        "large: a 5,000-column wide CSV (1,000 rows)": (lambda p: _wide_csv(p, 5_000, 1_000), "wide5000.csv"),
        "large: 190 MB of JSON Lines": (lambda p: p.write_text("".join(
            json.dumps({"step": s, "layer": f"layers.{k}", "grad_norm": 0.01 * (k + 1), "loss": 1.0}) + "\n"
            for s in range(300_000) for k in range(10)), encoding="utf-8"), "run.jsonl"),
    }


def measure(path: Path) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=environment,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    wanted = sys.argv[1] if len(sys.argv) > 1 else ""
    with tempfile.TemporaryDirectory() as folder:
        table = cases()
        print(f"load average at the start: {os.getloadavg()[0]:.2f}")
        print("| case | file | answered in | memory growth | outcome |")
        print("| --- | --- | --- | --- | --- |")
        for name, (write, file_name) in table.items():
            if wanted not in name:
                continue
            path = Path(folder) / file_name
            write(path)
            result = measure(path)
            print(f"| {name} | {path.stat().st_size / MB:.1f} MB | {result['seconds']:.3f} s | "
                  f"{result['growth_mb']:.0f} MB | {result['outcome']} |", flush=True)
            path.unlink()
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
