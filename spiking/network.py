"""The recurrent E/I network with STDP, inhibitory STDP and the sleep controller.

Architecture of the sleep-based homeostatic-regularisation network of arXiv
2601.08447: Poisson inputs (one per pixel) project to excitatory LIF neurons
(STDP), excitatory neurons connect recurrently (STDP, no self-connections) and
to inhibitory neurons, and inhibitory neurons project back to the excitatory
ones (inhibitory STDP, Vogels et al. 2011).

One :class:`brian2.Network` holds everything, including a one-neuron
controller (``'ctrl'``) that switches between wake and sleep inside the
simulation, so that a whole training set (and the read-out presentations after
it) is one ``run()`` that compiles to one standalone program. Images are shown
from a :class:`~brian2.TimedArray` indexed by the *wake clock*, which pauses
while the network sleeps (no image is skipped). Per-image spike counts are
read out by an event at each image boundary, so no spike of a long run needs
to be stored.

What the network is shown is an :class:`ImageSchedule`: a table of distinct
images and, per presentation, the image shown, whether it is a *training*
presentation (plasticity on, sleep possible) or a *probe* one (plasticity and
sleep off), whether its per-image spike counts are recorded, and the key of
its input noise. Input spikes are frozen noise (:data:`spiking.functions.input_threshold`):
the same image with the same key and seed gets the same input spikes, so
probe blocks interleaved with training blocks measure the network along
training inside one compiled program, on identical inputs, each starting from
rest. The schedule's contents are run-time inputs of a compiled program (only
its shape is fixed), so one binary serves other images and other orders.

Typical use::

    sim = EISimulation(EINetworkParams(), SleepParams(sleep_ratio=0.1), images, n_train=1000)
    out = sim.run(seed=0)          # compiles on first use (standalone)
    out2 = sim.run(seed=1)         # re-runs the same binary
    sim.close()
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass, field

import brian2
import numpy as np
from brian2 import (
    Clock,
    EventMonitor,
    Hz,
    Network,
    NeuronGroup,
    Synapses,
    TimedArray,
    linked_var,
    mV,
    ms,
    second,
)

from . import buildcache
from . import equations as eq
from .backend import (DEFAULT_BACKEND, activate_standalone, build_info, check_backend, is_standalone,
                      reset_device, resolve_compile_mode, use_backend)
from .processes import guarded
from .params import PLASTIC_PATHWAYS, EINetworkParams, ParameterError
from .functions import input_threshold, sleep_decay, sleep_noise, stop_when
from .sleep import SleepParams, decode_end_reason

__all__ = ["build_network", "EISimulation", "ImageSchedule", "RunOutput", "SEED_ENV"]

#: environment variable read by a standalone binary to reseed without recompiling
SEED_ENV = "SLEEP_SNN_SEED"
#: environment variable read by a standalone binary: "lines" prints plain progress lines (no ``\\r``)
PROGRESS_ENV = "SLEEP_SNN_PROGRESS_STYLE"
_MODE_CODES = {"off": 0, "trigger": 1, "schedule": 2}


#: Largest key of an input-noise stream (keys travel as doubles)
MAX_KEY = 2 ** 53 - 1


@dataclass(frozen=True)
class ImageSchedule:
    """What the network is shown, presentation by presentation.

    Attributes
    ----------
    images : ndarray, shape (n_images, n_input)
        Table of distinct images, intensities in [0, 1].
    order : ndarray of int, shape (n_presentations,)
        Row of ``images`` shown at each presentation (each lasts
        ``t_present`` then ``t_rest``).
    train : ndarray of bool, shape (n_presentations,)
        True for a training presentation (plasticity on, sleep possible),
        False for a probe presentation (plasticity and sleep off). A probe
        block that follows training starts from rest (membranes at
        ``v_rest``, no adaptation, no synaptic current, not refractory).
    record : ndarray of bool, shape (n_presentations,)
        Whether the per-image spike counts of a presentation are recorded
        (memory grows with the recorded presentations only).
    keys : ndarray of int, shape (n_presentations,)
        Key of each presentation's input noise (0 .. 2**53-1): the same
        image with the same key (and run seed) gets the same input spikes.
    reset : ndarray of bool, shape (n_presentations,), optional
        Presentations that start from rest (membranes at ``v_rest``, no
        threshold adaptation, no synaptic current, not refractory). Default:
        the first presentation of every probe block that follows training.
        A probe presentation that starts from rest gives features that depend
        only on the weights, the image and its key.
    """

    images: np.ndarray
    order: np.ndarray
    train: np.ndarray
    record: np.ndarray
    keys: np.ndarray
    reset: np.ndarray | None = None

    def __post_init__(self) -> None:
        images = np.asarray(self.images, dtype=float)
        if images.ndim != 2 or images.shape[0] < 1:
            raise ParameterError(f"ImageSchedule.images must have shape (n_images >= 1, n_input); got {images.shape}")
        n = np.asarray(self.order).shape
        if len(n) != 1 or n[0] < 1:
            raise ParameterError(f"ImageSchedule.order must be a non-empty 1-D array; got shape {n}")
        order = np.asarray(self.order)
        if order.dtype.kind not in "iu" or order.min() < 0 or order.max() >= images.shape[0]:
            raise ParameterError(
                f"ImageSchedule.order must hold integer rows of images in [0, {images.shape[0] - 1}]")
        arrays = {"order": order.astype(np.int64)}
        if self.reset is None:
            train = np.asarray(self.train, dtype=bool)
            if train.shape == order.shape:
                object.__setattr__(self, "reset", np.r_[False, train[:-1] & ~train[1:]])
            else:
                object.__setattr__(self, "reset", np.zeros(order.shape, bool))
        for name in ("train", "record", "keys", "reset"):
            a = np.asarray(getattr(self, name))
            if a.shape != order.shape:
                raise ParameterError(f"ImageSchedule.{name} has shape {a.shape}; it must match order {order.shape}")
            arrays[name] = a
        keys = arrays["keys"]
        if keys.dtype.kind not in "iu" or keys.min() < 0 or keys.max() > MAX_KEY:
            raise ParameterError(f"ImageSchedule.keys must be integers in [0, {MAX_KEY}]")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "order", arrays["order"])
        object.__setattr__(self, "train", arrays["train"].astype(bool))
        object.__setattr__(self, "record", arrays["record"].astype(bool))
        object.__setattr__(self, "keys", keys.astype(np.int64))
        object.__setattr__(self, "reset", arrays["reset"].astype(bool))

    @classmethod
    def blocks(cls, images: np.ndarray, n_train: int) -> "ImageSchedule":
        """Each image once: the first ``n_train`` for training, the rest as probes, all recorded.

        Keys are the presentation positions.
        """
        images = np.asarray(images, dtype=float)
        n = images.shape[0] if images.ndim == 2 else 0
        if not 0 <= int(n_train) <= n:
            raise ParameterError(f"n_train={n_train!r} must lie in [0, {n}] (the number of images)")
        return cls(images=images, order=np.arange(n), train=np.arange(n) < int(n_train),
                   record=np.ones(n, bool), keys=np.arange(n))

    @property
    def n_presentations(self) -> int:
        return int(self.order.size)

    @property
    def n_train(self) -> int:
        """Number of training presentations."""
        return int(self.train.sum())

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_images, n_input, n_presentations)``: what a compiled program is built for."""
        return (*self.images.shape, self.n_presentations)

    @property
    def recorded(self) -> np.ndarray:
        """Indices of the recorded presentations."""
        return np.flatnonzero(self.record)


