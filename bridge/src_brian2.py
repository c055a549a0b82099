"""Brian2 implementation of Sleep Replay Consolidation (SRC), compiled once per network structure.

Tadros, Krishnan, Ramyaa & Bazhenov, Nat. Commun. 13:7742 (2022); the
algorithm and its exact per-step order are described in :mod:`bridge.src`.
This module builds the same network out of Brian2 objects:

* the input is a ``NeuronGroup`` that replays a given raster (generated on
  the host from a seed, the same as the torch backend's, so one seed gives the
  same input in both backends). The raster is *bit-packed* into a
  ``TimedArray`` (:func:`pack_raster`: row = step, 30 inputs per word, an
  integer below 2**30, exact in float64 and in the int32 that Brian2's
  ``floor`` returns on the numpy target) and input ``i`` spikes when bit
  ``i mod 30`` of word ``i // 30`` is set;
* layer ``l`` is a ``NeuronGroup`` with ``v`` (membrane potential) and ``I``
  (the summed weights of this step's input spikes), threshold ``v >= vth``
  (``vth = threshold * beta_l``) and reset ``v = 0``;
* pathway ``l`` is a ``Synapses`` object with weight ``w`` (ANN units) and
  ``lastpre``, the time step of the last presynaptic spike; ``on_pre`` adds
  ``w`` to ``I_post`` and stamps ``lastpre``; ``on_post`` applies the SRC
  rule (:data:`bridge.rule.BRIAN2_ON_POST`) to all incoming synapses of the
  spiking neuron, using ``lastpre == t_in_timesteps`` to know whether the pre
  neuron spiked in the same step;
* a ``run_regularly`` per layer computes ``v = decay*v + alpha_l*I; I = 0``;
* a one-neuron clock group ends the run after ``n_run`` steps
  (:data:`spiking.functions.stop_when`).

Everything that changes from one sleep to the next is a *run-time* value:
the weights, the membrane potentials, ``alpha_l``, ``vth``, ``decay``,
``inc``, ``dec``, ``g_scale`` (float64 variables, so the arithmetic is the
same as with compiled-in constants), the raster and the number of steps. With
``cpp_standalone`` the network is therefore generated and compiled once per
structure (layer sizes, precision, ``dt``, raster capacity) and process, and
every later sleep re-runs the same binary with ``device.run(run_args=...)``
(:class:`Brian2Program`; the E/I network does the same,
:class:`spiking.network.EISimulation`). A sleep longer than the capacity runs
as consecutive chunks, the potentials carried over. A re-run gives bit for
bit what a fresh build gives (tested). Between runs the runtime device is
active again, so other Brian2 code in the process is not affected; building
another standalone project (another structure, or an E/I network) discards
the compiled SRC program, which is then built again when next needed.

Scheduling: everything that must happen within one step is put in the
``thresholds`` slot with increasing ``order`` (layer ``l = 1..L``)::

    order 0         input group: bit test of this step's raster row
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

import atexit
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .presets import SRCParams
from .rule import BRIAN2_ON_POST, BRIAN2_ON_PRE

__all__ = ["Brian2Run", "Brian2Program", "run_brian2", "pack_raster", "BRIAN2_BACKENDS", "RASTER_WORD_BITS",
           "PROGRAM_STEPS"]

#: Brian2 code-generation targets accepted by :func:`run_brian2`.
BRIAN2_BACKENDS = ("cpp_standalone", "numpy", "cython", "cuda_standalone")
#: Inputs per word of the packed raster (words stay below 2**30: exact in float64, and in the
#: int32 that Brian2's ``floor`` returns on the numpy target).
RASTER_WORD_BITS = 30
#: Raster capacity (steps per binary run) of a compiled program, unless a first
#: sleep is longer; longer sleeps run as several chunks.
PROGRAM_STEPS = 40000


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
        compiled program, summed over its runs).
    build_seconds : float
        Seconds to build the objects and generate/compile the code (0 when a
        compiled program was re-used).
    directory : str or None
        Standalone project directory (None for runtime targets, or when a
        temporary directory is used).
    runs : int
        Binary runs (chunks) of this call (1 for runtime targets).
    reused : bool
        Whether a program compiled by an earlier call was re-run.
    """

    weights: tuple
    counts: np.ndarray
    run_seconds: float
    build_seconds: float
    directory: str | None
    runs: int = 1
    reused: bool = False


