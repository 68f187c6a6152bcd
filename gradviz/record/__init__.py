"""Recorders that write a training run's per-layer gradient log, the file gradviz's "Your run" reads.

    from gradviz.record import TorchRecorder    # PyTorch: gradviz/record/pytorch.py
    from gradviz.record import KerasRecorder    # Keras 3 on the torch backend: gradviz/record/keras3.py

Neither torch nor keras is imported until a recorder is asked for, so gradviz imports without them. Each
recorder is one file that imports nothing from gradviz: on a training machine without gradviz, copy the
file next to the training script.
"""

from __future__ import annotations

from importlib import import_module

RECORDERS = {"TorchRecorder": "gradviz.record.pytorch", "KerasRecorder": "gradviz.record.keras3"}
__all__ = list(RECORDERS)


def __getattr__(name: str):
    if name in RECORDERS:
        return getattr(import_module(RECORDERS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