def as_schedule(images, n_train=None) -> ImageSchedule:
    """An :class:`ImageSchedule` from a schedule or from ``(images, n_train)``."""
    if isinstance(images, ImageSchedule):
        if n_train is not None and int(n_train) != images.n_train:
            raise ParameterError(f"n_train={n_train!r} contradicts the schedule's {images.n_train} training presentations")
        return images
    if n_train is None:
        raise ParameterError("n_train is required when images is an array (or pass an ImageSchedule)")
    return ImageSchedule.blocks(images, n_train)


def _neuron_namespace(lif) -> dict:
    return {
        "v_rest": lif.v_rest, "v_reset": lif.v_reset, "v_thresh": lif.v_thresh,
        "tau_m": lif.tau_m, "tau_e": lif.tau_e, "tau_i": lif.tau_i,
        "tau_adapt": lif.tau_adapt, "adapt_increment": lif.adapt_increment,
        "t_ref": lif.t_ref,
    }


def lif_group(n: int, lif, name: str, ctrl, *, exc_extra: bool = False, raster: int = 0,
              dt=None) -> NeuronGroup:
    """A population of LIF neurons as used in the network (without links).

    ``ctrl`` is the one-neuron group whose ``sleeping``, ``plastic``,
    ``image_done`` and ``sigma`` the neurons follow (the controller, or
    :func:`flag_group` in tests). With ``raster > 0``
    the spikes of the first ``raster`` neurons also raise a ``'raster'`` event,
    for a spike monitor that does not store the spikes of every neuron.
    """
    eqs = eq.NEURON_EQS + (eq.EXC_EXTRA_EQS if exc_extra else "")
    events = {"image_end": eq.IMAGE_END_EVENT}
    if raster:
        # evaluated after the spike threshold, which sets lastspike = t
        events["raster"] = f"abs(lastspike - t) < 0.5 * dt and i < {int(raster)}"
    group = NeuronGroup(
        n, eqs, threshold=eq.NEURON_THRESHOLD, reset=eq.NEURON_RESET,
        refractory=eq.NEURON_REFRACTORY, method="exponential_euler", namespace=_neuron_namespace(lif),
        events=events, name=name, dt=dt,
    )
    group.run_on_event("image_end", eq.IMAGE_END_RESET, order=-1)
    if raster:
        group.set_event_schedule("raster", when="after_thresholds")
    group.v = lif.v_rest
    link_to_controller(group, ctrl, ("sleeping_ctrl", "plastic_ctrl", "image_done", "image_start",
                                     "reset_state", "sticky", "sigma"))
    group.run_regularly(eq.NEURON_COPY_FLAGS, when="groups", order=-40, name=f"{name}_flags")
    return group


def flag_group(name: str = "flags", *, sleeping: float = 0.0, plastic: float = 1.0,
               sigma=0 * mV, sticky: float = 0.0) -> NeuronGroup:
    """A one-neuron stand-in for the controller with fixed flags (unit tests)."""
    g = NeuronGroup(1, """
        sleeping : 1
        plastic : 1
        image_done : 1
        image_start : 1
        reset_state : 1
        sticky : 1
        sigma : volt
        """, name=name)
    g.sleeping = sleeping
    g.plastic = plastic
    g.sigma = sigma
    g.sticky = sticky
    return g


def link_to_controller(group, ctrl, names) -> None:
    """Link each variable in ``names`` of ``group`` to the one neuron of ``ctrl``.

    A name ``x`` is linked to ``ctrl.x``, except that ``x_ctrl`` is linked to
    ``ctrl.x`` (for the flags that the neurons copy every step).
    """
    index = np.zeros(len(group), dtype=int)
    for name in names:
        source = name[:-5] if name.endswith("_ctrl") else name
        setattr(group, name, linked_var(ctrl, source, index=index))


def _stdp_synapses(source, target, params: EINetworkParams, pathway: str, J,
                   **connect) -> Synapses:
    """STDP synapses ``source -> target``, connected with ``connect`` (all-to-all if empty).

    ``params.stdp.rule`` picks the pair rule: ``"hebbian"`` (traces, all pairs)
    or ``"anti_nearest"`` (the reference code's inverted nearest-spike rule).
    """
    stdp = params.stdp
    W = f"W_{pathway}"
    if stdp.rule == "anti_nearest":
        model, on_pre, on_post = eq.STDP_ANTI_MODEL, eq.STDP_ANTI_ON_PRE, eq.STDP_ANTI_ON_POST
    else:
        model, on_pre, on_post = eq.STDP_MODEL, eq.STDP_ON_PRE, eq.STDP_ON_POST
    syn = Synapses(
        source, target, model=model,
        on_pre=on_pre.format(W=W), on_post=on_post.format(W=W),
        namespace={"J": J, "tau_plus": stdp.tau_plus, "tau_minus": stdp.tau_minus},
        name=pathway,
    )
    syn.connect(**connect)
    syn.eta_plus = stdp.eta_plus
    syn.eta_minus = stdp.eta_minus
    syn.w_max = stdp.w_max
    return syn