# --------------------------------------------------------------------------
# Raster packing
# --------------------------------------------------------------------------
def pack_raster(raster: np.ndarray, rows: int | None = None) -> np.ndarray:
    """Pack a bool raster ``(steps, n_in)`` into float64 words ``(rows, ceil(n_in / 30))``.

    Input ``i`` of step ``s`` is bit ``i % 30`` of word ``i // 30`` of row
    ``s`` (:data:`RASTER_WORD_BITS`); rows after ``steps`` (up to ``rows``)
    are zero. Every word is an integer below ``2**30``.
    """
    raster = np.asarray(raster, dtype=bool)
    steps, n_in = raster.shape
    rows = steps if rows is None else int(rows)
    if rows < steps:
        raise ValueError(f"rows={rows} < steps={steps}")
    n_words = -(-n_in // RASTER_WORD_BITS)
    padded = np.zeros((steps, n_words * RASTER_WORD_BITS), dtype=np.int64)
    padded[:, :n_in] = raster
    weights = np.left_shift(np.int64(1), np.arange(RASTER_WORD_BITS, dtype=np.int64))
    words = (padded.reshape(steps, n_words, RASTER_WORD_BITS) * weights).sum(axis=2)
    out = np.zeros((rows, n_words), dtype=np.float64)
    out[:steps] = words
    return out


def _collect_raster(chunks: Iterator[np.ndarray], n_in: int) -> np.ndarray:
    parts = []
    for chunk in chunks:
        if chunk.shape[1] != n_in:
            raise ValueError(f"input raster has {chunk.shape[1]} columns, expected {n_in}")
        parts.append(np.asarray(chunk, dtype=bool))
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, n_in), dtype=bool)


# --------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------
_LAYER_MODEL = "v : 1\nI : 1\nvth : 1 (shared, constant)\ndecay : 1 (shared, constant)\nalpha_l : 1 (shared, constant)"
_SYN_MODEL = ("w : 1\nlastpre : integer\ninc : 1 (shared, constant)\ndec : 1 (shared, constant)\n"
              "g_scale : 1 (shared, constant)")
_F64_LAYER = {"vth": np.float64, "decay": np.float64, "alpha_l": np.float64}
_F64_SYN = {"inc": np.float64, "dec": np.float64, "g_scale": np.float64}


