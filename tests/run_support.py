"""Helpers for the tests of a user's run: a CSV written line by line, and the one error a file gives."""

from __future__ import annotations

import pytest

from gradviz.experiments.your_run import RunFileError, load_run


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def error_of(data) -> RunFileError:
    with pytest.raises(RunFileError) as caught:
        load_run(data)
    return caught.value
