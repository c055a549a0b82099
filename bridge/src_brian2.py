"""Brian2 implementation of Sleep Replay Consolidation (SRC).

Tadros, Krishnan, Ramyaa & Bazhenov, Nat. Commun. 13:7742 (2022); the
algorithm and its exact per-step order are described in :mod:`bridge.src`.
This module builds the same network out of Brian2 objects:

* the input is a ``SpikeGeneratorGroup`` replaying a given raster (generated
  on the host from a seed, the same as the torch backend's, so one seed gives
  the same input in both backends);
* layer ``l`` is a ``NeuronGroup`` with ``v`` (membrane potential) and ``I``
  (the summed weights of this step's input spikes), threshold
  ``v >= vth`` (``vth = threshold * beta_l``) and reset ``v = 0``;
* pathway ``l`` is a ``Synapses`` object with weight ``w`` (ANN units) and
  ``lastpre``, the time step of the last presynaptic spike; ``on_pre`` adds
  ``w`` to ``I_post`` and stamps ``lastpre``; ``on_post`` applies the SRC
  rule (:data:`bridge.rule.BRIAN2_ON_POST`) to all incoming synapses of the
  spiking neuron, using ``lastpre == t_in_timesteps`` to know whether the pre
  neuron spiked in the same step;
* a ``run_regularly`` per layer computes ``v = decay*v + alpha_l*I; I = 0``.

Scheduling: everything that must happen within one step is put in the
``thresholds`` slot with increasing ``order`` (layer ``l = 1..L``)::

    order 0         input SpikeGeneratorGroup emits this step's spikes
    order 4l-3      syn_l.pre:  I_post += w            (impulse from layer l-1)
    order 4l-2      layer_l:    v = decay*v + alpha_l*I; I = 0
    order 4l-1      layer_l thresholder: v >= vth
    order 4l        syn_l.post: plasticity on the incoming weights of spiking neurons

so a spike crosses all layers in the step it was generated, and each layer's
impulse uses its weights before that layer's plasticity, exactly as the torch
path. Resets (``v = 0``) run in the default ``resets`` slot after all
thresholds; nothing reads ``v`` in between. The impulse is summed in ``I``
before it is scaled and added to the decayed ``v``, so the arithmetic is
``decay*v + alpha*(sum of w)``, as in the torch path (only the summation
order, and Brian2's ``-ffast-math`` compilation in standalone mode, can
change the last bits).

Precision: the network uses ``float32`` state variables by default
(``prefs.core.default_float_dtype``, restored afterwards) or ``float64``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .presets import SRCParams
from .rule import BRIAN2_ON_POST, BRIAN2_ON_PRE

__all__ = ["Brian2Run", "run_brian2", "BRIAN2_BACKENDS"]

#: Brian2 code-generation targets accepted by :func:`run_brian2`.
BRIAN2_BACKENDS = ("cpp_standalone", "numpy", "cython", "cuda_standalone")


@dataclass(frozen=True, eq=False)
class Brian2Run:
    """Output of :func:`run_brian2`.

    Parameters
    ----------
    weights : tuple of numpy.ndarray
        Final weights per layer, shape ``(n_out, n_in)``, in the run dtype.
    counts : numpy.ndarray
        int64 spike counts per layer, input first.
    run_seconds : float
        Seconds of the simulation proper (standalone: measured inside the
        compiled program).
    build_seconds : float
        Seconds to build the objects and generate/compile the code.
    directory : str or None
        Standalone project directory (None for runtime targets, or when a
        temporary directory was used and deleted).
    """

    weights: tuple
    counts: np.ndarray
    run_seconds: float
    build_seconds: float
    directory: str | None


def _raster_to_events(chunks: Iterator[np.ndarray], n_in: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Concatenate raster chunks into (indices, step numbers, total steps)."""
    idx_parts, step_parts = [], []
    offset = 0
    for chunk in chunks:
        if chunk.shape[1] != n_in:
            raise ValueError(f"input raster has {chunk.shape[1]} columns, expected {n_in}")
        t_idx, cols = np.nonzero(chunk)
        idx_parts.append(cols.astype(np.int32))
        step_parts.append((t_idx + offset).astype(np.int64))
        offset += chunk.shape[0]
    if idx_parts:
        return np.concatenate(idx_parts), np.concatenate(step_parts), offset
    return np.zeros(0, np.int32), np.zeros(0, np.int64), 0


