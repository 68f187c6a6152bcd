"""The C heap of a long-lived process: fewer malloc arenas, and freed memory handed back to the system.

glibc keeps what a computation freed for later use, so without help a server (or a worker) that once trained a
large network keeps its peak size. On platforms without glibc both calls do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8  # glibc's mallopt parameter


@functools.cache
def libc():
    """glibc, where the platform has it (Linux, as on Streamlit Community Cloud), else None. Looked up once:
    find_library runs `ldconfig -p` in a child process, a fork of the whole server."""
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return library if library is not None and hasattr(library, "malloc_trim") else None


def limit_arenas(arenas: int = 2) -> None:
    """At most `arenas` malloc arenas, not eight per core: the garbage of many threads is shared."""
    library = libc()
    if library is not None:
        library.mallopt(M_ARENA_MAX, arenas)


def release_memory() -> None:
    """Hand the heap that a finished computation freed back to the system, so memory returns after heavy work."""
    library = libc()
    if library is not None:
        library.malloc_trim(0)