def _build_network(sizes: Sequence[int], rows: int, dt_ms: float, packed: np.ndarray | None = None) -> dict:
    """The SRC network for ``sizes`` with a raster of ``rows`` steps (``packed``, or zeros to be set at run time)."""
    from brian2 import Clock, Network, NeuronGroup, SpikeMonitor, Synapses, TimedArray, ms

    from spiking.functions import stop_when

    clock = Clock(dt=dt_ms * ms, name="src_clock_dt")
    n_in = int(sizes[0])
    n_words = -(-n_in // RASTER_WORD_BITS)
    raster = TimedArray(np.zeros((rows, n_words)) if packed is None else packed, dt=dt_ms * ms, name="src_raster")
    inp = NeuronGroup(n_in, "word : integer (constant)\nscale : 1 (constant)",
                      threshold="floor(src_raster(t, word) * scale) % 2 > 0.5", reset="", clock=clock,
                      namespace={"src_raster": raster}, dtype={"scale": np.float64}, name="src_input")
    inp.word = np.arange(n_in) // RASTER_WORD_BITS
    inp.scale = 2.0 ** -(np.arange(n_in) % RASTER_WORD_BITS).astype(np.float64)
    inp.thresholder["spike"].when = "thresholds"
    inp.thresholder["spike"].order = 0
    stopper = NeuronGroup(1, "n_run : integer (constant)\nstopped : 1", clock=clock,
                          namespace={"stop_when": stop_when}, name="src_stopper")
    stopper.run_regularly("stopped = stop_when(int(t_in_timesteps + 1 >= n_run))", when="end",
                          name="src_stop")
    objects: list[Any] = [inp, stopper]
    layers, syns = [], []
    prev = inp
    for k in range(len(sizes) - 1):
        lay = k + 1
        grp = NeuronGroup(int(sizes[lay]), _LAYER_MODEL, threshold="v >= vth", reset="v = 0", clock=clock,
                          namespace={}, dtype=_F64_LAYER, name=f"src_layer{lay}")
        grp.run_regularly("v = decay*v + alpha_l*I\nI = 0", when="thresholds", order=4 * lay - 2,
                          name=f"src_layer{lay}_integrate")
        grp.thresholder["spike"].when = "thresholds"
        grp.thresholder["spike"].order = 4 * lay - 1
        syn = Synapses(prev, grp, model=_SYN_MODEL, on_pre=BRIAN2_ON_PRE, on_post=BRIAN2_ON_POST, clock=clock,
                       namespace={}, dtype=_F64_SYN, name=f"src_syn{lay}")
        n_pre, n_post = int(sizes[k]), int(sizes[lay])
        # synapse s = i * n_post + j  (pre-major: a pre spike touches a contiguous block)
        syn.connect(i=np.repeat(np.arange(n_pre, dtype=np.int32), n_post),
                    j=np.tile(np.arange(n_post, dtype=np.int32), n_pre))
        syn.lastpre = -1
        syn.pre.when = "thresholds"
        syn.pre.order = 4 * lay - 3
        syn.post.when = "thresholds"
        syn.post.order = 4 * lay
        layers.append(grp)
        syns.append(syn)
        objects += [grp, syn]
        prev = grp
    monitors = [SpikeMonitor(g, record=False, name=f"src_count{k}") for k, g in enumerate([inp] + layers)]
    net = Network(objects + monitors)
    return {"net": net, "raster": raster, "input": inp, "stopper": stopper, "layers": layers, "syns": syns,
            "monitors": monitors, "clock": clock}


def _values(weights, potentials, alpha, thresholds, params: SRCParams, np_dtype) -> list[tuple]:
    """``(group, variable, value)`` of every run-time value of one run."""
    def const(x):  # constants rounded to the run precision, as in torch
        return float(np_dtype(x))

    out = []
    for k, (w, v) in enumerate(zip(weights, potentials)):
        out += [(("syns", k), "w", np.ascontiguousarray(np.asarray(w).T, dtype=np_dtype).ravel()),
                (("layers", k), "v", np.asarray(v, dtype=np_dtype)),
                (("layers", k), "vth", const(thresholds[k])), (("layers", k), "decay", const(params.decay)),
                (("layers", k), "alpha_l", const(alpha[k])), (("syns", k), "inc", const(params.inc)),
                (("syns", k), "dec", const(params.dec)), (("syns", k), "g_scale", const(params.g_scale))]
    return out


# --------------------------------------------------------------------------
# Compiled program (standalone)
# --------------------------------------------------------------------------
class Brian2Program:
    """One compiled standalone SRC network, re-run for every sleep with new values.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first.
    dtype : {"float32", "float64"}
    dt : float
        Time step (ms).
    rows : int
        Raster capacity: steps per binary run.
    backend : {"cpp_standalone", "cuda_standalone"}
    directory : path-like
        Project directory (kept).

    Attributes
    ----------
    build_seconds : float
        Code generation and compilation.
    runs : int
        Binary runs so far.
    """

    def __init__(self, sizes: Sequence[int], dtype: str, dt: float, rows: int, backend: str,
                 directory: Any) -> None:
        import brian2
        from brian2 import ms, prefs

        from spiking.backend import activate_standalone

        self.sizes = tuple(int(s) for s in sizes)
        self.dtype = dtype
        self.np_dtype = {"float32": np.float32, "float64": np.float64}[dtype]
        self.dt = float(dt)
        self.rows = int(rows)
        self.backend = backend
        self.runs = 0
        old_dtype = prefs.core.default_float_dtype
        t0 = time.perf_counter()
        try:
            self.directory = activate_standalone(backend, directory)
            prefs.core.default_float_dtype = self.np_dtype
            self.objects = _build_network(self.sizes, self.rows, self.dt)
            self.objects["net"].run(self.rows * self.dt * ms, namespace={})
            self.device = brian2.get_device()
            self.device.build(directory=str(self.directory), compile=True, run=False, with_output=False)
            self.token = object()
            self.device._sleep_snn_src_program = self.token
        finally:
            prefs.core.default_float_dtype = old_dtype
            # the runtime device is active again; the standalone device keeps the project
            brian2.set_device("runtime")
            brian2.prefs.codegen.target = "numpy"
        self.build_seconds = time.perf_counter() - t0

    @property
    def valid(self) -> bool:
        """False once the standalone device was re-initialised (another project was built)."""
        return getattr(self.device, "_sleep_snn_src_program", None) is self.token

    def key(self) -> tuple:
        return (self.backend, self.sizes, self.dtype, self.dt, self.rows, str(self.directory))

    def _view(self, where: tuple, var: str):
        group = self.objects[where[0]][where[1]]
        return getattr(group, var)

    def run(self, weights: Sequence[np.ndarray], alpha: Sequence[float], thresholds: Sequence[float],
            params: SRCParams, raster: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, float, int]:
        """Run the sleep of ``raster`` (bool, ``(steps, n_in)``): in chunks of :attr:`rows` steps.

        Returns
        -------
        weights, counts, run_seconds, runs
        """
        if not self.valid:
            raise RuntimeError("the standalone device was re-initialised; build a new Brian2Program")
        weights = [np.asarray(w, dtype=self.np_dtype) for w in weights]
        potentials = [np.zeros(s, dtype=self.np_dtype) for s in self.sizes[1:]]
        counts = np.zeros(len(self.sizes), dtype=np.int64)
        seconds, runs = 0.0, 0
        dev = self.device
        for start in range(0, raster.shape[0], self.rows):
            part = raster[start:start + self.rows]
            run_args = {self.objects["raster"]: pack_raster(part, self.rows),
                        self.objects["stopper"].n_run: int(part.shape[0])}
            for where, var, value in _values(weights, potentials, alpha, thresholds, params, self.np_dtype):
                run_args[self._view(where, var)] = value
            dev.run(directory=str(self.directory), with_output=False, run_args=run_args)
            # every run writes new result files: forget every cached value
            for v in list(dev.array_cache):
                dev.array_cache[v] = None
            seconds += float(getattr(dev, "_last_run_time", None) or dev.timers.get("run_binary", 0.0))
            for k, syn in enumerate(self.objects["syns"]):
                n_pre, n_post = self.sizes[k], self.sizes[k + 1]
                weights[k] = np.asarray(syn.w[:], dtype=self.np_dtype).reshape(n_pre, n_post).T.copy()
            potentials = [np.asarray(g.v[:], dtype=self.np_dtype) for g in self.objects["layers"]]
            counts += np.array([int(m.num_spikes) for m in self.objects["monitors"]], dtype=np.int64)
            for name in list(dev.run_args_arrays):  # the run's input files, not needed any more
                path = Path(self.directory) / "static_arrays" / name
                if path.exists():
                    path.unlink()
            runs += 1
        self.runs += runs
        return weights, counts, seconds, runs


#: The compiled program of this process (one at a time: Brian2 has one standalone device).
_PROGRAM: dict = {"program": None, "temp": {}}


def _temp_directory(key: tuple) -> Path:
    """A build directory for ``key`` kept for the life of the process."""
    if key not in _PROGRAM["temp"]:
        _PROGRAM["temp"][key] = Path(tempfile.mkdtemp(prefix="sleep_snn_src_"))
    return _PROGRAM["temp"][key]


@atexit.register
def _remove_temp_directories() -> None:
    for path in _PROGRAM["temp"].values():
        shutil.rmtree(path, ignore_errors=True)


def program_for(sizes: Sequence[int], dtype: str, dt: float, steps: int, backend: str = "cpp_standalone",
                directory: Any = None) -> Brian2Program:
    """The compiled program for this structure: the cached one if it fits, else a new build.

    A program fits when sizes, precision, ``dt``, backend and directory are
    the same and it is still valid; its capacity is :data:`PROGRAM_STEPS` or
    the first sleep's length if longer (later, longer sleeps run in chunks).
    """
    sizes = tuple(int(s) for s in sizes)
    struct = (backend, sizes, dtype, float(dt))
    prog = _PROGRAM["program"]
    if directory is None:
        directory = _temp_directory(struct)
    if (prog is not None and prog.valid and prog.key()[:4] == struct
            and Path(prog.directory) == Path(directory)):
        return prog
    prog = Brian2Program(sizes, dtype, dt, max(PROGRAM_STEPS, int(steps)), backend, directory)
    _PROGRAM["program"] = prog
    return prog


def run_brian2(weights: Sequence[np.ndarray], alpha: Sequence[float], thresholds: Sequence[float],
               params: SRCParams, chunks: Iterator[np.ndarray], backend: str = "cpp_standalone",
               directory: Any = None, dtype: str = "float32") -> Brian2Run:
    """Simulate SRC in Brian2.

    With a standalone ``backend`` the compiled program of this structure is
    re-used when there is one (:func:`program_for`); runtime targets build
    the network for every call.

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
        Standalone project directory (kept); a temporary one, kept until the
        process ends, when None.
    dtype : {"float32", "float64"}
        Precision of the state variables.

    Returns
    -------
    Brian2Run
    """
    from spiking.backend import is_standalone

    if backend not in BRIAN2_BACKENDS:
        raise ValueError(f"brian2_backend={backend!r} is not known; allowed: {', '.join(BRIAN2_BACKENDS)}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype={dtype!r} is not known; allowed: float32, float64")
    weights = [np.asarray(w) for w in weights]
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    raster = _collect_raster(chunks, sizes[0])
    if raster.shape[0] < 1:
        raise ValueError("the input raster has no steps")
    if is_standalone(backend):
        t0 = time.perf_counter()
        prog = _PROGRAM["program"]
        before = prog
        prog = program_for(sizes, dtype, params.dt, raster.shape[0], backend, directory)
        reused = prog is before
        build_seconds = 0.0 if reused else prog.build_seconds
        out_w, counts, seconds, runs = prog.run(weights, alpha, thresholds, params, raster)
        if not reused:
            build_seconds = max(build_seconds, time.perf_counter() - t0 - seconds)
        temp = Path(prog.directory) in [Path(p) for p in _PROGRAM["temp"].values()]
        return Brian2Run(weights=tuple(out_w), counts=counts, run_seconds=seconds, build_seconds=build_seconds,
                         directory=None if temp else str(prog.directory), runs=runs, reused=reused)
    return _run_runtime(weights, alpha, thresholds, params, raster, backend, dtype, sizes)


def _run_runtime(weights, alpha, thresholds, params, raster, backend, dtype, sizes) -> Brian2Run:
    """numpy / cython targets: build the network with the values and run it once."""
    from brian2 import ms, prefs

    from spiking.backend import use_backend

    np_dtype = {"float32": np.float32, "float64": np.float64}[dtype]
    old_dtype = prefs.core.default_float_dtype
    t_build = time.perf_counter()
    try:
        with use_backend(backend, None):
            prefs.core.default_float_dtype = np_dtype
            obj = _build_network(sizes, raster.shape[0], params.dt, pack_raster(raster))
            obj["stopper"].n_run = int(raster.shape[0])
            potentials = [np.zeros(s) for s in sizes[1:]]
            for (kind, k), var, value in _values(weights, potentials, alpha, thresholds, params, np_dtype):
                setattr(obj[kind][k], var, value)
            with np.errstate(over="ignore"):  # exp overflow in g(w) for w << 0 gives g = 2 exactly
                t0 = time.perf_counter()
                obj["net"].run(raster.shape[0] * params.dt * ms, namespace={})
                run_seconds = time.perf_counter() - t0
            build_seconds = max(0.0, time.perf_counter() - t_build - run_seconds)
            out_w = []
            for k, syn in enumerate(obj["syns"]):
                out_w.append(np.asarray(syn.w[:], dtype=np_dtype).reshape(sizes[k], sizes[k + 1]).T.copy())
            counts = np.array([int(m.num_spikes) for m in obj["monitors"]], dtype=np.int64)
    finally:
        prefs.core.default_float_dtype = old_dtype
    return Brian2Run(weights=tuple(out_w), counts=counts, run_seconds=run_seconds, build_seconds=build_seconds,
                     directory=None)