def run_brian2(weights: Sequence[np.ndarray], alpha: Sequence[float], thresholds: Sequence[float],
               params: SRCParams, chunks: Iterator[np.ndarray], backend: str = "cpp_standalone",
               directory: Any = None, dtype: str = "float32") -> Brian2Run:
    """Simulate SRC in Brian2.

    Parameters
    ----------
    weights : sequence of numpy.ndarray
        Initial weights per layer, shape ``(n_out, n_in)`` (ANN units).
    alpha : sequence of float
        Impulse factor per layer.
    thresholds : sequence of float
        Firing threshold per layer (``threshold * beta_l``).
    params : SRCParams
        ``decay``, ``inc``, ``dec``, ``g_scale`` and ``dt`` are used (the
        input comes from ``chunks``).
    chunks : iterator of numpy.ndarray
        The input raster, bool chunks of shape ``(steps_in_chunk, n_in)``;
        their total length is the number of simulated steps.
    backend : str
        Brian2 target, one of :data:`BRIAN2_BACKENDS`.
    directory : path-like, optional
        Standalone project directory (kept); a temporary one (deleted after
        reading the results) when None.
    dtype : {"float32", "float64"}
        Precision of the state variables.

    Returns
    -------
    Brian2Run
    """
    import brian2
    from brian2 import (Network, NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, Synapses, ms,
                        prefs)

    from spiking.backend import is_standalone, use_backend

    if backend not in BRIAN2_BACKENDS:
        raise ValueError(f"brian2_backend={backend!r} is not known; allowed: {', '.join(BRIAN2_BACKENDS)}")
    np_dtype = {"float32": np.float32, "float64": np.float64}[dtype]
    weights = [np.asarray(w) for w in weights]

    def const(x: float) -> float:  # constants rounded to the run precision, as in torch
        return float(np_dtype(x))

    n_layers = len(weights)
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    indices, steps_of_spikes, n_steps = _raster_to_events(chunks, sizes[0])
    if n_steps < 1:
        raise ValueError("the input raster has no steps")

    standalone = is_standalone(backend)
    tmp = None
    if standalone and directory is None:
        tmp = tempfile.mkdtemp(prefix="sleep_snn_src_")
        directory = tmp
    old_dtype = prefs.core.default_float_dtype
    t_build = time.perf_counter()
    try:
        with use_backend(backend, directory) as build_dir:
            prefs.core.default_float_dtype = np_dtype
            dt = params.dt * ms
            inp = SpikeGeneratorGroup(sizes[0], indices, steps_of_spikes * dt, dt=dt,
                                      when="thresholds", order=0, name="src_input")
            objects: list[Any] = [inp]
            layers, syns = [], []
            prev = inp
            for k in range(n_layers):
                lay = k + 1
                ns = {"vth": const(thresholds[k]), "decay": const(params.decay),
                      "alpha_l": const(alpha[k])}
                grp = NeuronGroup(sizes[lay], "v : 1\nI : 1", threshold="v >= vth", reset="v = 0",
                                  dt=dt, namespace=ns, name=f"src_layer{lay}")
                grp.run_regularly("v = decay*v + alpha_l*I\nI = 0", dt=dt, when="thresholds",
                                  order=4 * lay - 2, name=f"src_layer{lay}_integrate")
                grp.thresholder["spike"].when = "thresholds"
                grp.thresholder["spike"].order = 4 * lay - 1
                syn = Synapses(
                    prev, grp, model="w : 1\nlastpre : integer",
                    on_pre=BRIAN2_ON_PRE, on_post=BRIAN2_ON_POST,
                    dt=dt, namespace={"inc": const(params.inc), "dec": const(params.dec),
                                      "g_scale": const(params.g_scale)},
                    name=f"src_syn{lay}")
                n_pre, n_post = sizes[k], sizes[lay]
                # synapse s = i * n_post + j  (pre-major: a pre spike touches a contiguous block)
                syn.connect(i=np.repeat(np.arange(n_pre, dtype=np.int32), n_post),
                            j=np.tile(np.arange(n_post, dtype=np.int32), n_pre))
                syn.w = np.ascontiguousarray(weights[k].T, dtype=np.float64).ravel()
                syn.lastpre = -1
                syn.pre.when = "thresholds"
                syn.pre.order = 4 * lay - 3
                syn.post.when = "thresholds"
                syn.post.order = 4 * lay
                layers.append(grp)
                syns.append(syn)
                objects += [grp, syn]
                prev = grp
            # monitors after the rescheduling
            monitors = [SpikeMonitor(g, record=False, name=f"src_count{k}")
                        for k, g in enumerate([inp] + layers)]
            net = Network(objects + monitors)
            with np.errstate(over="ignore"):  # exp overflow in g(w) for w << 0 gives g = 2 exactly
                net.run(n_steps * dt, namespace={})
            if standalone:
                brian2.device.build(directory=str(build_dir), compile=True, run=False,
                                    with_output=False)
                build_seconds = time.perf_counter() - t_build
                t_run = time.perf_counter()
                brian2.device.run(directory=str(build_dir), with_output=False)
                wall = time.perf_counter() - t_run
                run_seconds = float(getattr(brian2.device, "_last_run_time", None) or wall)
            else:
                total = time.perf_counter() - t_build
                run_seconds = float(getattr(net, "_last_run_time", None) or total)
                build_seconds = max(0.0, total - run_seconds)
            out_w = []
            for k, syn in enumerate(syns):
                w = np.zeros((sizes[k + 1], sizes[k]), dtype=np_dtype)
                w[np.asarray(syn.j[:]), np.asarray(syn.i[:])] = np.asarray(syn.w[:])
                out_w.append(w)
            counts = np.array([int(m.num_spikes) for m in monitors], dtype=np.int64)
    finally:
        prefs.core.default_float_dtype = old_dtype
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return Brian2Run(weights=tuple(out_w), counts=counts, run_seconds=run_seconds,
                     build_seconds=build_seconds,
                     directory=None if (tmp is not None or not standalone) else str(Path(directory)))
