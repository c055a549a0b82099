"""Sleep controller parameters and the power-law weight decay.

Implements the sleep phase of the homeostatic regularisation of arXiv
2601.08447 ("Sleep-based homeostatic regularisation"): when the total synaptic
weight ``W`` of the chosen pathways exceeds ``alpha_trig * W(0)``, the input is
silenced, membrane noise drives spontaneous activity, STDP keeps running and
every chosen weight relaxes by the power law

    |w| <- w_tgt * (|w| / w_tgt) ** lam        (sign kept, once per time step)

until ``W <= alpha_base * W(0)``, the episode reaches ``max_sleep``, or the
sleep budget (``sleep_ratio``) is spent.

The controller itself runs inside the Brian2 simulation (see
:mod:`spiking.network`); this module holds its parameters and the decay rule
shared by every model of the project (:func:`power_law_decay`). The Brian2
functions the compiled simulation calls (the same decay, the sleep noise, the
early stop) are in :mod:`spiking.functions`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from brian2 import Quantity, mV, ms, second

from .params import PLASTIC_PATHWAYS, ParameterError, check_range

__all__ = [
    "SLEEP_MODES",
    "END_REASONS",
    "SleepParams",
    "power_law_decay",
    "decode_end_reason",
]

SLEEP_MODES = ("off", "trigger", "schedule")
#: bit flags of the reason a sleep episode ended (several can be set at once)
END_REASONS = {1: "baseline", 2: "max_sleep", 4: "budget"}


def decode_end_reason(code: int) -> list[str]:
    """Names of the bit flags set in an end-of-episode ``code`` (see :data:`END_REASONS`)."""
    return [name for bit, name in END_REASONS.items() if int(code) & bit]


def power_law_decay(w: Any, w_tgt: float, lam: float, steps: int | float = 1) -> Any:
    """Relax weights towards a target magnitude by the power law of the sleep phase.

    ``|w| <- w_tgt * (|w| / w_tgt) ** (lam ** steps)``, keeping the sign of each
    weight. Applying it ``n`` times with ``steps=1`` equals one call with
    ``steps=n`` (the rule composes exactly). Works on numpy arrays, torch
    tensors and scalars. This is the single definition of the decay in the
    project: the Brian2 models call it through :data:`sleep_decay`, the
    surrogate-gradient SNN calls it directly.

    Parameters
    ----------
    w : array-like
        Weights (any sign).
    w_tgt : float
        Target magnitude (> 0, same units as ``w``).
    lam : float
        Exponent per step (0 < lam <= 1; 1 = no decay).
    steps : int or float
        Number of steps to apply (>= 0).

    Returns
    -------
    Same type as ``w``.
    """
    if not w_tgt > 0:
        raise ParameterError(f"w_tgt={w_tgt!r} must be > 0")
    if not 0 < lam <= 1:
        raise ParameterError(f"lam={lam!r} is outside the allowed range (0, 1]")
    exponent = lam ** steps
    if hasattr(w, "abs") and hasattr(w, "sign") and not isinstance(w, np.ndarray):  # torch
        return w.sign() * w_tgt * (w.abs() / w_tgt) ** exponent
    w_arr = np.asarray(w, dtype=float)
    out = np.sign(w_arr) * w_tgt * (np.abs(w_arr) / w_tgt) ** exponent
    return out if isinstance(w, np.ndarray) else float(out)


@dataclass(frozen=True)
class SleepParams:
    """Parameters of the sleep controller.

    Attributes
    ----------
    mode : str
        ``"trigger"`` (sleep when W > alpha_trig * W(0)), ``"schedule"`` (sleep
        every ``interval`` of wake time, as the reference code does) or
        ``"off"`` (no controller costs: no decay, no noise). Default "trigger".
    sleep_ratio : float
        Sleep budget, 0 <= r < 1: the total sleep time may never exceed
        ``r / (1 - r)`` times the wake time so far (so that sleep / (sleep +
        wake) <= r). 0 = never sleep. Default 0.
    alpha_trig : float
        Trigger factor (> 0): sleep starts when W > alpha_trig * W(0). Default 1.1.
    alpha_base : float
        Baseline factor (0 < alpha_base <= alpha_trig): sleep ends when
        W <= alpha_base * W(0). Default 1.0.
    w_tgt_inp_exc, w_tgt_exc_exc, w_tgt_inh_exc : float
        Target magnitude of the power-law decay per pathway (> 0, weight units,
        weights lie in [0, 1]). Default 0.05.
    lam : float
        Decay exponent per time step (0 < lam <= 1). Default 0.9997.
    sigma : volt
        Standard deviation of the Gaussian kick added to every membrane
        potential at each time step while sleeping (mV, >= 0). The stationary
        membrane fluctuation is about ``sigma * sqrt(tau_m / (2 dt))``. Default 3 mV.
    max_sleep : second
        Longest single sleep episode (s, > 0). Default 10 s.
    interval : second
        Wake time between sleep episodes in ``schedule`` mode (s, > 0). Default 35 s.
    pathways : tuple of str
        Plastic pathways whose weights count towards W and decay during sleep
        (subset of ``("inp_exc", "exc_exc", "inh_exc")``, non-empty).
        Default ``("inp_exc", "exc_exc")``: the excitatory plastic weights.
    check_interval : second
        How often W is re-summed and the decay applied (ms, multiple of dt,
        >= dt). The decay over one interval of k steps uses the exponent
        ``lam ** k``, which equals k single steps exactly. Default 20 ms
        (W changes slowly; checking every step costs a loop over all synapses).
    fill_budget : bool
        Trigger mode only. False (default): an episode ends when W is back at
        ``alpha_base * W(0)`` (or at ``max_sleep`` or when the budget is
        spent), so the achieved ratio is whatever the weights need (about 1 %
        in the default network) and ``sleep_ratio`` is only a cap. True: the
        trigger still decides *when* to sleep, but an episode lasts until the
        budget is spent (or ``max_sleep``), and the trigger is re-armed
        relative to ``min(W(0), W at the end of the last episode)``: a long
        episode can take W far below W(0), and a trigger at
        ``alpha_trig * W(0)`` would then not fire again until W had regrown
        past it. The achieved ratio follows ``sleep_ratio``, which makes it a
        real knob.
    sticky_spikes : bool
        Reproduce the reference code's sleep-loop defect: a neuron that spikes
        during an episode keeps spiking on every step until the episode ends
        (no refractoriness, reset and adaptation every step). Default False.
    """

    mode: str = "trigger"
    sleep_ratio: float = 0.0
    alpha_trig: float = 1.1
    alpha_base: float = 1.0
    w_tgt_inp_exc: float = 0.05
    w_tgt_exc_exc: float = 0.05
    w_tgt_inh_exc: float = 0.05
    lam: float = 0.9997
    sigma: Quantity = field(default_factory=lambda: 3 * mV)
    max_sleep: Quantity = field(default_factory=lambda: 10 * second)
    interval: Quantity = field(default_factory=lambda: 35 * second)
    pathways: tuple = ("inp_exc", "exc_exc")
    check_interval: Quantity = field(default_factory=lambda: 20 * ms)
    fill_budget: bool = False
    sticky_spikes: bool = False

    def __post_init__(self) -> None:
        if self.mode not in SLEEP_MODES:
            raise ParameterError(
                f"SleepParams.mode={self.mode!r} is not known; allowed: {', '.join(SLEEP_MODES)}"
            )
        check_range(self, "sleep_ratio", 0, 1, hi_open=True)
        check_range(self, "alpha_trig", 0, None, lo_open=True)
        check_range(self, "alpha_base", 0, None, lo_open=True)
        if self.alpha_base > self.alpha_trig:
            raise ParameterError(
                f"SleepParams.alpha_base={self.alpha_base!r} must be <= alpha_trig={self.alpha_trig!r}"
            )
        for name in ("w_tgt_inp_exc", "w_tgt_exc_exc", "w_tgt_inh_exc"):
            check_range(self, name, 0, None, lo_open=True)
        check_range(self, "lam", 0, 1, lo_open=True)
        check_range(self, "sigma", 0, 1000, unit=mV, unit_name="mV")
        check_range(self, "max_sleep", 0, None, lo_open=True, unit=second, unit_name="s")
        check_range(self, "interval", 0, None, lo_open=True, unit=second, unit_name="s")
        check_range(self, "check_interval", 0, None, lo_open=True, unit=ms, unit_name="ms")
        pathways = tuple(self.pathways)
        if not pathways or any(p not in PLASTIC_PATHWAYS for p in pathways):
            raise ParameterError(
                f"SleepParams.pathways={self.pathways!r} must be a non-empty subset of "
                f"{PLASTIC_PATHWAYS}"
            )
        object.__setattr__(self, "pathways", pathways)
        for name in ("fill_budget", "sticky_spikes"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ParameterError(f"SleepParams.{name}={getattr(self, name)!r} must be True or False")

    @property
    def budget_factor(self) -> float:
        """Allowed sleep time per unit of wake time, ``r / (1 - r)``."""
        return self.sleep_ratio / (1.0 - self.sleep_ratio)

    def w_tgt(self, pathway: str) -> float:
        """Decay target of one pathway."""
        return float(getattr(self, f"w_tgt_{pathway}"))

    def check_steps(self, dt: Quantity) -> int:
        """``check_interval`` in time steps (validated to be a whole multiple of ``dt``)."""
        steps = float(self.check_interval / dt)
        if steps < 1 - 1e-9 or abs(steps - round(steps)) > 1e-6:
            raise ParameterError(
                f"SleepParams.check_interval={self.check_interval!r} must be a whole multiple of "
                f"dt={dt!r}"
            )
        return int(round(steps))

    def lam_tick(self, dt: Quantity) -> float:
        """Decay exponent per check interval, ``lam ** k``."""
        return float(self.lam ** self.check_steps(dt))

    def max_sleep_steps(self, dt: Quantity) -> int:
        return int(math.ceil(float(self.max_sleep / dt) - 1e-9))

    def interval_steps(self, dt: Quantity) -> int:
        return int(math.ceil(float(self.interval / dt) - 1e-9))