def _istdp_synapses(source, target, params: EINetworkParams, pathway: str, J,
                    **connect) -> Synapses:
    """Inhibitory STDP synapses, connected with ``connect`` (all-to-all if empty)."""
    istdp = params.istdp
    W = f"W_{pathway}"
    syn = Synapses(
        source, target, model=eq.ISTDP_MODEL,
        on_pre=eq.ISTDP_ON_PRE.format(W=W), on_post=eq.ISTDP_ON_POST.format(W=W),
        namespace={"J": J, "tau_istdp": istdp.tau, "alpha_istdp": istdp.alpha},
        name=pathway,
    )
    syn.connect(**connect)
    syn.eta = istdp.eta
    syn.w_max = istdp.w_max
    return syn


def schedule_rates(images: np.ndarray, params: EINetworkParams) -> np.ndarray:
    """Input rates (Hz) of an image schedule, shape (n_images, n_input)."""
    images = np.asarray(images, dtype=float)
    if images.ndim != 2 or images.shape[1] != params.n_input:
        raise ParameterError(
            f"images must have shape (n_images, n_input={params.n_input}); got {images.shape}"
        )
    if images.shape[0] < 1:
        raise ParameterError("images must contain at least one image")
    if not np.all(np.isfinite(images)) or images.min() < 0 or images.max() > 1:
        raise ParameterError("image intensities must lie in [0, 1]")
    return images * float(params.input_rate / Hz)


def _schedule_arrays(schedule: ImageSchedule, params: EINetworkParams) -> dict:
    """Values of the schedule's TimedArrays (what a re-run passes as run_args)."""
    return {
        "stimulus": schedule_rates(schedule.images, params) * Hz,
        "image_of": schedule.order.astype(float),
        "train_flag": schedule.train.astype(float),
        "rec_flag": schedule.record.astype(float),
        "key_of": schedule.keys.astype(float),
        "reset_flag": schedule.reset.astype(float),
    }


