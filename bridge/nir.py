"""Export a converted network to NIR, read it back, and run a NIR graph.

NIR, the Neuromorphic Intermediate Representation (Pedersen et al., "Neuromorphic
intermediate representation: a unified instruction set for interoperable brain-inspired
computing", Nat. Commun. 15:8122, 2024; the ``nir`` package), is the exchange format read by
Norse, snnTorch, Sinabs, Lava-DL, Rockpool, Nengo, SpiNNaker2 and others. A network
converted for Sleep Replay Consolidation (Tadros et al., Nat. Commun. 13:7742, 2022; a
:class:`bridge.convert.SpikingSpec`, before or after sleep) maps onto a NIR chain::

    Input(n_0) -> Linear(W_1) -> IF|LIF(n_1) -> Linear(W_2) -> ... -> IF|LIF(n_L) -> Output(n_L)

one ``Linear`` + one neuron node per layer. What the two descriptions mean, and how
:func:`to_nir` makes them agree (``docs/ALGORITHMS.md``, section 1, "NIR export"):

* **Time.** SRC is a discrete-time algorithm (one step = ``dt``); NIR nodes are
  continuous-time ODEs and a NIR file has no time step. The export reads a spike as a Dirac
  impulse of unit area, an edge as instantaneous (no delay: a spike crosses the whole
  network in one step, as in SRC) and integrates each neuron by forward Euler with step
  ``dt`` (ms, stored in the graph's metadata as ``dt_ms``). With ``decay == 1`` a layer is a
  NIR ``IF`` (``dv/dt = R I``: each presynaptic spike adds ``R * w``), so ``R = alpha_l``;
  with ``decay < 1`` it is a ``LIF`` (``tau dv/dt = (v_leak - v) + R I``: one Euler step
  multiplies ``v`` by ``1 - dt/tau`` and each spike adds ``R * w / tau``), so
  ``tau = dt / (1 - decay)``, ``R = alpha_l * tau`` and ``v_leak = 0``. A reader that
  integrates the leak exactly (``exp(-dt/tau)`` per step) sees a per-step decay that differs
  from ``decay`` by about ``(1 - decay)**2 / 2`` (5e-7 for 0.999).
* **Threshold.** SRC spikes at ``v >= theta`` (``theta = threshold * beta_l``), NIR at
  ``v > v_threshold``. The export writes ``v_threshold = nextafter(theta, -inf)`` in the
  export precision ``dtype``: for any ``v`` of that precision, ``v > v_threshold`` exactly
  when ``v >= theta``. The reset is to ``v_reset = 0`` (SRC's reset), no refractoriness.
* **Plasticity.** NIR graphs are static: the SRC rule (``bridge.rule``) is not represented.
  The file is a snapshot of the weights, before or after sleep; the SRC parameters may be
  recorded in the metadata for provenance, which no reader executes.

The ``Linear`` weights are the float32 weights of the spec, bit for bit (the impulse factor
``alpha_l`` travels in ``R``), so :func:`from_nir` recovers every field of the spec exactly.
NIR's own rule is that a graph must be executable without its metadata; it is: the metadata
(exact float64 ``alpha``, ``beta`` and the diagnostics of the normalisation) only makes the
round trip exact, and :func:`from_nir` uses it only where it agrees with the nodes.
``fold_alpha=True`` writes ``Linear(alpha_l * W_l)`` (float32) and ``R = 1`` (``IF``) or
``R = tau`` (``LIF``) instead, for readers that accept only ``R = 1`` (snnTorch's ``IF``
import does); the weights then read back to within one float32 rounding, not exactly.

:func:`run_nir` steps a NIR graph of ``Linear``/``Affine``/``Scale``/``IF``/``LIF``/``I``/``LI``
nodes by those rules (any directed acyclic graph); it is what the tests compare with
:func:`bridge.src.simulate` (plasticity off) on the same input raster.

Only fully-connected networks (MLPs) are exported; a spec with other layers is refused with
:class:`NIRExportError`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .convert import SpikingSpec

__all__ = ["LAYOUT", "DTYPES", "NIRExportError", "NIRImportError", "NIRDynamics", "to_nir", "from_nir",
           "nir_dynamics", "nudge_threshold", "unnudge_threshold", "write_nir", "read_nir", "run_nir",
           "weights_nbytes", "NIRExport", "export_torch"]

#: ``layout`` entry of the graph metadata written by :func:`to_nir`.
LAYOUT = "sleep-snn/src-mlp/1"
#: Export precisions of the neuron parameters: name -> numpy dtype.
DTYPES = {"float32": np.float32, "float64": np.float64}
#: The fields of an MLP :class:`~bridge.convert.SpikingSpec` (any other field set means other layers).
_MLP_FIELDS = ("weights", "alpha", "beta", "layer_sizes", "scale", "percentile", "alpha_scale")
#: Metadata keys holding per-layer float64 arrays.
_ARRAY_META = ("alpha", "beta", "scale")


class NIRExportError(ValueError):
    """A spec (or an export option) cannot be written as NIR; the message says why."""


class NIRImportError(ValueError):
    """A NIR graph is not a network :func:`from_nir` can read; the message names the node."""


@dataclass(frozen=True)
class NIRDynamics:
    """The discrete-time dynamics of an exported network (what NIR itself does not fix).

    Parameters
    ----------
    dt : float
        Time step in ms (> 0): SRC's ``SRCParams.dt``.
    decay : float
        Per-step membrane decay factor, 0 < decay <= 1 (1: ``IF`` nodes, else ``LIF``).
    threshold : float
        Base threshold (dimensionless, > 0); layer ``l`` spikes at
        ``v >= threshold * beta_l``.
    dtype : str
        ``"float32"`` or ``"float64"``: precision of the neuron parameters (and of the
        membrane potential the threshold is exact for).
    """

    dt: float = 1.0
    decay: float = 0.999
    threshold: float = 1.0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in ("dt", "decay", "threshold"):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, float(value))
            except (TypeError, ValueError):
                raise NIRExportError(f"NIRDynamics.{name}={value!r} must be a number") from None
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise NIRExportError(f"NIRDynamics.dt={self.dt!r} is out of range; allowed: > 0 ms")
        if not (math.isfinite(self.decay) and 0 < self.decay <= 1):
            raise NIRExportError(f"NIRDynamics.decay={self.decay!r} is out of range; allowed: 0 < decay <= 1")
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise NIRExportError(f"NIRDynamics.threshold={self.threshold!r} is out of range; allowed: > 0")
        if self.dtype not in DTYPES:
            raise NIRExportError(f"NIRDynamics.dtype={self.dtype!r} is not known; allowed: {', '.join(DTYPES)}")

    @property
    def tau(self) -> float:
        """Membrane time constant in ms, ``dt / (1 - decay)`` (``inf`` for ``decay == 1``)."""
        return math.inf if self.decay == 1.0 else self.dt / (1.0 - self.decay)


# --------------------------------------------------------------------------
# Thresholds: SRC's v >= theta as NIR's v > theta'
# --------------------------------------------------------------------------
def nudge_threshold(theta: Any, dtype: str = "float32") -> np.ndarray:
    """The NIR threshold that makes ``v > result`` equal to ``v >= theta``.

    Parameters
    ----------
    theta : float or array_like
        SRC thresholds (``v >= theta`` spikes), rounded to ``dtype`` first.
    dtype : {"float32", "float64"}
        Precision of the membrane potential.

    Returns
    -------
    numpy.ndarray
        ``nextafter(theta, -inf)`` in ``dtype``: the largest number of that precision below
        ``theta``, so for every ``v`` of that precision ``v > result`` iff ``v >= theta``.
    """
    t = np.asarray(theta, dtype=DTYPES[dtype])
    return np.nextafter(t, t.dtype.type(-np.inf))


def unnudge_threshold(v_threshold: Any) -> np.ndarray:
    """The SRC threshold of a NIR threshold: ``v >= result`` iff ``v > v_threshold``.

    ``nextafter(v_threshold, +inf)`` in the precision of ``v_threshold`` (float64 for other
    numbers); the inverse of :func:`nudge_threshold`, and exact for any NIR graph.
    """
    t = np.asarray(v_threshold)
    if t.dtype not in (np.float32, np.float64):
        t = t.astype(np.float64)
    return np.nextafter(t, t.dtype.type(np.inf))


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------
def _check_mlp(spec: Any) -> None:
    if not isinstance(spec, SpikingSpec):
        raise NIRExportError(f"to_nir needs a bridge.convert.SpikingSpec, got {type(spec).__name__}")
    for f in dataclasses.fields(spec):
        if f.name in _MLP_FIELDS:
            continue
        value = getattr(spec, f.name)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        if default is dataclasses.MISSING or not _same(value, default):
            raise NIRExportError(
                f"to_nir exports fully-connected networks (MLPs) only; this SpikingSpec sets "
                f"{f.name}={_short(value)}, i.e. layers other than Linear -> integrate-and-fire")
    for k, w in enumerate(spec.weights):
        if np.ndim(w) != 2:
            raise NIRExportError(f"to_nir exports fully-connected layers only; weights[{k}] has shape "
                                 f"{np.shape(w)}")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) if not isinstance(a, np.ndarray) else bool(np.array_equal(a, b))
    except (TypeError, ValueError):
        return a is b


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _project_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("sleep-snn")
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree without install
        return "unknown"


def to_nir(spec: SpikingSpec, *, dt: float = 1.0, decay: float = 0.999, threshold: float = 1.0,
           dtype: str = "float32", fold_alpha: bool = False, metadata: dict | None = None):
    """Write a converted network (before or after sleep) as a NIR graph.

    Parameters
    ----------
    spec : SpikingSpec
        The network (an MLP: ``spec.weights`` are 2-D); e.g. ``from_torch(...)``, or
        ``SleepResult.spec_before`` / ``spec_after``.
    dt : float
        Time step in ms (> 0), ``SRCParams.dt`` (default 1). Stored in the metadata
        (``dt_ms``); with ``decay < 1`` it sets ``tau``.
    decay : float
        Per-step membrane decay, 0 < decay <= 1, ``SRCParams.decay`` (default 0.999):
        ``IF`` nodes for 1, ``LIF`` nodes with ``tau = dt / (1 - decay)`` ms otherwise.
    threshold : float
        Base threshold (> 0), ``SRCParams.threshold`` (default 1); layer ``l`` fires at
        ``v >= threshold * spec.beta[l]``, written as ``v > nextafter(that, -inf)``.
    dtype : {"float32", "float64"}
        Precision of the neuron parameters (``r``, ``tau``, ``v_threshold``, ``v_reset``,
        ``v_leak``): the precision in which a reader's ``v > v_threshold`` equals SRC's
        ``v >= theta`` (SRC runs in float32 by default). The weights are float32 always.
    fold_alpha : bool
        False (default): ``Linear(W_l)`` and ``R = alpha_l`` (``IF``) or ``alpha_l * tau``
        (``LIF``); exact round trip. True: ``Linear(alpha_l * W_l)`` (float32) and ``R = 1``
        or ``tau``, for readers that accept only ``R = 1``; weights read back to within one
        float32 rounding.
    metadata : dict, optional
        Extra graph metadata (strings, numbers, arrays), e.g. the SRC parameters of a sleep.

    Returns
    -------
    nir.NIRGraph
        Nodes ``input``, ``linear_1``, ``if_1``/``lif_1``, ..., ``output`` in a chain.

    Raises
    ------
    NIRExportError
        A spec that is not an MLP, or an option out of range (the message names it).
    """
    import nir

    _check_mlp(spec)
    dyn = NIRDynamics(dt=dt, decay=decay, threshold=threshold, dtype=dtype)
    fdt = DTYPES[dyn.dtype]
    leaky = dyn.decay < 1.0
    tau = dyn.tau
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([spec.layer_sizes[0]])})}
    edges = []
    prev = "input"
    thresholds = spec.thresholds(dyn.threshold)
    for k, (w, a, th) in enumerate(zip(spec.weights, spec.alpha, thresholds), start=1):
        n = w.shape[0]
        gain = 1.0 if fold_alpha else a
        weight = (w.astype(np.float64) * a).astype(np.float32) if fold_alpha else np.array(w, dtype=np.float32)
        lin = f"linear_{k}"
        nodes[lin] = nir.Linear(weight=weight)
        v_thr = np.full(n, nudge_threshold(th, dyn.dtype), dtype=fdt)
        zeros = np.zeros(n, dtype=fdt)
        if leaky:
            neuron = f"lif_{k}"
            nodes[neuron] = nir.LIF(tau=np.full(n, tau, dtype=fdt), r=np.full(n, gain * tau, dtype=fdt),
                                    v_leak=zeros.copy(), v_threshold=v_thr, v_reset=zeros.copy())
        else:
            neuron = f"if_{k}"
            nodes[neuron] = nir.IF(r=np.full(n, gain, dtype=fdt), v_threshold=v_thr, v_reset=zeros.copy())
        edges += [(prev, lin), (lin, neuron)]
        prev = neuron
    nodes["output"] = nir.Output(output_type={"output": np.array([spec.layer_sizes[-1]])})
    edges.append((prev, "output"))
    meta = {
        "generator": f"sleep-snn {_project_version()}",
        "layout": LAYOUT,
        "dt_ms": dyn.dt,
        "decay": dyn.decay,
        "threshold": dyn.threshold,
        "dtype": dyn.dtype,
        "fold_alpha": bool(fold_alpha),
        "alpha": np.asarray(spec.alpha, dtype=np.float64),
        "beta": np.asarray(spec.beta, dtype=np.float64),
        "scale": np.asarray(spec.scale, dtype=np.float64),
        "percentile": float(spec.percentile),
        "alpha_scale": float(spec.alpha_scale),
        "time": "spikes are Dirac impulses of unit area; edges have no delay; forward Euler with step dt_ms",
        "spike_rule": "SRC fires at v >= theta; v_threshold = nextafter(theta, -inf) in dtype",
        "plasticity": "none: a static snapshot of the weights; the SRC rule is not represented",
    }
    for key, value in (metadata or {}).items():
        if key in meta:
            raise NIRExportError(f"to_nir(metadata=...): key {key!r} is reserved")
        meta[key] = value
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def weights_nbytes(spec: SpikingSpec) -> int:
    """Bytes of the spec's weights in float32 (the reference of the file-size target)."""
    return int(sum(np.asarray(w).size * 4 for w in spec.weights))


