"""ByteStore (gradviz/page/store.py): a least-recently-used store bounded in bytes, shared by every visitor."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from gradviz.page.store import OBJECT_BYTES, ByteStore, nbytes


def test_it_evicts_the_least_recently_used_first():
    store = ByteStore(100)
    store.put("a", 1, size=40)
    store.put("b", 2, size=40)
    assert store.get("a") == 1  # a is now the most recently used
    store.put("c", 3, size=40)
    assert "b" not in store and store.get("a") == 1 and store.get("c") == 3
    assert store.used == 80 and len(store) == 2


def test_a_value_larger_than_the_budget_is_not_kept_and_evicts_nothing():
    store = ByteStore(100)
    store.put("a", 1, size=60)
    store.put("huge", 2, size=101)
    assert "huge" not in store and store.get("a") == 1 and store.used == 60


def test_putting_a_key_again_replaces_its_value_and_its_size():
    store = ByteStore(100)
    store.put("a", 1, size=30)
    store.put("a", 2, size=70)
    assert store.get("a") == 2 and store.used == 70 and len(store) == 1
    store.put("a", 3, size=500)  # too large now: the old value is gone too, not left stale
    assert "a" not in store and store.used == 0


def test_get_of_a_missing_key_gives_the_default():
    store = ByteStore(10)
    assert store.get("x") is None and store.get("x", 5) == 5


@dataclass(frozen=True)
class Record:
    values: np.ndarray
    frames: dict


def test_sizes_are_measured_through_containers():
    array = np.zeros(1000)
    frame = pd.DataFrame({"x": np.arange(100, dtype=np.float64)})
    assert nbytes(array) == 8000 + OBJECT_BYTES
    assert nbytes(frame) >= 800
    record = Record(array, {"f": frame, "more": [np.zeros(10), (np.zeros(5),)]})
    assert nbytes(record) >= 8000 + 800 + 80 + 40
    assert nbytes([array, array]) >= 16000  # a value's size counts every reference it holds
    assert nbytes(b"x" * 500) >= 500 and nbytes("y" * 500) >= 500


def test_a_stored_value_is_sized_by_its_arrays():
    store = ByteStore(20_000)
    store.put("a", np.zeros(1000))
    store.put("b", np.zeros(1000))
    store.put("c", np.zeros(1000))  # 3 × 8,064 bytes > 20,000: the oldest goes
    assert "a" not in store and len(store) == 2 and store.used <= store.budget


OPS = st.lists(st.one_of(st.tuples(st.just("put"), st.integers(0, 9), st.integers(0, 60)),
                         st.tuples(st.just("get"), st.integers(0, 9), st.just(0))), max_size=60)


@given(OPS)
def test_it_behaves_as_a_least_recently_used_cache_within_its_budget(ops):
    budget = 100
    store, model = ByteStore(budget), OrderedDict()
    for op, key, size in ops:
        if op == "put":
            store.put(key, key * 10, size=size)
            model.pop(key, None)
            if size <= budget:
                model[key] = size
                while sum(model.values()) > budget:
                    model.popitem(last=False)
        else:
            expected = key * 10 if key in model else None
            assert store.get(key) == expected
            if key in model:
                model.move_to_end(key)
        assert store.used == sum(model.values()) <= budget
        assert [k for k in model] == [k for k in model if k in store] and len(store) == len(model)


def test_concurrent_puts_keep_the_budget():
    store = ByteStore(10_000)

    def writer(offset):
        for k in range(300):
            store.put((offset, k), k, size=(k * 37 + offset) % 900 + 1)
            store.get((offset, k // 2))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 0 < store.used <= store.budget
    assert store.used == sum(store._sizes.values()) and set(store._sizes) == set(store._items)