def build_network(params: EINetworkParams, sleep: SleepParams, images, n_train: int | None = None,
                  *, raster_exc: int = 40, raster_inh: int = 10, raster_inp: int = 0,
                  record_interval=100 * ms, seed: int = 0) -> Network:
    """Build the E/I network for one image schedule.

    Parameters
    ----------
    params : EINetworkParams
    sleep : SleepParams
    images : ImageSchedule or ndarray, shape (n_images, n_input)
        The schedule (see :class:`ImageSchedule`), or images in [0, 1] of
        which the first ``n_train`` form the training block (plasticity on,
        sleep possible) and the rest are probe presentations (plasticity
        off) to record read-out features (:meth:`ImageSchedule.blocks`).
    n_train : int, optional
        Size of the training block when ``images`` is an array.
    raster_exc, raster_inh, raster_inp : int
        Number of excitatory / inhibitory / input neurons whose spikes are
        recorded for rasters (0 = none).
    record_interval : second
        Sampling interval of the total-weight traces (multiple of ``check_interval``).
    seed : int
        Seed of the frozen input noise (a compiled program takes it at run time).

    Returns
    -------
    brian2.Network
        Named objects: ``'inp'``, ``'exc'``, ``'inh'``, ``'inp_exc'``,
        ``'exc_exc'``, ``'exc_inh'``, ``'inh_exc'``, ``'ctrl'``, ``'meter'``,
        monitors ``'weights'``, ``'counts_exc'``, ``'counts_inh'``,
        ``'sleep_starts'``, ``'sleep_ends'``, ``'raster_exc'``, ``'raster_inh'``.
        ``net.duration`` holds the (upper bound of the) run duration,
        ``net.timed_arrays`` the schedule's TimedArrays by name.
    """
    schedule = as_schedule(images, n_train)
    values = _schedule_arrays(schedule, params)
    n_presentations = schedule.n_presentations
    dt = params.dt
    spi = params.steps_per_image
    k = sleep.check_steps(dt)
    rec_steps = float(record_interval / (k * dt))
    if abs(rec_steps - round(rec_steps)) > 1e-6 or rec_steps < 1 - 1e-9:
        raise ParameterError(
            f"record_interval={record_interval!r} must be a multiple of check_interval={sleep.check_interval!r}"
        )
    brian2.defaultclock.dt = dt
    check_clock = Clock(dt=k * dt, name="check_clock")

    # the schedule: one row of rates per distinct image, and one value per
    # presentation (which image, training or probe, recorded, noise key), all
    # indexed by the wake clock
    t_image = params.t_image
    timed = {name: TimedArray(v, dt=t_image, name=name) for name, v in values.items()}

    ctrl = NeuronGroup(1, eq.CONTROLLER_EQS, name="ctrl", order=-50,
                       events={"sleep_start": eq.SLEEP_START_EVENT, "sleep_end": eq.SLEEP_END_EVENT})
    # the meter raises a 'sample' event at every check, recorded by an EventMonitor
    # (1-D dynamic arrays, whose length may differ between re-runs of one binary)
    meter = NeuronGroup(1, eq.METER_EQS, clock=check_clock, name="meter", order=-100,
                        events={"sample": "True"})
    meter.set_event_schedule("sample", when="end")
    meter.wake_t_ctrl = linked_var(ctrl, "wake_t")
    meter.run_regularly(eq.METER_COPY, when="groups", name="meter_copy")
    ctrl.W_inp_exc = linked_var(meter, "W_inp_exc")
    ctrl.W_exc_exc = linked_var(meter, "W_exc_exc")
    ctrl.W_inh_exc = linked_var(meter, "W_inh_exc")
    counted = {f"c_{p}": float(p in sleep.pathways) for p in PLASTIC_PATHWAYS}
    ctrl.run_regularly(eq.CONTROLLER_DECIDE, when="groups", order=-50, name="ctrl_decide")
    ctrl.run_regularly(eq.CONTROLLER_ADVANCE, when="end", order=100, name="ctrl_advance")
    ctrl.namespace.update(counted)
    ctrl.namespace.update({"steps_per_image": spi, "steps_present": params.steps_present,
                           "t_image": t_image, "stop_when": stop_when,
                           "image_of": timed["image_of"], "train_flag": timed["train_flag"],
                           "rec_flag": timed["rec_flag"], "key_of": timed["key_of"],
                           "reset_flag": timed["reset_flag"]})

    inp_events = {"raster": f"abs(lastspike - t) < 0.5 * dt and i < {int(raster_inp)}"} if raster_inp else {}
    inp = NeuronGroup(params.n_input, eq.INPUT_EQS, threshold=eq.INPUT_THRESHOLD,
                      reset=eq.INPUT_RESET, refractory=0 * ms, events=inp_events,
                      namespace={"stimulus": timed["stimulus"], "input_threshold": input_threshold},
                      name="inp")
    if raster_inp:
        inp.set_event_schedule("raster", when="after_thresholds")
    link_to_controller(inp, ctrl, ("sleeping", "stim_on", "stim_t", "stim_key", "image_start", "input_seed"))
    inp.run_regularly(eq.INPUT_INTEGRATE, when="groups", order=10, name="inp_integrate")

    exc = lif_group(params.n_exc, params.exc, "exc", ctrl, exc_extra=True, raster=raster_exc)
    inh = lif_group(params.n_inh, params.inh, "inh", ctrl, raster=raster_inh)
    objects = [ctrl, meter, inp, exc, inh]
    for group in (exc, inh):
        if sleep.mode != "off":
            group.namespace["sleep_noise"] = sleep_noise
            group.run_regularly(eq.NEURON_NOISE, when="groups", order=5, name=f"{group.name}_noise")

    inp_exc = _stdp_synapses(inp, exc, params, "inp_exc", params.J_inp_exc, p=params.p_inp_exc)
    inp_exc.w = f"rand() * {params.w_init_inp_exc!r}"
    exc_exc = _stdp_synapses(exc, exc, params, "exc_exc", params.J_exc_exc,
                             condition="i != j", p=params.p_exc_exc)
    exc_exc.w = f"rand() * {params.w_init_exc_exc!r}"
    exc_inh = Synapses(exc, inh, model=eq.STATIC_MODEL, on_pre=eq.STATIC_ON_PRE,
                       namespace={"J": params.J_exc_inh}, name="exc_inh")
    exc_inh.connect(p=params.p_exc_inh)
    exc_inh.w = f"rand() * {params.w_init_exc_inh!r}"
    inh_exc = _istdp_synapses(inh, exc, params, "inh_exc", params.J_inh_exc, p=params.p_inh_exc)
    inh_exc.w = f"rand() * {params.w_init_inh_exc!r}"
    plastic_syns = {"inp_exc": inp_exc, "exc_exc": exc_exc, "inh_exc": inh_exc}
    objects += [inp_exc, exc_exc, exc_inh, inh_exc]

    # Upper bound of the run: every presentation plus the largest sleep the
    # budget allows; the controller stops the run as soon as all are shown.
    total_steps = n_presentations * spi
    max_factor = max(sleep.budget_factor, 9.0)
    duration_steps = total_steps + 2 + math.ceil(max_factor * total_steps)
    # a clock that ticks once, at t = 0, within the run
    once = Clock(dt=(duration_steps + 1) * dt, name="once_clock")
    for pathway, syn in plastic_syns.items():
        W = f"W_{pathway}"
        # running weight sums start from the initial weights (one-off at t = 0)
        syn.run_regularly(eq.INIT_SUM_CODE.format(W=W), clock=once, when="start",
                          name=f"{pathway}_init_sum")
        if sleep.mode != "off" and pathway in sleep.pathways:
            syn.namespace["sleep_decay"] = sleep_decay
            syn.run_regularly(eq.DECAY_CODE.format(W=W), clock=check_clock, when="groups",
                              order=-200, name=f"{pathway}_decay")

    meter_sum = Synapses(exc, meter, model=eq.METER_SUM_MODEL, name="meter_sum")
    meter_sum.connect()
    objects.append(meter_sum)

    # --- monitors --------------------------------------------------------
    weights = EventMonitor(meter, "sample", variables=["W_inp_exc", "W_exc_exc", "W_inh_exc", "wake_seen"],
                           name="weights")
    counts_exc = EventMonitor(exc, "image_end", variables=["img_count"], name="counts_exc")
    counts_inh = EventMonitor(inh, "image_end", variables=["img_count"], name="counts_inh")
    starts = EventMonitor(ctrl, "sleep_start", variables=["W", "wake_steps"], name="sleep_starts")
    ends = EventMonitor(ctrl, "sleep_end", variables=["W", "end_reason", "wake_steps"],
                        name="sleep_ends")
    objects += [weights, counts_exc, counts_inh, starts, ends]
    if raster_exc:
        objects.append(EventMonitor(exc, "raster", name="raster_exc"))
    if raster_inh:
        objects.append(EventMonitor(inh, "raster", name="raster_inh"))
    if raster_inp:
        objects.append(EventMonitor(inp, "raster", name="raster_inp"))

    net = Network(*objects, name="ei_network")
    _set_runtime_values(net, params, sleep, schedule, seed)
    net.duration = duration_steps * dt
    net.n_images = n_presentations
    net.n_train = schedule.n_train
    net.image_schedule = schedule
    net.timed_arrays = timed
    return net