@dataclass(frozen=True, eq=False)
class NIRExport:
    """What :func:`export_torch` wrote.

    Parameters
    ----------
    path : Path
        The ``.nir`` file.
    spec : SpikingSpec
        The network written (after sleep when one ran).
    dynamics : NIRDynamics
        ``dt``, ``decay``, ``threshold`` and precision of the export.
    seconds : float
        Wall-clock seconds of the export itself (graph and file), conversion and sleep excluded.
    file_bytes : int
        Size of the file.
    weights_bytes : int
        Size of the weights in float32 (:func:`weights_nbytes`).
    sleep : bridge.src.SleepResult or None
        The sleep that ran before the export, if any.
    """

    path: Path
    spec: SpikingSpec
    dynamics: NIRDynamics
    seconds: float
    file_bytes: int
    weights_bytes: int
    sleep: Any = None


def export_torch(model, images: Any, params, path: str | os.PathLike, *, sleep: bool = False,
                 seed: int | None = None, percentile: float = 100.0, dropout: str = "inverted",
                 dtype: str = "float32", fold_alpha: bool = False, metadata: dict | None = None) -> NIRExport:
    """Convert a torch MLP (optionally let it sleep once) and write it as a NIR file.

    Parameters
    ----------
    model : torch.nn.Module
        A bias-free ReLU MLP (see :func:`bridge.convert.from_torch`); with ``sleep=True`` its
        weights are updated in place, as :func:`bridge.src.sleep` does.
    images : array_like
        Calibration images ``(n, ...)`` of the data-based normalisation (the training images
        of all tasks seen so far); their mean is the sleep input.
    params : bridge.presets.SRCParams
        ``alpha_scale`` and ``beta`` of the conversion, ``dt``, ``decay`` and ``threshold`` of
        the export, and the whole sleep with ``sleep=True``.
    path : path-like
        The ``.nir`` file (written atomically).
    sleep : bool
        Run one SRC sleep of ``params.steps`` steps first and export the network after it.
    seed : int, optional
        Seed of the sleep's input raster.
    percentile, dropout
        As in :func:`bridge.convert.from_torch`.
    dtype, fold_alpha, metadata
        As in :func:`to_nir`; the SRC parameters and the state (before or after sleep) are
        added to the metadata.

    Returns
    -------
    NIRExport
    """
    import time

    from .convert import from_torch, linear_layers
    from .src import sleep as src_sleep

    slept = None
    if sleep:
        slept = src_sleep(model, images, params, seed=seed, percentile=percentile, dropout=dropout)
        spec = slept.spec_after
    else:
        spec = from_torch(model, images, percentile=percentile, alpha_scale=params.alpha_scale, dropout=dropout,
                          beta=params.beta_for(len(linear_layers(model))))
    meta = {"state": "after one SRC sleep" if sleep else "before sleep (as converted)",
            "src_params": _json_params(params)}
    if slept is not None:
        meta.update(sleep_seed=int(slept.seed), sleep_steps=int(slept.steps))
    meta.update(metadata or {})
    t0 = time.perf_counter()
    graph = to_nir(spec, dt=params.dt, decay=params.decay, threshold=params.threshold, dtype=dtype,
                   fold_alpha=fold_alpha, metadata=meta)
    out = write_nir(path, graph)
    seconds = time.perf_counter() - t0
    return NIRExport(path=out, spec=spec, dynamics=NIRDynamics(params.dt, params.decay, params.threshold, dtype),
                     seconds=seconds, file_bytes=out.stat().st_size, weights_bytes=weights_nbytes(spec), sleep=slept)


