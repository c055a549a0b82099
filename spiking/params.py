"""Parameters of the Brian2 E/I network, one frozen dataclass per component.

Every field carries its Brian2 unit and is validated in ``__post_init__``;
an invalid value raises :class:`ParameterError` naming the field, the value and
the allowed range. Variants are made with :func:`dataclasses.replace`.

Sizes, connection probabilities and neuron constants follow the sleep-based
homeostatic-regularisation network (arXiv 2601.08447, "Sleep-based homeostatic
regularisation", 225 Poisson inputs, 200 excitatory and 50 inhibitory LIF
neurons). STDP is the trace-based pair rule (Song, Miller & Abbott 2000);
inhibitory plasticity is the symmetric rule of Vogels et al. (Science 334:1569,
2011).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from brian2 import Hz, Quantity, mV, ms
from brian2.units.fundamentalunits import DimensionMismatchError, fail_for_dimension_mismatch

__all__ = [
    "ParameterError",
    "LIFParams",
    "STDPParams",
    "ISTDPParams",
    "EINetworkParams",
    "PATHWAYS",
    "PLASTIC_PATHWAYS",
    "STDP_RULES",
]

#: Synaptic pathways of the E/I network, by the name of their Synapses object.
PATHWAYS = ("inp_exc", "exc_exc", "exc_inh", "inh_exc")
#: Pathways with plasticity (STDP on the first two, inhibitory STDP on the last).
PLASTIC_PATHWAYS = ("inp_exc", "exc_exc", "inh_exc")
#: Pair rules of :class:`STDPParams`.
STDP_RULES = ("hebbian", "anti_nearest")


class ParameterError(ValueError):
    """A parameter is outside its allowed range or has the wrong unit."""


def _quantity(obj: Any, name: str, unit: Quantity, unit_name: str) -> Quantity:
    value = getattr(obj, name)
    try:
        fail_for_dimension_mismatch(value, unit)
    except DimensionMismatchError as exc:
        raise ParameterError(
            f"{type(obj).__name__}.{name}={value!r} must be a quantity in {unit_name}"
        ) from exc
    return value


def check_range(obj: Any, name: str, lo: float | None = None, hi: float | None = None, *,
                lo_open: bool = False, hi_open: bool = False, unit: Quantity | None = None,
                unit_name: str = "") -> None:
    """Raise :class:`ParameterError` unless ``lo <= obj.name <= hi``.

    ``lo_open``/``hi_open`` make the bound strict. With ``unit``, the value
    must have that dimension and the bounds are in that unit.
    """
    value = getattr(obj, name)
    if unit is not None:
        value = float(_quantity(obj, name, unit, unit_name) / unit)
    else:
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{type(obj).__name__}.{name}={value!r} must be a number") from exc
    bad = (value != value  # NaN
           or (lo is not None and (value <= lo if lo_open else value < lo))
           or (hi is not None and (value >= hi if hi_open else value > hi)))
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        u = f" {unit_name}" if unit_name else ""
        raise ParameterError(
            f"{type(obj).__name__}.{name}={getattr(obj, name)!r} is outside the allowed range "
            f"{left}{lo_s}, {hi_s}{right}{u}"
        )


@dataclass(frozen=True)
class LIFParams:
    """Leaky integrate-and-fire neuron with exponential synaptic currents and an
    optional adaptive threshold.

    Attributes
    ----------
    v_rest : volt
        Resting potential (mV, typically -80 .. -50). Default -70 mV.
    v_reset : volt
        Reset potential after a spike (mV, < ``v_thresh``). Default -80 mV.
    v_thresh : volt
        Base firing threshold (mV, > ``v_reset``). Default -55 mV.
    tau_m : second
        Membrane time constant (ms, > 0). Default 30 ms.
    t_ref : second
        Absolute refractory period (ms, >= 0). Default 2 ms.
    tau_e : second
        Decay time constant of the excitatory synaptic current (ms, > 0). Default 5 ms.
    tau_i : second
        Decay time constant of the inhibitory synaptic current (ms, > 0). Default 10 ms.
    adapt_increment : volt
        Threshold increase per spike (mV, >= 0; 0 disables adaptation). Default 3 mV.
    tau_adapt : second
        Decay time constant of the threshold adaptation (ms, > 0). Default 100 ms.
    """

    v_rest: Quantity = field(default_factory=lambda: -70 * mV)
    v_reset: Quantity = field(default_factory=lambda: -80 * mV)
    v_thresh: Quantity = field(default_factory=lambda: -55 * mV)
    tau_m: Quantity = field(default_factory=lambda: 30 * ms)
    t_ref: Quantity = field(default_factory=lambda: 2 * ms)
    tau_e: Quantity = field(default_factory=lambda: 5 * ms)
    tau_i: Quantity = field(default_factory=lambda: 10 * ms)
    adapt_increment: Quantity = field(default_factory=lambda: 3 * mV)
    tau_adapt: Quantity = field(default_factory=lambda: 100 * ms)

    def __post_init__(self) -> None:
        for name in ("v_rest", "v_reset", "v_thresh"):
            check_range(self, name, -150, 50, unit=mV, unit_name="mV")
        if self.v_reset >= self.v_thresh:
            raise ParameterError(
                f"LIFParams.v_reset={self.v_reset!r} must be below v_thresh={self.v_thresh!r}"
            )
        for name in ("tau_m", "tau_e", "tau_i", "tau_adapt"):
            check_range(self, name, 0, None, lo_open=True, unit=ms, unit_name="ms")
        check_range(self, "t_ref", 0, None, unit=ms, unit_name="ms")
        check_range(self, "adapt_increment", 0, None, unit=mV, unit_name="mV")


@dataclass(frozen=True)
class STDPParams:
    """Additive pair-based STDP with exponential traces and hard bounds.

    A pre spike at time ``t_pre`` followed by a post spike at ``t_post``
    changes the weight by ``eta_plus * exp(-(t_post - t_pre)/tau_plus)``;
    the reverse order by ``-eta_minus * exp(-(t_pre - t_post)/tau_minus)``.
    Weights stay in ``[0, w_max]``.

    Attributes
    ----------
    tau_plus : second
        Time constant of the presynaptic trace (potentiation window, ms, > 0). Default 20 ms.
    tau_minus : second
        Time constant of the postsynaptic trace (depression window, ms, > 0). Default 20 ms.
    eta_plus : float
        Potentiation amplitude (fraction of ``w_max`` per pair, 0 .. 1). Default 0.01.
    eta_minus : float
        Depression amplitude (0 .. 1). Default 0.0105 (slightly depression-dominated).
    w_max : float
        Upper weight bound (dimensionless, > 0; a run-time value of a compiled
        network). Default 1.
    rule : str
        ``"hebbian"`` (default): the trace rule above, every pre/post pair
        counts. ``"anti_nearest"``: the pair rule of the reference code of
        arXiv 2601.08447, which pairs each spike with the partner's last
        spike only and has the window inverted: a presynaptic spike
        potentiates by ``eta_plus * exp(-(t - t_post)/tau_plus)``
        (post-before-pre, or simultaneous), a postsynaptic spike depresses by
        ``eta_minus * exp(-(t - t_pre)/tau_minus)`` (pre-before-post). Fixed
        when a network is built.
    """

    tau_plus: Quantity = field(default_factory=lambda: 20 * ms)
    tau_minus: Quantity = field(default_factory=lambda: 20 * ms)
    eta_plus: float = 0.01
    eta_minus: float = 0.0105
    w_max: float = 1.0
    rule: str = "hebbian"

    def __post_init__(self) -> None:
        check_range(self, "tau_plus", 0, None, lo_open=True, unit=ms, unit_name="ms")
        check_range(self, "tau_minus", 0, None, lo_open=True, unit=ms, unit_name="ms")
        check_range(self, "eta_plus", 0, 1)
        check_range(self, "eta_minus", 0, 1)
        check_range(self, "w_max", 0, None, lo_open=True)
        if self.rule not in STDP_RULES:
            raise ParameterError(
                f"STDPParams.rule={self.rule!r} is not known; allowed: {', '.join(STDP_RULES)}")


@dataclass(frozen=True)
class ISTDPParams:
    """Inhibitory STDP of Vogels et al. (2011), on inhibitory weight magnitudes.

    Near-coincident pre and post spikes potentiate by ``eta * exp(-|dt|/tau)``;
    every presynaptic spike also depresses by ``eta * alpha`` with
    ``alpha = 2 * target_rate * tau``, so that the postsynaptic rate is driven
    towards ``target_rate``.

    Attributes
    ----------
    tau : second
        Time constant of both traces (ms, > 0). Default 20 ms.
    eta : float
        Learning rate (0 .. 1). Default 0.001.
    target_rate : hertz
        Target firing rate of the postsynaptic excitatory neurons (Hz, >= 0). Default 5 Hz.
    w_max : float
        Upper bound of the inhibitory weight magnitude (> 0). Default 1.
    """

    tau: Quantity = field(default_factory=lambda: 20 * ms)
    eta: float = 0.001
    target_rate: Quantity = field(default_factory=lambda: 5 * Hz)
    w_max: float = 1.0

    def __post_init__(self) -> None:
        check_range(self, "tau", 0, None, lo_open=True, unit=ms, unit_name="ms")
        check_range(self, "eta", 0, 1)
        check_range(self, "target_rate", 0, 1000, unit=Hz, unit_name="Hz")
        check_range(self, "w_max", 0, None, lo_open=True)

    @property
    def alpha(self) -> float:
        """Depression per presynaptic spike, ``2 * target_rate * tau`` (dimensionless)."""
        return float(2 * self.target_rate * self.tau)


@dataclass(frozen=True)
class EINetworkParams:
    """The recurrent E/I network: sizes, connectivity, input and synaptic strengths.

    Weights are dimensionless (0 .. ``w_max``); a presynaptic spike adds
    ``w * J_<pathway>`` to the postsynaptic current (a voltage, since currents
    are expressed as the voltage they would hold the membrane at).

    Attributes
    ----------
    n_input, n_exc, n_inh : int
        Number of Poisson inputs (one per pixel, >= 1; 225 = 15x15), excitatory
        and inhibitory neurons (>= 1). Defaults 225 / 200 / 50.
    p_inp_exc, p_exc_exc, p_exc_inh, p_inh_exc : float
        Connection probabilities (0 .. 1). Defaults 0.10 / 0.15 (no self-connections)
        / 0.20 / 0.25. There is no input->I and no I->I pathway.
    J_inp_exc, J_exc_exc, J_exc_inh, J_inh_exc : volt
        Current jump per unit weight (mV, >= 0).
    w_init_inp_exc, w_init_exc_exc, w_init_exc_inh, w_init_inh_exc : float
        Initial weights are uniform in ``[0, w_init]`` (0 .. w_max of the pathway).
    input_rate : hertz
        Poisson rate of an input whose pixel intensity is 1 (Hz, >= 0). Default 63.75 Hz.
    t_present : second
        Presentation time of one image (ms, > 0, multiple of ``dt``). Default 250 ms.
    t_rest : second
        Silent interval after each image (ms, >= 0, multiple of ``dt``). Default 100 ms.
    dt : second
        Simulation time step (ms, 0.01 .. 10). Default 1 ms as in the reference code.
    exc, inh : LIFParams
        Neuron parameters; inhibitory neurons default to a faster membrane and no adaptation.
    stdp : STDPParams
        Excitatory STDP (input->E and E->E).
    istdp : ISTDPParams
        Inhibitory STDP (I->E).
    plastic : bool
        Whether plasticity is on during training (False gives the random-weight baseline).
    """

    n_input: int = 225
    n_exc: int = 200
    n_inh: int = 50
    p_inp_exc: float = 0.10
    p_exc_exc: float = 0.15
    p_exc_inh: float = 0.20
    p_inh_exc: float = 0.25
    J_inp_exc: Quantity = field(default_factory=lambda: 20 * mV)
    J_exc_exc: Quantity = field(default_factory=lambda: 4 * mV)
    J_exc_inh: Quantity = field(default_factory=lambda: 50 * mV)
    J_inh_exc: Quantity = field(default_factory=lambda: 10 * mV)
    w_init_inp_exc: float = 0.5
    w_init_exc_exc: float = 0.3
    w_init_exc_inh: float = 0.5
    w_init_inh_exc: float = 0.5
    input_rate: Quantity = field(default_factory=lambda: 63.75 * Hz)
    t_present: Quantity = field(default_factory=lambda: 250 * ms)
    t_rest: Quantity = field(default_factory=lambda: 100 * ms)
    dt: Quantity = field(default_factory=lambda: 1 * ms)
    exc: LIFParams = field(default_factory=LIFParams)
    inh: LIFParams = field(default_factory=lambda: LIFParams(tau_m=10 * ms, adapt_increment=0 * mV))
    stdp: STDPParams = field(default_factory=STDPParams)
    istdp: ISTDPParams = field(default_factory=ISTDPParams)
    plastic: bool = True

    def __post_init__(self) -> None:
        for name in ("n_input", "n_exc", "n_inh"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(
                    f"EINetworkParams.{name}={value!r} must be an integer >= 1"
                )
        for name in ("p_inp_exc", "p_exc_exc", "p_exc_inh", "p_inh_exc"):
            check_range(self, name, 0, 1)
        for name in ("J_inp_exc", "J_exc_exc", "J_exc_inh", "J_inh_exc"):
            check_range(self, name, 0, 1000, unit=mV, unit_name="mV")
        check_range(self, "w_init_inp_exc", 0, self.stdp.w_max)
        check_range(self, "w_init_exc_exc", 0, self.stdp.w_max)
        check_range(self, "w_init_exc_inh", 0, None)
        check_range(self, "w_init_inh_exc", 0, self.istdp.w_max)
        check_range(self, "input_rate", 0, 1000, unit=Hz, unit_name="Hz")
        check_range(self, "dt", 0.01, 10, unit=ms, unit_name="ms")
        check_range(self, "t_present", 0, None, lo_open=True, unit=ms, unit_name="ms")
        check_range(self, "t_rest", 0, None, unit=ms, unit_name="ms")
        for name in ("t_present", "t_rest"):
            steps = float(getattr(self, name) / self.dt)
            if abs(steps - round(steps)) > 1e-6:
                raise ParameterError(
                    f"EINetworkParams.{name}={getattr(self, name)!r} must be a multiple of dt={self.dt!r}"
                )
        for name, cls in (("exc", LIFParams), ("inh", LIFParams), ("stdp", STDPParams),
                          ("istdp", ISTDPParams)):
            if not isinstance(getattr(self, name), cls):
                raise ParameterError(f"EINetworkParams.{name} must be a {cls.__name__}")

    # --- derived sizes -------------------------------------------------
    @property
    def steps_present(self) -> int:
        """Presentation time in time steps."""
        return int(round(float(self.t_present / self.dt)))

    @property
    def steps_per_image(self) -> int:
        """Presentation plus rest, in time steps."""
        return int(round(float((self.t_present + self.t_rest) / self.dt)))

    @property
    def t_image(self) -> Quantity:
        """Presentation plus rest time of one image."""
        return self.steps_per_image * self.dt


def as_plain_dict(params: Any) -> dict:
    """A JSON-friendly view of a parameter dataclass (quantities as ``"20. ms"`` strings)."""
    out = {}
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = as_plain_dict(value)
        elif isinstance(value, Quantity):
            out[f.name] = str(value)
        elif isinstance(value, tuple):
            out[f.name] = [str(v) if isinstance(v, Quantity) else v for v in value]
        else:
            out[f.name] = value
    return out