def runtime_values(params: EINetworkParams, sleep: SleepParams, schedule: ImageSchedule,
                   seed: int = 0) -> dict:
    """The values of every run-time settable variable, by ``(object, variable)``.

    These are what a standalone binary gets on its command line when it is
    re-run with new parameters (no recompilation). The schedule's TimedArrays
    are passed separately (:func:`_schedule_arrays`).
    """
    dt = params.dt
    spi = params.steps_per_image
    values = {
        ("ctrl", "mode"): _MODE_CODES[sleep.mode],
        ("ctrl", "alpha_trig"): sleep.alpha_trig,
        ("ctrl", "alpha_base"): sleep.alpha_base,
        ("ctrl", "fill_budget"): float(sleep.fill_budget),
        ("ctrl", "budget_factor"): sleep.budget_factor,
        ("ctrl", "max_sleep_steps"): sleep.max_sleep_steps(dt),
        ("ctrl", "interval_steps"): sleep.interval_steps(dt),
        ("ctrl", "next_sleep"): sleep.interval_steps(dt),
        ("ctrl", "sigma"): sleep.sigma,
        ("ctrl", "sticky"): float(sleep.sticky_spikes),
        ("ctrl", "plasticity_on"): float(params.plastic),
        ("ctrl", "input_seed"): float(int(seed)),
        ("ctrl", "total_steps"): schedule.n_presentations * spi,
        ("ctrl", "stim_t"): float(schedule.order[0]) * params.t_image,
        ("ctrl", "stim_key"): float(schedule.keys[0]),
        ("inp_exc", "eta_plus"): params.stdp.eta_plus,
        ("inp_exc", "eta_minus"): params.stdp.eta_minus,
        ("exc_exc", "eta_plus"): params.stdp.eta_plus,
        ("exc_exc", "eta_minus"): params.stdp.eta_minus,
        ("inh_exc", "eta"): params.istdp.eta,
        ("inp_exc", "w_max"): params.stdp.w_max,
        ("exc_exc", "w_max"): params.stdp.w_max,
        ("inh_exc", "w_max"): params.istdp.w_max,
    }
    for pathway in PLASTIC_PATHWAYS:
        values[(pathway, "w_tgt")] = sleep.w_tgt(pathway)
        values[(pathway, "lam_tick")] = sleep.lam_tick(dt)
    return values


def _set_runtime_values(net: Network, params, sleep, schedule, seed) -> None:
    for (obj, var), value in runtime_values(params, sleep, schedule, seed).items():
        setattr(net[obj], var, value)
    ctrl = net["ctrl"]
    ctrl.stim_on = 1
    ctrl.image_start = 1
    ctrl.plastic = float(params.plastic)


@dataclass
class RunOutput:
    """Everything a run of the E/I network produced.

    Attributes
    ----------
    counts_exc, counts_inh : ndarray, shape (n_recorded, n_exc / n_inh)
        Wake spikes per recorded presentation and neuron, in schedule order.
    recorded : ndarray of int
        Presentation index of each row of the counts.
    weights_t : ndarray
        Sample times of the weight traces (s).
    weights_wake_t : ndarray
        Wake time at each sample (s); ``weights_wake_t / t_image`` is the
        number of presentations shown so far.
    weights : dict of ndarray
        Total weight per plastic pathway at ``weights_t``.
    final_weights : dict of ndarray
        Final weights per pathway (all four), and ``'<pathway>_i'/'_j'`` indices.
    episodes : list of dict
        One per sleep episode: ``start``/``end`` (s of simulated time),
        ``start_wake``/``end_wake`` (s of wake time), ``W_start``, ``W_end``,
        ``reason`` (names).
    sleep_time, wake_time : float
        Total time asleep / awake (s).
    train_wake_time : float
        Wake time spent on training presentations (s).
    sleep_counts_exc, sleep_counts_inh : ndarray
        Spikes per neuron while sleeping (replay).
    W0 : float
        Total weight of the controlled pathways at the start.
    raster : dict
        ``'exc_t', 'exc_i', 'inh_t', 'inh_i'`` (and ``'inp_t', 'inp_i'``)
        spike times (s) and indices of the first neurons of each population.
    sim_time : float
        Simulated time (s).
    run_seconds, compile_seconds : float
        Wall time of the simulation loop and of code generation + compilation.
    seed : int
    backend : str
    n_train : int
        Training presentations.
    train_recorded : ndarray of bool
        For each row of the counts, whether it is a training presentation.
    build : dict
        What else the numbers depend on: backend, CPU, and for compiled code
        the compile mode, compiler and flags (:func:`spiking.backend.build_info`),
        and the build cache's key.
    """

    counts_exc: np.ndarray
    counts_inh: np.ndarray
    weights_t: np.ndarray
    weights: dict
    final_weights: dict
    episodes: list
    sleep_time: float
    wake_time: float
    sleep_counts_exc: np.ndarray
    sleep_counts_inh: np.ndarray
    W0: float
    raster: dict
    sim_time: float
    run_seconds: float
    compile_seconds: float
    seed: int
    backend: str
    n_train: int
    recorded: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    train_recorded: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    weights_wake_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    train_wake_time: float = 0.0
    extra: dict = field(default_factory=dict)
    build: dict = field(default_factory=dict)

    @property
    def sleep_ratio(self) -> float:
        """Achieved sleep / (sleep + wake) during the run."""
        total = self.sleep_time + self.wake_time
        return self.sleep_time / total if total > 0 else 0.0

    @property
    def training_sleep_ratio(self) -> float:
        """Achieved sleep / (sleep + training wake time): the ratio where sleep can happen."""
        total = self.sleep_time + self.train_wake_time
        return self.sleep_time / total if total > 0 else 0.0

    @property
    def realtime_factor(self) -> float:
        return self.sim_time / self.run_seconds if self.run_seconds > 0 else float("inf")

    def mean_rates(self, t_present: float, split: str = "all") -> dict:
        """Mean wake firing rate (Hz) per population over recorded presentations.

        ``split``: ``"all"``, ``"train"`` (training presentations) or
        ``"probe"`` (probe presentations).
        """
        train = self.train_recorded if self.train_recorded.size == len(self.counts_exc) else \
            np.arange(len(self.counts_exc)) < self.n_train
        sel = {"all": np.ones(len(self.counts_exc), bool), "train": train, "probe": ~train}[split]
        out = {}
        for name, counts in (("exc", self.counts_exc), ("inh", self.counts_inh)):
            c = counts[sel]
            out[name] = float(c.mean() / t_present) if c.size else float("nan")
        return out