def _json_params(params) -> str:
    """The fields of an :class:`~bridge.presets.SRCParams` as one JSON text (for metadata)."""
    import json

    return json.dumps(dataclasses.asdict(params))


def write_nir(path: str | os.PathLike, graph, compression: str | None = "gzip") -> Path:
    """Write a NIR graph to ``path`` atomically (a temporary file, then ``os.replace``).

    Parameters
    ----------
    path : path-like
        The ``.nir`` file (HDF5).
    graph : nir.NIRGraph
        E.g. from :func:`to_nir`.
    compression : str or None
        HDF5 compression of the arrays (``"gzip"``, NIR's default, or None).

    Returns
    -------
    Path
        ``path``.
    """
    import nir

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        nir.write(tmp, graph, compression=compression)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_nir(path: str | os.PathLike):
    """Read a ``.nir`` file; a missing or unreadable file is a :class:`NIRImportError` naming it."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise NIRImportError(f"{path}: no such NIR file")
    try:
        return nir.read(path)
    except (OSError, KeyError, ValueError, AssertionError) as exc:
        raise NIRImportError(f"{path} is not a readable NIR file ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------
def _meta(graph) -> dict:
    meta = getattr(graph, "metadata", None)
    return dict(meta) if isinstance(meta, dict) else {}


def _chain(graph) -> list[str]:
    """Node names from the Input to the Output of a chain graph (raises NIRImportError)."""
    import nir

    if not isinstance(graph, nir.NIRGraph):
        raise NIRImportError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise NIRImportError(f"the graph must have exactly one Input node, it has {len(inputs)}")
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    order = [inputs[0]]
    while not isinstance(graph.nodes[order[-1]], nir.Output):
        here = order[-1]
        nxt = succ.get(here, [])
        if len(nxt) != 1:
            raise NIRImportError(f"node {here!r} has {len(nxt)} outgoing edges; from_nir reads feed-forward "
                                 "chains (each node has one successor)")
        if len(pred.get(nxt[0], [])) != 1:
            raise NIRImportError(f"node {nxt[0]!r} has {len(pred[nxt[0]])} incoming edges; from_nir reads "
                                 "feed-forward chains (each node has one predecessor)")
        if nxt[0] in order:
            raise NIRImportError(f"the graph has a cycle through node {nxt[0]!r}; from_nir reads feed-forward chains")
        order.append(nxt[0])
    return order


def _uniform(values: Any, what: str) -> float:
    arr = np.asarray(values).ravel()
    if arr.size == 0:
        raise NIRImportError(f"{what} is empty")
    if not np.all(arr == arr[0]):
        raise NIRImportError(f"{what} differs between neurons of one layer; a SpikingSpec has one value per layer")
    return arr[0]


def _layers(graph) -> list[dict]:
    """Per layer: weight (as stored), neuron kind, r, tau, v_threshold (raw values)."""
    import nir

    order = _chain(graph)
    body = order[1:-1]
    layers = []
    i = 0
    while i < len(body):
        name = body[i]
        node = graph.nodes[name]
        if not isinstance(node, (nir.Linear, nir.Affine)):
            raise NIRImportError(f"node {name!r} ({type(node).__name__}) is not supported here: from_nir reads "
                                 "chains of Linear -> IF|LIF (the layout to_nir writes)")
        weight = np.asarray(node.weight)
        if weight.ndim != 2:
            raise NIRImportError(f"node {name!r}: weight of shape {weight.shape}; a layer needs a 2-D matrix")
        if isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
            raise NIRImportError(f"node {name!r}: Affine with a non-zero bias; SRC networks are bias-free")
        if i + 1 >= len(body):
            raise NIRImportError(f"node {name!r} is not followed by an IF or LIF node")
        nname = body[i + 1]
        neuron = graph.nodes[nname]
        if isinstance(neuron, nir.IF):
            kind, tau = "IF", math.inf
        elif isinstance(neuron, nir.LIF):
            kind = "LIF"
            if np.any(np.asarray(neuron.v_leak) != 0):
                raise NIRImportError(f"node {nname!r}: v_leak must be 0 (SRC's membrane relaxes to 0)")
            tau = _uniform(neuron.tau, f"node {nname!r}: tau")
        else:
            raise NIRImportError(f"node {nname!r} ({type(neuron).__name__}) is not supported here: from_nir "
                                 "reads chains of Linear -> IF|LIF")
        if np.any(np.asarray(neuron.v_reset) != 0):
            raise NIRImportError(f"node {nname!r}: v_reset must be 0 (SRC resets to 0)")
        n = np.asarray(neuron.v_threshold).size
        if weight.shape[0] != n:
            raise NIRImportError(f"node {name!r}: weight has {weight.shape[0]} rows but {nname!r} has {n} neurons")
        layers.append({"linear": name, "neuron": nname, "weight": weight, "kind": kind,
                       "r": _uniform(neuron.r, f"node {nname!r}: r"), "tau": tau,
                       "v_threshold": _uniform(neuron.v_threshold, f"node {nname!r}: v_threshold")})
        i += 2
    if not layers:
        raise NIRImportError("the graph has no Linear -> IF|LIF layer")
    for a, b in zip(layers[:-1], layers[1:]):
        if b["weight"].shape[1] != a["weight"].shape[0]:
            raise NIRImportError(f"node {b['linear']!r}: {b['weight'].shape[1]} inputs but {a['neuron']!r} has "
                                 f"{a['weight'].shape[0]} neurons")
    return layers


def _ours(meta: dict, n_layers: int) -> bool:
    if str(meta.get("layout", "")) != LAYOUT:
        return False
    try:
        return all(np.asarray(meta[k], dtype=np.float64).shape == (n_layers,) for k in _ARRAY_META)
    except (KeyError, TypeError, ValueError):
        return False


def nir_dynamics(graph, dt: float | None = None) -> NIRDynamics:
    """The discrete-time dynamics of a NIR graph of the :func:`to_nir` layout.

    Parameters
    ----------
    graph : nir.NIRGraph or path-like
        A graph (or ``.nir`` file) of Linear -> IF|LIF layers.
    dt : float, optional
        Time step in ms; default the graph's ``dt_ms`` metadata, else 1 ms.

    Returns
    -------
    NIRDynamics
        ``decay = 1 - dt/tau`` (1 for IF layers; the layers must agree), ``threshold`` from
        the metadata (1 for a graph without it), the precision of ``v_threshold``.
    """
    if isinstance(graph, (str, os.PathLike)):
        graph = read_nir(graph)
    layers = _layers(graph)
    meta = _meta(graph)
    if dt is None:
        dt = float(meta.get("dt_ms", 1.0))
    taus = {float(layer["tau"]) for layer in layers}
    if len(taus) != 1:
        raise NIRImportError(f"the layers have different time constants {sorted(taus)}; SRC has one decay")
    tau = taus.pop()
    dtype = "float32" if np.asarray(layers[0]["v_threshold"]).dtype == np.float32 else "float64"
    if _ours(meta, len(layers)):
        decay = float(meta["decay"])
        threshold = float(meta["threshold"])
        if (tau == math.inf) != (decay == 1.0) or (tau != math.inf and not math.isclose(
                dt / (1.0 - decay), tau, rel_tol=1e-6)):
            decay = 1.0 if tau == math.inf else 1.0 - dt / tau
    else:
        decay = 1.0 if tau == math.inf else 1.0 - dt / tau
        threshold = 1.0
    return NIRDynamics(dt=dt, decay=decay, threshold=threshold, dtype=dtype)


def from_nir(graph) -> SpikingSpec:
    """Read a NIR graph of Linear -> IF|LIF layers back into a :class:`SpikingSpec`.

    Parameters
    ----------
    graph : nir.NIRGraph or path-like
        A graph written by :func:`to_nir` (or a ``.nir`` file), or any NIR chain
        ``Input -> Linear -> IF|LIF -> ... -> Output`` with per-layer uniform ``r``, ``tau``
        and ``v_threshold``, ``v_reset = 0`` and ``v_leak = 0``.

    Returns
    -------
    SpikingSpec
        For a graph of :func:`to_nir` (``fold_alpha=False``), equal to the spec that was
        exported in every field. For another graph: ``alpha_l = r`` (IF) or ``r / tau``
        (LIF), ``beta_l = nextafter(v_threshold, +inf)`` (base threshold 1), ``scale = 1``;
        see :func:`nir_dynamics` for ``dt``, ``decay`` and ``threshold``.

    Raises
    ------
    NIRImportError
        A node or a structure that is not such a chain (the message names the node).
    """
    if isinstance(graph, (str, os.PathLike)):
        graph = read_nir(graph)
    layers = _layers(graph)
    meta = _meta(graph)
    n = len(layers)
    node_alpha = [float(layer["r"]) if layer["kind"] == "IF" else float(layer["r"]) / float(layer["tau"])
                  for layer in layers]
    node_theta = [float(unnudge_threshold(layer["v_threshold"])) for layer in layers]
    fold = bool(meta.get("fold_alpha", False))
    if _ours(meta, n):
        dyn = nir_dynamics(graph)
        alpha = [float(a) for a in np.asarray(meta["alpha"], dtype=np.float64)]
        beta = [float(b) for b in np.asarray(meta["beta"], dtype=np.float64)]
        scale = [float(s) for s in np.asarray(meta["scale"], dtype=np.float64)]
        percentile = float(meta.get("percentile", 100.0))
        alpha_scale = float(meta.get("alpha_scale", 1.0))
        fdt = DTYPES[dyn.dtype]
        # the metadata must describe these nodes; where it does not, the nodes win
        theta_ok = all(float(unnudge_threshold(nudge_threshold(dyn.threshold * b, dyn.dtype))) == t
                       for b, t in zip(beta, node_theta))
        tau = dyn.tau  # float64, as to_nir computed R from it
        if fold:
            gain_ok = all(float(layer["r"]) == float(fdt(1.0 if layer["kind"] == "IF" else tau)) for layer in layers)
        else:
            gain_ok = all(float(layer["r"]) == float(fdt(a if layer["kind"] == "IF" else a * tau))
                          for a, layer in zip(alpha, layers))
        if not (theta_ok and gain_ok):
            warnings.warn("the graph's sleep-snn metadata does not match its nodes (edited after export?); "
                          "reading alpha and beta from the nodes", stacklevel=2)
            return _from_nodes(layers, node_alpha, node_theta)
        if fold:
            weights = [(np.asarray(layer["weight"], dtype=np.float64) / a).astype(np.float32)
                       for a, layer in zip(alpha, layers)]
        else:
            weights = [np.asarray(layer["weight"], dtype=np.float32) for layer in layers]
        sizes = (weights[0].shape[1],) + tuple(w.shape[0] for w in weights)
        return SpikingSpec(weights=tuple(weights), alpha=tuple(alpha), beta=tuple(beta), layer_sizes=sizes,
                           scale=tuple(scale), percentile=percentile, alpha_scale=alpha_scale)
    return _from_nodes(layers, node_alpha, node_theta)


def _from_nodes(layers: list[dict], alpha: Sequence[float], theta: Sequence[float]) -> SpikingSpec:
    weights = [np.asarray(layer["weight"]).astype(np.float32) for layer in layers]
    for layer, a in zip(layers, alpha):
        if not (math.isfinite(a) and a > 0):
            raise NIRImportError(f"node {layer['neuron']!r}: impulse factor r{'' if layer['kind'] == 'IF' else '/tau'}"
                                 f"={a!r}; SRC needs a finite value > 0")
    sizes = (weights[0].shape[1],) + tuple(w.shape[0] for w in weights)
    return SpikingSpec(weights=tuple(weights), alpha=tuple(alpha), beta=tuple(theta), layer_sizes=sizes,
                       scale=(1.0,) * len(weights))


# --------------------------------------------------------------------------
# A stepper of NIR's neuron equations
# --------------------------------------------------------------------------
def _topological(graph) -> list[str]:
    indeg = {k: 0 for k in graph.nodes}
    succ: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
        indeg[b] += 1
    ready = [k for k, d in indeg.items() if d == 0]
    order = []
    while ready:
        k = ready.pop(0)
        order.append(k)
        for b in succ[k]:
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    if len(order) != len(graph.nodes):
        raise NIRImportError("run_nir steps acyclic graphs (edges without delay cannot form a cycle)")
    return order


def run_nir(graph, raster: Any, dt: float | None = None, dtype: str | None = None) -> dict:
    """Step a NIR graph on an input spike raster with NIR's neuron equations.

    Semantics (the reading :func:`to_nir` relies on): an input spike is a Dirac impulse of
    unit area; edges carry signals without delay, so in each step the nodes are evaluated
    in topological order and a spike reaches every downstream node in the same step;
    ``Linear``/``Affine``/``Scale`` act on the impulses (``W x``, ``W x + b * dt``, ``s x``);
    each neuron is integrated by one forward-Euler step of length ``dt``, the impulses
    entering whole:

    * ``IF``: ``v += r * I``; ``I``: ``v += r * I`` (no spike);
    * ``LIF``: ``v += (dt / tau) * (v_leak - v) + (r / tau) * I``; ``LI`` the same, no spike;

    then an ``IF``/``LIF`` neuron spikes where ``v > v_threshold`` and is set to ``v_reset``.
    ``I`` is the sum of the node's inputs in this step.

    Parameters
    ----------
    graph : nir.NIRGraph or path-like
        An acyclic graph with one ``Input`` node.
    raster : array_like of bool
        Shape ``(steps, n_in)``: ``True`` where an input spikes in that step.
    dt : float, optional
        Step in ms; default the graph's ``dt_ms`` metadata, else 1 ms.
    dtype : {"float32", "float64"}, optional
        Arithmetic precision; default the precision of the first neuron's ``v_threshold``.

    Returns
    -------
    dict
        Node name -> bool array ``(steps, n)`` of the spikes of every ``IF``/``LIF`` node.

    Raises
    ------
    NIRImportError
        A node type the stepper does not know, or a cyclic graph.
    """
    import nir

    if isinstance(graph, (str, os.PathLike)):
        graph = read_nir(graph)
    meta = _meta(graph)
    dt = float(meta.get("dt_ms", 1.0)) if dt is None else float(dt)
    spiking = [k for k, n in graph.nodes.items() if isinstance(n, (nir.IF, nir.LIF))]
    if dtype is None:
        first = np.asarray(graph.nodes[spiking[0]].v_threshold) if spiking else np.zeros(0)
        dtype = "float32" if first.dtype == np.float32 else "float64"
    fdt = DTYPES[dtype]
    order = _topological(graph)
    inputs = [k for k in order if isinstance(graph.nodes[k], nir.Input)]
    if len(inputs) != 1:
        raise NIRImportError(f"run_nir needs exactly one Input node, the graph has {len(inputs)}")
    pred: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        pred[b].append(a)
    raster = np.asarray(raster)
    steps = raster.shape[0]
    params: dict[str, dict] = {}
    state: dict[str, np.ndarray] = {}
    for k in order:
        node = graph.nodes[k]
        if isinstance(node, (nir.Linear, nir.Affine)):
            params[k] = {"w": np.asarray(node.weight, dtype=fdt)}
            if isinstance(node, nir.Affine):
                params[k]["b"] = np.asarray(node.bias, dtype=fdt) * fdt(dt)
        elif isinstance(node, nir.Scale):
            params[k] = {"s": np.asarray(node.scale, dtype=fdt)}
        elif isinstance(node, (nir.IF, nir.I)):
            params[k] = {"r": np.asarray(node.r, dtype=fdt)}
            state[k] = np.zeros(np.asarray(node.r).shape, dtype=fdt)
        elif isinstance(node, (nir.LIF, nir.LI)):
            tau = np.asarray(node.tau, dtype=fdt)
            params[k] = {"leak": fdt(dt) / tau, "gain": np.asarray(node.r, dtype=fdt) / tau,
                         "v_leak": np.asarray(node.v_leak, dtype=fdt)}
            state[k] = np.zeros(tau.shape, dtype=fdt)
        elif not isinstance(node, (nir.Input, nir.Output)):
            raise NIRImportError(f"node {k!r} ({type(node).__name__}) is not supported by run_nir")
        if isinstance(node, (nir.IF, nir.LIF)):
            params[k]["v_thr"] = np.asarray(node.v_threshold, dtype=fdt)
            params[k]["v_reset"] = np.asarray(node.v_reset, dtype=fdt)
    out = {k: np.zeros((steps, np.asarray(graph.nodes[k].v_threshold).size), dtype=bool) for k in spiking}
    for t in range(steps):
        signal: dict[str, np.ndarray] = {}
        for k in order:
            node = graph.nodes[k]
            if isinstance(node, nir.Input):
                signal[k] = raster[t].astype(fdt)
                continue
            x = signal[pred[k][0]]
            for p in pred[k][1:]:
                x = x + signal[p]
            p = params.get(k)
            if isinstance(node, (nir.Linear, nir.Affine)):
                y = p["w"] @ x
                signal[k] = y + p["b"] if "b" in p else y
            elif isinstance(node, nir.Scale):
                signal[k] = p["s"] * x
            elif isinstance(node, (nir.IF, nir.I)):
                v = state[k]
                v += p["r"] * x
                signal[k] = _fire(k, v, p, out, t) if isinstance(node, nir.IF) else v.copy()
            elif isinstance(node, (nir.LIF, nir.LI)):
                v = state[k]
                v += p["leak"] * (p["v_leak"] - v) + p["gain"] * x
                signal[k] = _fire(k, v, p, out, t) if isinstance(node, nir.LIF) else v.copy()
            else:  # Output
                signal[k] = x
    return out


def _fire(name: str, v: np.ndarray, p: dict, out: dict, t: int) -> np.ndarray:
    z = v > p["v_thr"]
    v[z] = p["v_reset"][z]
    out[name][t] = z
    return z.astype(v.dtype)
