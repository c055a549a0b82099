"""Display names of arms, models and measures.

One place for the names that both an experiment's tables and the figures drawn
from its saved result show, so the two always agree (figures read saved files and
never import an experiment).
"""

from __future__ import annotations

__all__ = ["ROBUSTNESS_MODELS", "ROBUSTNESS_MEASURES", "PLASTICITY_ARMS", "SGSNN_ARMS"]

#: Models of the robustness study (``sleep-snn robustness``).
ROBUSTNESS_MODELS = {"baseline": "baseline (SGD)", "src": "SRC (baseline + sleep)", "sam": "SAM", "gnp": "GNP"}
#: Measures of the robustness study.
ROBUSTNESS_MEASURES = {
    "accuracy": "accuracy (%)",
    "sharpness_seed000": "sharpness S(θ; ε) (seed 000)",
    "sharpness_sam": "SAM sharpness",
    "hessian_top": "top Hessian eigenvalue",
    "loss": "loss at θ",
    "grad_norm": "‖∇L(θ)‖",
    "zero_output_fraction": "fraction of inputs with all outputs 0",
}
#: Arms of the loss-of-plasticity study (``sleep-snn plasticity``).
PLASTICITY_ARMS = {"sgd": "SGD", "sam": "SAM", "gnp": "GNP", "src": "SGD + SRC"}
#: Arms of the surrogate-gradient SNN scan (``sleep-snn sgsnn``).
SGSNN_ARMS = {"ff": "SG-SNN (feed-forward)", "recurrent": "SG-SNN (recurrent, BPTT)"}