def _per_image_counts(mon, n_neurons: int, n_images: int) -> np.ndarray:
    i = np.asarray(mon.i[:], dtype=np.int64)
    counts = np.asarray(mon.img_count[:], dtype=np.int64)
    n_events = len(i) // n_neurons if n_neurons else 0
    if len(i) != n_events * n_neurons:
        raise RuntimeError(f"image-boundary records are incomplete ({len(i)} for {n_neurons} neurons)")
    out = np.zeros((n_events, n_neurons), dtype=np.int32)
    rows = np.repeat(np.arange(n_events), n_neurons)
    out[rows, i] = counts
    if n_events != n_images:
        raise RuntimeError(
            f"recorded {n_events} image boundaries for {n_images} recorded images: the run ended early"
        )
    return out


class EISimulation:
    """Build (and for standalone backends, compile) the E/I network once, run it many times.

    Parameters
    ----------
    params : EINetworkParams
    sleep : SleepParams
        Its ``mode``, ``check_interval`` and ``pathways`` fix the structure;
        every other field can change between runs (``run(sleep=...)``).
    images : ImageSchedule or ndarray, shape (n_images, n_input)
        The schedule, or images in [0, 1] whose first ``n_train`` are the
        training block (:meth:`ImageSchedule.blocks`). A compiled program
        is built for the schedule's shape; ``run(schedule=...)`` shows
        another schedule of the same shape.
    n_train : int, optional
        With an array of images: the size of the training block.
    backend : str
        ``"cpp_standalone"`` (default), ``"numpy"``, ``"cython"`` or ``"cuda_standalone"``.
    directory : path-like, optional
        Build directory for standalone backends, compiled there and kept. By
        default a ``cpp_standalone`` network is compiled once into the shared
        build cache (:mod:`spiking.buildcache`) and this simulation works in a
        private directory of the cache, removed by :meth:`close`.
    progress : bool
        Show progress of long runs on stderr (a bar on a terminal, plain
        lines otherwise).
    raster_exc, raster_inh, record_interval
        See :func:`build_network`.
    seed : int
        Seed compiled into a program built in ``directory`` (every run sets
        its own seed, see :meth:`run`; a cached program is built with seed 0).
    compile_mode : str, optional
        Compiler flags of a standalone build (:func:`spiking.backend.resolve_compile_mode`).
    """

    def __init__(self, params: EINetworkParams, sleep: SleepParams, images, n_train: int | None = None,
                 *, backend: str = DEFAULT_BACKEND, directory=None,
                 progress: bool = True, raster_exc: int = 40, raster_inh: int = 10,
                 raster_inp: int = 0, record_interval=100 * ms, seed: int = 0, compile_mode: str | None = None):
        self.backend = check_backend(backend)
        self.compile_mode = resolve_compile_mode(compile_mode) if is_standalone(self.backend) else None
        self.build = build_info(self.backend, self.compile_mode)
        self._cached = self.backend == "cpp_standalone" and directory is None
        self._work = None
        self._entry = None
        self.params = params
        self.sleep = sleep
        self.schedule = as_schedule(images, n_train)
        self.images = self.schedule.images
        self.n_train = self.schedule.n_train
        self.progress = progress
        self.directory = directory
        self._build_kw = dict(raster_exc=raster_exc, raster_inh=raster_inh, raster_inp=raster_inp,
                              record_interval=record_interval)
        self._active = False
        self.net = None
        self.compile_seconds = 0.0
        self._built_seed = int(seed)
        self._closed = False
        if is_standalone(self.backend):
            self._build_standalone(int(seed))

    # ------------------------------------------------------------------
    def _build_standalone(self, seed: int) -> None:
        if self._cached:
            self._work = buildcache.work_dir()
            self.directory = self._work / "project"
            seed = 0  # the same code for every seed: each run sets its own
        self.directory = activate_standalone(self.backend, self.directory, compile_mode=self.compile_mode)
        self._active = True
        try:
            brian2.seed(seed)
            brian2.device.insert_code("main", _RESEED_CODE)
            t0 = time.perf_counter()
            self.net = build_network(self.params, self.sleep, self.schedule, seed=seed, **self._build_kw)
            report = _STANDALONE_REPORT if self.progress else None
            self.net.run(self.net.duration, report=report, report_period=2 * second,
                         namespace={})
            if self._cached:
                brian2.device.build(run=False, compile=False, directory=str(self.directory))
                # the program depends on the compiler and its flags (and, for -march=native, the CPU);
                # not on the number of make jobs
                key_extra = {k: v for k, v in self.build.items() if k != "make_jobs"}
                self._entry = buildcache.compiled(self.directory, _compile_project,
                                                  extra={"brian2": brian2.__version__, **key_extra},
                                                  info=self.build)
                self.build = {**self.build, "cache_key": self._entry.key, "cache_hit": self._entry.hit}
            else:
                brian2.device.build(run=False, directory=str(self.directory))
            self.compile_seconds = time.perf_counter() - t0
        except BaseException:
            self.close()
            raise

    def _check_structure(self, sleep: SleepParams) -> None:
        if sleep.mode != self.sleep.mode and "off" in (sleep.mode, self.sleep.mode):
            raise ParameterError(
                f"sleep.mode={sleep.mode!r} differs from the compiled mode {self.sleep.mode!r}; "
                "'off' builds no decay or noise, so build a new EISimulation"
            )
        if sleep.check_interval != self.sleep.check_interval or sleep.pathways != self.sleep.pathways:
            raise ParameterError(
                "sleep.check_interval and sleep.pathways are fixed when the network is built; "
                "build a new EISimulation to change them"
            )

    def _check_schedule(self, schedule) -> ImageSchedule:
        if schedule is None:
            return self.schedule
        schedule = as_schedule(schedule)
        if schedule.shape != self.schedule.shape:
            raise ParameterError(
                f"schedule shape (n_images, n_input, n_presentations)={schedule.shape} differs from the "
                f"compiled {self.schedule.shape}; build a new EISimulation")
        return schedule

    def run(self, seed: int = 0, sleep: SleepParams | None = None,
            params: EINetworkParams | None = None, schedule: ImageSchedule | None = None) -> RunOutput:
        """Run the whole schedule once and return its outputs.

        ``sleep`` and ``params`` may change run-time values (see
        :func:`runtime_values`), ``schedule`` the images and order (same
        shape); anything else needs a new simulation.
        """
        if self._closed:
            raise RuntimeError("this EISimulation has been closed")
        sleep = self.sleep if sleep is None else sleep
        params = self.params if params is None else params
        schedule = self._check_schedule(schedule)
        self._check_structure(sleep)
        if params is not self.params:
            _check_same_structure(self.params, params)
        if is_standalone(self.backend):
            return self._run_standalone(int(seed), sleep, params, schedule)
        return self._run_runtime(int(seed), sleep, params, schedule)

    def _run_standalone(self, seed: int, sleep: SleepParams, params: EINetworkParams,
                        schedule: ImageSchedule) -> RunOutput:
        net = self.net
        run_args = {}
        for (obj, var), value in runtime_values(params, sleep, schedule, seed).items():
            run_args[getattr(net[obj], var)] = value
        built = _schedule_arrays(self.schedule, self.params)
        for name, values in _schedule_arrays(schedule, params).items():
            if not np.array_equal(np.asarray(values), np.asarray(built[name])):
                run_args[net.timed_arrays[name]] = values
        env = {SEED_ENV: str(seed), PROGRESS_ENV: "bar" if sys.stderr.isatty() else "lines"}
        brian2.device.run_environment_variables.update(env)
        previous = {k: os.environ.get(k) for k in env}
        cpp = brian2.prefs.devices.cpp_standalone
        run_cmd = cpp.run_cmd_unix
        if self._entry is not None:  # the cached program, run in this simulation's own directory
            cpp.run_cmd_unix = guarded([str(self._entry.program)])
        try:
            brian2.device.run(directory=str(self.directory), run_args=run_args, with_output=True)
        finally:
            cpp.run_cmd_unix = run_cmd
            # Brian2 copies the variables into this process's environment; put
            # them back so the next re-run with another seed is not reported as
            # overwriting them
            for k, v in previous.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        # every run writes new result files: forget values (and sizes of the
        # monitors' dynamic arrays) cached from a previous run
        for var in list(brian2.device.array_cache):
            brian2.device.array_cache[var] = None
        if self.progress and sys.stderr.isatty():
            sys.stderr.write("\n")
        run_seconds = float(brian2.device._last_run_time)
        return self._collect(net, seed, run_seconds, params, sleep, schedule)

    def _run_runtime(self, seed: int, sleep: SleepParams, params: EINetworkParams,
                     schedule: ImageSchedule, weights: dict | None = None) -> RunOutput:
        with use_backend(self.backend):
            brian2.seed(seed)
            t0 = time.perf_counter()
            net = build_network(params, sleep, schedule, seed=seed, **self._build_kw)
            if weights:
                set_weights(net, weights)
            build_s = time.perf_counter() - t0
            report = _RuntimeProgress(net) if self.progress else None
            t0 = time.perf_counter()
            net.run(net.duration, report=report, report_period=2 * second, namespace={})
            run_seconds = time.perf_counter() - t0
            if report is not None:
                report.close()
            self.net = net
            self.compile_seconds = build_s
            return self._collect(net, seed, run_seconds, params, sleep, schedule)

    def run_from_weights(self, weights: dict, seed: int = 0, sleep: SleepParams | None = None,
                         params: EINetworkParams | None = None,
                         schedule: ImageSchedule | None = None) -> RunOutput:
        """Run (runtime backends only) starting from given weights instead of random ones.

        ``weights`` maps pathway names to weight arrays of the network that
        the same seed connects (e.g. ``RunOutput.final_weights`` of a run with
        this seed).
        """
        if is_standalone(self.backend):
            raise ParameterError("run_from_weights needs a runtime backend (numpy or cython)")
        sleep = self.sleep if sleep is None else sleep
        params = self.params if params is None else params
        return self._run_runtime(int(seed), sleep, params, self._check_schedule(schedule), weights)

    def _collect(self, net, seed, run_seconds, params, sleep, schedule) -> RunOutput:
        recorded = schedule.recorded
        dt = float(params.dt / second)
        ctrl = net["ctrl"]
        sleep_steps = int(ctrl.sleep_steps[0])
        # the last step only records the final image boundary
        wake_steps = max(int(ctrl.wake_steps[0]) - 1, 0)
        train_wake_steps = int(ctrl.train_wake_steps[0])
        counts_exc = _per_image_counts(net["counts_exc"], params.n_exc, len(recorded))
        counts_inh = _per_image_counts(net["counts_inh"], params.n_inh, len(recorded))
        wmon = net["weights"]
        weights = {p: np.asarray(getattr(wmon, f"W_{p}")[:], dtype=float) for p in PLASTIC_PATHWAYS}
        final = {}
        for p in ("inp_exc", "exc_exc", "exc_inh", "inh_exc"):
            syn = net[p]
            final[p] = np.asarray(syn.w[:], dtype=float)
            final[p + "_i"] = np.asarray(syn.i[:], dtype=np.int32)
            final[p + "_j"] = np.asarray(syn.j[:], dtype=np.int32)
        starts, ends = net["sleep_starts"], net["sleep_ends"]
        st, et = np.asarray(starts.t / second), np.asarray(ends.t / second)
        episodes = []
        for k, t_start in enumerate(st):
            ep = {"start": float(t_start), "start_wake": float(starts.wake_steps[k]) * dt,
                  "W_start": float(starts.W[k])}
            if k < len(et):
                ep.update(end=float(et[k]), end_wake=float(ends.wake_steps[k]) * dt,
                          W_end=float(ends.W[k]), reason=decode_end_reason(int(ends.end_reason[k])))
            else:  # still asleep when the run ended (cannot happen: wake must finish)
                ep.update(end=None, end_wake=None, W_end=None, reason=["unfinished"])
            episodes.append(ep)
        raster = {}
        for pop in ("exc", "inh", "inp"):
            name = f"raster_{pop}"
            if name in net:
                raster[f"{pop}_t"] = np.asarray(net[name].t / second)
                raster[f"{pop}_i"] = np.asarray(net[name].i[:], dtype=np.int32)
        # simulated time from the controller's step counters (every step is
        # either awake or asleep); net.t of a standalone run that stopped
        # early would report the planned end
        sim_time = (int(ctrl.wake_steps[0]) + sleep_steps) * dt
        return RunOutput(
            counts_exc=counts_exc, counts_inh=counts_inh,
            weights_t=np.asarray(wmon.t / second), weights=weights, final_weights=final,
            episodes=episodes, sleep_time=sleep_steps * dt, wake_time=wake_steps * dt,
            sleep_counts_exc=np.asarray(net["exc"].sleep_count[:], dtype=np.int64),
            sleep_counts_inh=np.asarray(net["inh"].sleep_count[:], dtype=np.int64),
            W0=float(ctrl.W0[0]), raster=raster, sim_time=sim_time,
            run_seconds=run_seconds, compile_seconds=self.compile_seconds, seed=seed,
            backend=self.backend, n_train=schedule.n_train, recorded=recorded,
            train_recorded=schedule.train[recorded],
            weights_wake_t=np.asarray(wmon.wake_seen / second, dtype=float),
            train_wake_time=train_wake_steps * dt, build=dict(self.build),
        )

    def close(self) -> None:
        """Release the standalone device (a build ``directory`` is kept; a cached build stays in the cache)."""
        if self._active:
            self._active = False
            reset_device()
        if self._entry is not None:
            self._entry.release()
            self._entry = None
        if self._work is not None:
            import shutil

            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def set_weights(net: Network, weights: dict) -> None:
    """Replace the weights of a (runtime) network, keeping the running weight sums consistent.

    Parameters
    ----------
    net : brian2.Network
        From :func:`build_network`, before it runs.
    weights : dict
        Pathway name -> weight array (the length the network's connectivity has).
    """
    for pathway, w in weights.items():
        if pathway.endswith("_i") or pathway.endswith("_j"):
            continue
        syn = net[pathway]
        w = np.asarray(w, dtype=float)
        if w.shape != (len(syn),):
            raise ParameterError(
                f"weights[{pathway!r}] has {w.size} values for {len(syn)} synapses "
                "(the same seed must connect the network)")
        syn.w[:] = w


