"""The dashboard's settings: every sidebar widget's kind, default and range, keyed by its URL name.

Plain data (no Streamlit), so app.py, the URL parser and the tests share one definition.
"""

from gradviz.urlstate import Param

MAX_DEPTH = 10_000

PAGE_SETTINGS = {
    "depth": Param("int", 4, 1, MAX_DEPTH),
    "a0": Param("float", 1.0, -10.0, 10.0),
    "y": Param("float", 0.0, -10.0, 10.0),
    "seed": Param("int", 0, 0, 2**31 - 1),
    "relu": Param("bool", False),
    "gating": Param("bool", False),
    "forget_bias": Param("float", 3.0, -5.0, 10.0),
    "clip": Param("bool", False),
    "clip_by": Param("choice", "global norm", choices=("global norm", "value")),
    "clip_threshold": Param("float", 1.0, 1e-3, 1e6),
    "regularize": Param("bool", False),
    "penalty": Param("choice", "L2", choices=("L2", "L1")),
    "lmbda": Param("float", 5.0, 0.0, 100.0),
    "steps": Param("int", 30, 1, 200),
    "eta": Param("float", 0.1, 1e-4, 100.0),
    "hidden": Param("int", 4, 1, 6),
    "width": Param("int", 30, 5, 100),
    "epochs": Param("int", 100, 1, 500),
    "overlay": Param("bool", True),
}
