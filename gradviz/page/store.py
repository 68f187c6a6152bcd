"""A thread-safe least-recently-used store bounded in bytes, shared by every visitor of one server.

Sizes are measured, not guessed: a value's size is the bytes of every numpy array and pandas frame it
holds (through dataclass fields, tuples, lists and dicts), plus a small constant per object.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict

import numpy as np
import pandas as pd

OBJECT_BYTES = 64


def nbytes(value, _depth: int = 0) -> int:
    """The bytes a value holds in arrays and frames, found through its containers (to a depth of 6)."""
    if _depth > 6:
        return OBJECT_BYTES
    if isinstance(value, np.ndarray):
        return value.nbytes + OBJECT_BYTES
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return int(value.memory_usage(deep=True).sum()) if isinstance(value, pd.DataFrame) else int(value.memory_usage(deep=True))
    if isinstance(value, (bytes, str)):
        return len(value) + OBJECT_BYTES
    if isinstance(value, dict):
        return OBJECT_BYTES + sum(nbytes(k, _depth + 1) + nbytes(v, _depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return OBJECT_BYTES + sum(nbytes(v, _depth + 1) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return OBJECT_BYTES + sum(nbytes(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value))
    if hasattr(value, "__dict__"):
        return OBJECT_BYTES + sum(nbytes(v, _depth + 1) for v in vars(value).values())
    return OBJECT_BYTES


class ByteStore:
    """key -> value, keeping at most `budget` bytes; the least recently used values go first."""

    def __init__(self, budget: int):
        self.budget = budget
        self._items: OrderedDict = OrderedDict()
        self._sizes: dict = {}
        self._lock = threading.Lock()
        self.used = 0

    def get(self, key, default=None):
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key, value, size: int | None = None) -> None:
        """Keep value under key (a value larger than the whole budget is not kept)."""
        size = nbytes(value) if size is None else size
        with self._lock:
            if key in self._items:
                self.used -= self._sizes.pop(key)
                del self._items[key]
            if size > self.budget:
                return
            self._items[key] = value
            self._sizes[key] = size
            self.used += size
            while self.used > self.budget:
                old, _ = self._items.popitem(last=False)
                self.used -= self._sizes.pop(old)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