def _compile_project(directory) -> None:
    """Compile a generated standalone project with the current device's settings (make, flags, jobs)."""
    from brian2.codegen.cpp_prefs import get_compiler_and_args

    compiler, _ = get_compiler_and_args()
    brian2.device.compile_source(str(directory), compiler, False, False)


def _check_same_structure(a: EINetworkParams, b: EINetworkParams) -> None:
    """Only learning rates and ``plastic`` may differ between runs of one build."""
    runtime_ok = {"stdp": ("eta_plus", "eta_minus", "w_max"), "istdp": ("eta", "w_max")}
    for f in dataclasses.fields(a):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if f.name == "plastic":
            continue
        if f.name in runtime_ok:
            fixed = [g.name for g in dataclasses.fields(va) if g.name not in runtime_ok[f.name]]
            if any(getattr(va, n) != getattr(vb, n) for n in fixed):
                raise ParameterError(
                    f"EINetworkParams.{f.name} differs in a field fixed at build time "
                    f"(only {runtime_ok[f.name]} can change between runs)"
                )
        elif va != vb:
            raise ParameterError(
                f"EINetworkParams.{f.name} differs from the built network; build a new EISimulation"
            )


# Re-seed every random generator from $SLEEP_SNN_SEED when it is set, right
# after the seed compiled into main(): connectivity, initial weights, input
# spikes and noise then all follow the run-time seed, without recompiling.
_RESEED_CODE = f"""
{{
    const char* _sleep_snn_seed = std::getenv("{SEED_ENV}");
    if (_sleep_snn_seed != NULL) {{
        const unsigned long _seed_value = std::strtoul(_sleep_snn_seed, NULL, 10);
        for (size_t _k = 0; _k < brian::_random_generators.size(); _k++)
            brian::_random_generators[_k].seed(_seed_value + _k);
    }}
}}
"""

