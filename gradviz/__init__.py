"""gradviz: vanishing and exploding gradients, simulated in plain numpy.

The engine (gradviz.engine), training with the remedies and the symptom checklist (gradviz.training), the
experiments behind each section of the page (gradviz.experiments) and the page's words, charts and
settings (gradviz.page) — no Streamlit anywhere in the package.
"""

from gradviz import datasets
from gradviz.engine.backprop import Gradients, backprop, forward, forward_trace
from gradviz.engine.initializations import SCHEMES, initialize
from gradviz.engine.layers import Dense, Gate, Gated, PreActivation, Residual
from gradviz.engine.meanfield import critical_weight_variance, mean_field
from gradviz.engine.network import Design, Network
from gradviz.engine.normalization import BatchNorm, LayerNorm
from gradviz.experiments.chain import ChainConfig, analyze_chain, exploding_chain, vanishing_chain
from gradviz.experiments.nielsen import nielsen_network
from gradviz.experiments.your_run import read_run
from gradviz.training.descent import Training, train
from gradviz.training.diagnostics import Checklist
from gradviz.training.diagnostics import check_symptoms as diagnose
from gradviz.training.history import History
from gradviz.training.remedies import REMEDIES, L1, L2, ClipAdaptive, ClipNorm, ClipValue, Remedies, applicable

# The chains' older names, kept for notebooks that use them.
seed_exploding = exploding_chain
seed_vanishing = vanishing_chain