# Progress of a standalone run: images shown (wake clock), not simulated time,
# since the length of a run with sleep is not known in advance. On a terminal a
# bar redrawn in place; otherwise ($SLEEP_SNN_PROGRESS_STYLE=lines, set by
# EISimulation when stderr is not a terminal) one plain line per tenth of the run.
_STANDALONE_REPORT = r"""
    const double _wake = brian::_array_ctrl_wake_steps[0];
    const double _total = brian::_array_ctrl_total_steps[0];
    const double _slept = brian::_array_ctrl_sleep_steps[0];
    const double _frac = _total > 0 ? _wake / _total : 1.0;
    const double _eta = _frac > 0 ? elapsed * (1.0 - _frac) / _frac : 0.0;
    static int _lines = -1;
    static int _last_tenth = -1;
    if (_lines < 0) {
        const char* _style = std::getenv("%s");
        _lines = (_style != NULL && std::string(_style) == "lines") ? 1 : 0;
    }
    if (_lines) {
        const int _tenth = (int)(10 * _frac);
        if (_tenth > _last_tenth) {
            _last_tenth = _tenth;
            std::cerr << "[run] " << (int)(100 * _frac) << "%% of images, slept " << _slept / 1000.0
                      << " s, " << (int)elapsed << " s elapsed, ~" << (int)_eta << " s left" << std::endl;
        }
    } else {
        const int _width = 30;
        const int _filled = (int)(_frac * _width);
        std::cerr << "\r[";
        for (int _k = 0; _k < _width; _k++) std::cerr << (_k < _filled ? '#' : '.');
        std::cerr << "] " << (int)(100 * _frac) << "%% of images, slept " << _slept / 1000.0
                  << " s, " << (int)elapsed << " s elapsed, ~" << (int)_eta << " s left   " << std::flush;
    }
""" % PROGRESS_ENV


class _RuntimeProgress:
    """A tqdm bar over images shown, for runtime (numpy/cython) backends."""

    def __init__(self, net):
        from tqdm import tqdm

        self.net = net
        self.total = int(net["ctrl"].total_steps[0])
        self.bar = tqdm(total=self.total, unit="step", desc="wake steps", leave=False,
                        disable=not sys.stderr.isatty() and os.environ.get("SLEEP_SNN_PROGRESS") != "1")

    def __call__(self, elapsed, completed, start, duration):
        done = int(self.net["ctrl"].wake_steps[0])
        self.bar.update(max(0, done - self.bar.n))

    def close(self):
        self.bar.close()
