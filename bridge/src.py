"""Sleep Replay Consolidation (SRC) on a converted PyTorch MLP or CNN.

Implements the sleep phase of Tadros, Krishnan, Ramyaa & Bazhenov,
"Sleep-like unsupervised replay reduces catastrophic forgetting in artificial
neural networks", Nat. Commun. 13:7742 (2022), following the authors' MATLAB
code (``sleep/sleepnn_old.m``; summarised in the project's ``docs/ALGORITHMS.md``,
section 1).

Algorithm (one time step of length ``dt``; all layers are processed in order
*within the same step*, so a spike can cross the whole network in one step):

1. input neuron ``i`` spikes where ``rand < 2 * dt * max_rate * x_i`` (``dt``
   in seconds), ``x`` = the mean training image, masked: only a random
   ``mask_size × mask_size`` window (top-left corner uniform over the
   ``(side - mask_size + 1)**2`` positions, redrawn every step) is kept;
2. for each layer ``l = 1 .. L``:
   ``impulse = alpha_l * W_l @ s_{l-1}``; ``v_l = decay * v_l + impulse``;
   ``s_l = v_l >= threshold * beta_l``; ``v_l[s_l] = 0``;
3. immediately, for every post neuron ``i`` that spiked in layer ``l``:
   ``w_ij += inc * g(w_ij)`` where pre neuron ``j`` spiked in this step, and
   ``w_ij -= dec * g(w_ij)`` where it was silent, with
   ``g(w) = 2 * (1 - 1 / (1 + exp(-w / g_scale)))``. The next layer uses the
   impulse computed from the weights *before* this update of its own layer
   (each layer's impulse is computed before its plasticity).

No refractoriness, no lateral inhibition, no weight bounds. Everything runs
in float32 by default (as the authors' code does after the first minibatch).

Convolutional networks (Delanois, Ahuja, Krishnan, Tadros & Bazhenov, ICMLA
2023) follow the same steps with convolutions for the impulse; a shared kernel
weight combines the changes of its synapses by their mean or sum
(``SRCParams.kernel_update``, :func:`bridge.rule.shared_weight_change`);
average-pooling layers spike with fixed weights. They run on the torch
backend only (:class:`bridge.src_torch.LayeredNetwork`): the Brian2 backend
supports fully-connected layers only and says so
(:data:`BRIAN2_FULLY_CONNECTED_ONLY`).

Two interchangeable implementations:

``backend="torch"``
    Dense weight tensors on CPU or CUDA (the reference oracle and the fast
    path). On CPU it pays per spike: only the rows of spiking inputs are
    gathered for the impulse and only the columns of spiking post neurons
    are updated (weights are stored transposed, ``(n_in, n_out)``); layers
    that receive no spike in a step only decay (they cannot cross a positive
    threshold without input). On CUDA the default is a dense, host-sync-free
    formulation (matrix-vector impulse, masked plasticity over the whole
    matrix), see ``torch_mode``.
``backend="brian2"``
    Integrate-and-fire ``NeuronGroup`` layers and plastic ``Synapses`` in
    Brian2 (see :mod:`bridge.src_brian2`), ``cpp_standalone`` by default.

Equivalence of the backends
---------------------------
Given the same input raster (``input_raster=``, or the same ``seed``: the
raster is always drawn on the host with numpy) both backends compute the
same algorithm; they differ only in rounding (summation order of the
impulse, and Brian2's compiled C++ evaluates ``g(w)`` and the update in
double before storing float32, where torch rounds after every operation).
Constants (``alpha``, thresholds, ``decay``, ``inc``, ``dec``, ``g_scale``)
are rounded to the run precision for both. Tested: with ``dtype="float64"``
the spike counts are identical and the weights agree to ~1e-11 relative
(784-1200-1200-10, 300 steps, ``cpp_standalone``); with float32 (default)
the spike counts are identical and the weights agree to 1e-5 of each
layer's largest weight (elementwise relative differences can exceed 1e-5
for weights that end near 0). In float32 a membrane potential within
rounding of the threshold could in principle fire in one backend and not
the other; that is why the strict equivalence test runs in float64.

The authors draw input spikes with ``rand <= p``; here it is ``rand < p``
(the two differ with probability zero).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .convert import SpikingSpec, from_torch, is_convolutional, spec_with_weights, to_torch
from .presets import SRCParams
from .rule import gate
from .src_torch import DTYPES as _DTYPES, SleepActivityError, run_torch as _run_torch

__all__ = [
    "BACKENDS",
    "DEVICES",
    "LayerWeightChange",
    "SleepActivityError",
    "SleepResult",
    "gate",
    "input_raster",
    "mean_image",
    "check_intensities",
    "IntensityWarning",
    "simulate",
    "sleep",
]

#: Values accepted for ``sleep(backend=...)``.
BACKENDS = ("torch", "brian2")
#: Values accepted for ``sleep(device=...)``.
DEVICES = ("cpu", "cuda")
#: The error for a convolutional network with ``backend="brian2"``.
BRIAN2_FULLY_CONNECTED_ONLY = (
    "backend='brian2' supports fully-connected layers only (Linear); this network has convolutional or pooling "
    "layers (Conv2d, AvgPool2d), whose shared kernel weights the Brian2 network does not tie: use "
    "backend='torch' (CPU or CUDA)")
#: Steps per generated input chunk (fixed, so that a seed gives the same raster
#: whatever the consumer).
RASTER_CHUNK = 1000


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerWeightChange:
    """Summary of the weight change of one layer during sleep.

    Parameters
    ----------
    mean_abs_change : float
        Mean of ``|w_after - w_before|`` over all weights (ANN units).
    fraction_changed : float
        Fraction of weights (0..1) whose value changed.
    n_increased : int
        Number of weights that increased.
    n_decreased : int
        Number of weights that decreased.
    """

    mean_abs_change: float
    fraction_changed: float
    n_increased: int
    n_decreased: int


@dataclass(frozen=True, eq=False)
class SleepResult:
    """Outcome of :func:`sleep`.

    Parameters
    ----------
    model : torch.nn.Module or None
        The model passed in, with its Linear weights updated in place
        (``None`` when a :class:`~bridge.convert.SpikingSpec` was passed).
    spec_before, spec_after : SpikingSpec
        The converted network before and after sleep (float32 weights).
    spikes_per_layer : numpy.ndarray
        int64, shape ``(n_layers + 1,)``: total spikes per layer, input first.
    spike_rate_per_layer : numpy.ndarray
        float64, shape ``(n_layers + 1,)``: mean spikes per neuron per step.
    weight_change : tuple of LayerWeightChange
        One entry per weight layer.
    steps : int
        Number of simulated time steps.
    seconds : float
        Wall-clock seconds of the simulation itself (input generation
        included; for ``cpp_standalone`` the run time measured inside the
        compiled program, excluding start-up and file I/O).
    backend : str
        ``"torch"`` or ``"brian2"``.
    device : str
        ``"cpu"`` or ``"cuda"``.
    target : str
        The implementation that ran: ``"torch-sparse"``, ``"torch-dense"``,
        or the Brian2 code-generation target (``"cpp_standalone"``,
        ``"numpy"``, ...).
    build_seconds : float
        Seconds spent building the simulation (Brian2 code generation and
        compilation; 0 for torch).
    total_seconds : float
        Wall-clock seconds of the whole :func:`sleep` call (conversion,
        build, run, write-back).
    seed : int or None
        Seed of the input raster (``None`` when ``input_raster`` was given).
    dtype : str
        ``"float32"`` or ``"float64"``: precision of the simulation.
    params : SRCParams
        The parameters used.
    """

    model: nn.Module | None
    spec_before: SpikingSpec
    spec_after: SpikingSpec
    spikes_per_layer: np.ndarray
    spike_rate_per_layer: np.ndarray
    weight_change: tuple
    steps: int
    seconds: float
    backend: str
    device: str
    target: str
    build_seconds: float
    total_seconds: float
    seed: int | None
    dtype: str
    params: SRCParams

    @property
    def steps_per_second(self) -> float:
        """Simulated steps per wall-clock second of simulation."""
        return self.steps / self.seconds if self.seconds > 0 else float("inf")

    @property
    def spikes_per_step(self) -> np.ndarray:
        """Mean number of spikes per step in each layer (input first)."""
        return self.spikes_per_layer / float(self.steps)


def _weight_change(before: Sequence[np.ndarray], after: Sequence[np.ndarray]) -> tuple:
    out = []
    for wb, wa in zip(before, after):
        d = wa.astype(np.float64) - wb.astype(np.float64)
        out.append(LayerWeightChange(
            mean_abs_change=float(np.abs(d).mean()),
            fraction_changed=float(np.count_nonzero(d) / d.size),
            n_increased=int(np.count_nonzero(d > 0)),
            n_decreased=int(np.count_nonzero(d < 0))))
    return tuple(out)


# --------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------
def mean_image(images_or_mean: Any, n_in: int) -> tuple[np.ndarray, Any]:
    """Split ``images_or_mean`` into the mean image and the calibration images.

    Parameters
    ----------
    images_or_mean : array_like or torch.Tensor
        Images, shape ``(n, ...)`` with ``prod(...) == n_in``, or an already
        averaged mean image, 1-D of size ``n_in`` (intensities >= 0,
        typically in [0, 1]).
    n_in : int
        Number of inputs of the network (the first Linear's in_features).

    Returns
    -------
    mean : numpy.ndarray
        float64, shape ``(n_in,)``.
    calibration : numpy.ndarray or None
        The images as ``(n, n_in)`` (None for a mean image).

    Raises
    ------
    ValueError
        Wrong size (the message names the expected size ``n_in``), no
        images, or negative/non-finite values.
    """
    if isinstance(images_or_mean, torch.Tensor):
        arr = images_or_mean.detach().to("cpu").numpy()
    else:
        arr = np.asarray(images_or_mean)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"images_or_mean must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"images_or_mean must be images (n, ...) or a 1-D mean image of size {n_in}, "
                         "got a scalar")
    if arr.ndim == 1:
        if arr.size != n_in:
            raise ValueError(f"the mean image has {arr.size} values but the network expects {n_in} inputs "
                             f"(the first Linear's in_features={n_in})")
        mean, calib = arr.astype(np.float64), None
    else:
        per = int(np.prod(arr.shape[1:]))
        if per != n_in or arr.shape[0] == 0:
            hint = (" (to pass a mean image, give it 1-D, e.g. mean.ravel())"
                    if arr.size == n_in else "")
            raise ValueError(f"images_or_mean has shape {arr.shape}: {per} values per image, but the network "
                             f"expects {n_in} inputs (the first Linear's in_features={n_in}){hint}")
        calib = arr.reshape(arr.shape[0], n_in)
        mean = calib.mean(axis=0, dtype=np.float64)
    if not np.all(np.isfinite(mean)) or np.any(mean < 0):
        raise ValueError("the mean image must be finite and >= 0 (input intensities)")
    return mean, calib


class IntensityWarning(UserWarning):
    """Input intensities outside [0, 1]: the sleep input rates scale with them."""


def check_intensities(mean: np.ndarray, params: SRCParams, images: Any = None) -> None:
    """Check that the sleep input is made of intensities in [0, 1].

    The input neuron of pixel ``i`` spikes in each step with probability
    ``params.input_probability_factor * mean[i]``, so intensities are rates
    relative to ``max_rate``, and the authors' images lie in [0, 1].

    Parameters
    ----------
    mean : numpy.ndarray
        The mean image (the sleep input).
    params : SRCParams
        Gives the spike probability per unit intensity.
    images : array_like, optional
        The images the mean was taken of.

    Raises
    ------
    ValueError
        A pixel's spike probability ``factor * mean`` exceeds 1 (the input
        saturates, so the rate no longer follows the image; typically images
        scaled to 0-255), or the mean image is negative somewhere.

    Warns
    -----
    IntensityWarning
        Intensities above 1 that do not saturate the input, or negative
        pixels in single images (the mean used as input is still >= 0).
    """
    factor = params.input_probability_factor
    top = float(np.max(mean)) if mean.size else 0.0
    if float(np.min(mean, initial=0.0)) < 0:
        raise ValueError(f"the mean image has negative intensities (min {float(np.min(mean)):.3g}); input "
                         "intensities are rates and must lie in [0, 1]: scale the images to [0, 1]")
    if top * factor > 1:
        raise ValueError(f"input intensities up to {top:.3g} give spike probabilities up to {top * factor:.3g} "
                         f"per step (max_rate={params.max_rate:g} Hz, dt={params.dt:g} ms), so the input "
                         "saturates and no longer follows the image; intensities must lie in [0, 1] "
                         "(images scaled to 0-255? divide them by 255)")
    if top > 1:
        warnings.warn(f"input intensities up to {top:.3g} exceed 1: the sleep input rates scale with them "
                      f"(up to {top:g} x max_rate); scale the images to [0, 1]", IntensityWarning, stacklevel=3)
    if images is not None:
        low = float(np.min(np.asarray(images), initial=0.0))
        if low < 0:
            warnings.warn(f"some image pixels are negative (min {low:.3g}); the sleep input uses the mean image, "
                          "whose intensities should lie in [0, 1]: were the images standardised?",
                          IntensityWarning, stacklevel=3)


def _raster_chunks(mean: np.ndarray, params: SRCParams, steps: int,
                   rng: np.random.Generator, chunk: int = RASTER_CHUNK) -> Iterator[np.ndarray]:
    """Yield the Poisson input raster as bool chunks of shape ``(<= chunk, n_in)``."""
    n_in = mean.size
    prob = params.input_probability_factor * mean  # float64
    m, side = params.mask_size, params.image_side
    if m > 0:
        if n_in != side * side:
            raise ValueError(f"mask_size={m} needs square images of image_side={side} "
                             f"({side * side} inputs), but the network has {n_in} inputs; "
                             "set image_side, or mask_size=0 for no mask")
        p_img = prob.reshape(side, side)
        span = side - m + 1
        ar = np.arange(m)
    done = 0
    while done < steps:
        c = min(chunk, steps - done)
        out = np.zeros((c, n_in), dtype=bool)
        if m > 0:
            corner = rng.integers(0, span, size=(c, 2))
            u = rng.random((c, m, m))
            rows = corner[:, 0, None] + ar  # (c, m)
            cols = corner[:, 1, None] + ar
            p_win = p_img[rows[:, :, None], cols[:, None, :]]  # (c, m, m)
            hit = u < p_win
            flat = rows[:, :, None] * side + cols[:, None, :]
            t_idx, a, b = np.nonzero(hit)
            out[t_idx, flat[t_idx, a, b]] = True
        else:
            out[:] = rng.random((c, n_in)) < prob
        yield out
        done += c


def input_raster(images_or_mean: Any, params: SRCParams, steps: int | None = None,
                 seed: int | None = None, n_in: int | None = None) -> np.ndarray:
    """The random input raster that :func:`sleep` would draw for a seed.

    Parameters
    ----------
    images_or_mean : array_like
        Images ``(n, ...)`` or a 1-D mean image (see :func:`mean_image`).
    params : SRCParams
        ``max_rate``, ``dt``, ``mask_size`` and ``image_side`` are used.
    steps : int, optional
        Number of steps (default ``params.steps``).
    seed : int, optional
        Seed of ``numpy.random.default_rng``.
    n_in : int, optional
        Expected number of inputs (default: inferred from the data).

    Returns
    -------
    numpy.ndarray
        bool, shape ``(steps, n_in)``; ``True`` = the input neuron spikes.
    """
    arr = np.asarray(images_or_mean)
    if n_in is None:
        n_in = arr.size if arr.ndim == 1 else int(np.prod(arr.shape[1:]))
    mean, calib = mean_image(arr, n_in)
    check_intensities(mean, params, calib)
    steps = params.steps if steps is None else int(steps)
    rng = np.random.default_rng(seed)
    return np.concatenate(list(_raster_chunks(mean, params, steps, rng)), axis=0)


def _given_raster_chunks(raster: np.ndarray, chunk: int = RASTER_CHUNK) -> Iterator[np.ndarray]:
    for start in range(0, raster.shape[0], chunk):
        yield raster[start:start + chunk]


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------
def _check_raster(raster: Any, n_in: int, steps: int) -> np.ndarray:
    arr = np.asarray(raster.detach().cpu().numpy() if isinstance(raster, torch.Tensor) else raster)
    if arr.ndim != 2 or arr.shape[1] != n_in:
        raise ValueError(f"input_raster must have shape (steps, {n_in}) (one column per input neuron), "
                         f"got {arr.shape}")
    if arr.shape[0] != steps:
        raise ValueError(f"input_raster has {arr.shape[0]} steps but params.steps={steps}; "
                         f"use preset(..., steps={arr.shape[0]}) or a raster of {steps} rows")
    if arr.dtype != bool:
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError("input_raster must be boolean (or 0/1 values)")
        arr = arr.astype(bool)
    return arr


def sleep(model: nn.Module | SpikingSpec, images_or_mean: Any, params: SRCParams,
          backend: str = "torch", device: str = "cpu", input_raster: Any = None,
          seed: int | None = None, brian2_backend: str = "cpp_standalone",
          calibration_images: Any = None, *, dtype: str = "float32",
          torch_mode: str = "auto", build_directory: Any = None,
          percentile: float = 100.0, dropout: str = "inverted",
          max_spikes_per_step: float | None = None) -> SleepResult:
    """Run one SRC sleep phase on a bias-free ReLU MLP or CNN and write the weights back.

    Parameters
    ----------
    model : torch.nn.Module or SpikingSpec
        The trained MLP or CNN (see :func:`bridge.convert.from_torch` for what
        is accepted); its Linear (and Conv2d) weights are updated in place. A
        :class:`~bridge.convert.SpikingSpec` may be given instead: then its
        weights and ``alpha`` are used as they are (no normalisation, no
        model to update) and ``calibration_images`` must not be given.
    images_or_mean : array_like or torch.Tensor
        Training images ``(n, ...)`` with ``prod(...) == in_features``: their
        mean is the sleep input and, unless ``calibration_images`` is given,
        they are the calibration data of the normalisation. Or an
        already-averaged 1-D mean image of size ``in_features`` (then
        ``calibration_images`` is required for a torch model).
        Intensities >= 0, typically in [0, 1].
    params : SRCParams
        Sleep parameters (e.g. ``bridge.presets.preset("fashion")``);
        ``params.beta`` sets the thresholds and ``params.alpha_scale`` the
        impulse scale.
    backend : {"torch", "brian2"}
    device : {"cpu", "cuda"}
        Torch device; Brian2 runs on the CPU (``device="cuda"`` with Brian2
        is an error).
    input_raster : array_like of bool, optional
        Shape ``(params.steps, in_features)``; replaces the random input
        (``True`` = the input neuron spikes in that step).
    seed : int, optional
        Seed of the input raster (``numpy.random.default_rng``, drawn in
        chunks of :data:`RASTER_CHUNK` steps, on the host, for every backend
        and device, so a seed gives the same raster everywhere; see
        :func:`input_raster`). A fresh seed is drawn and recorded when None.
    brian2_backend : str
        Brian2 code generation target: ``"cpp_standalone"`` (default),
        ``"numpy"``, ``"cython"`` (see :mod:`spiking.backend`).
    calibration_images : array_like, optional
        Images for the data-based normalisation (the training images of all
        tasks seen so far); default: ``images_or_mean`` when it holds images.
    dtype : {"float32", "float64"}
        Precision of the simulation (default float32, as the authors). The
        weights written back are float32 in either case.
    torch_mode : {"auto", "sparse", "dense"}
        Torch formulation: ``"sparse"`` pays per spike (best on CPU),
        ``"dense"`` avoids host synchronisation (best on GPU); ``"auto"``
        picks sparse on CPU and dense on CUDA.
    build_directory : path-like, optional
        Brian2 standalone project directory, kept afterwards (for
        inspection); a temporary directory, deleted afterwards, when None.
        Brian2 regenerates and recompiles the project on every call.
    percentile : float
        Percentile of the activations used in the normalisation (100 = max).
    dropout : {"inverted", "non-inverted"}
        How the model's ``nn.Dropout`` layers were trained (see
        :func:`bridge.convert.from_torch`): ``"non-inverted"`` for weights
        trained with the SRC authors' convention.
    max_spikes_per_step : float, optional
        Torch only: abandon the sleep (raise :class:`SleepActivityError`,
        weights unchanged) once the spiking layers (input excluded) have
        fired more than this many spikes per step on average, checked every
        :data:`RASTER_CHUNK` steps. The sparse kernel's time grows with the
        spikes; a preset search uses this to stop a candidate whose network
        fires in every step. None (default): no limit.

    Returns
    -------
    SleepResult

    Raises
    ------
    ValueError
        Unknown backend/device/dtype/mode, image size not matching the first
        layer's in_features (the message names the expected size), a
        raster of the wrong shape, ``params.beta`` of the wrong length (one
        entry per spiking layer, pooling layers included, or one for all), a
        mask that does not fit the input, or a convolutional network with
        ``backend="brian2"``.
    bridge.convert.ConversionError
        The model cannot be converted.
    """
    t_start = time.perf_counter()
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not known; allowed: {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise ValueError(f"device={device!r} is not known; allowed: {', '.join(DEVICES)}")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype={dtype!r} is not known; allowed: {', '.join(_DTYPES)}")
    if torch_mode not in ("auto", "sparse", "dense"):
        raise ValueError(f"torch_mode={torch_mode!r} is not known; allowed: auto, sparse, dense")
    if max_spikes_per_step is not None:
        if backend != "torch":
            raise ValueError(f"max_spikes_per_step={max_spikes_per_step!r}: only backend='torch' checks the "
                             "activity during the run; leave it None with backend='brian2'")
        if not (isinstance(max_spikes_per_step, (int, float)) and not isinstance(max_spikes_per_step, bool)
                and np.isfinite(max_spikes_per_step)
                and max_spikes_per_step > 0):
            raise ValueError(f"max_spikes_per_step={max_spikes_per_step!r}: must be a number > 0 (or None)")
    if not isinstance(params, SRCParams):
        raise TypeError(f"params must be an SRCParams (see bridge.presets.preset), got {type(params).__name__}")
    if backend == "brian2" and device != "cpu":
        raise ValueError("backend='brian2' runs on the CPU (device='cpu'); for a GPU use backend='torch', "
                         "device='cuda' (Brian2's cuda_standalone needs brian2cuda, which does not install with "
                         "this project's pins)")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch.cuda.is_available() is False")

    # --- conversion ---------------------------------------------------------
    if isinstance(model, SpikingSpec):
        if calibration_images is not None:
            raise ValueError("calibration_images cannot be used with a SpikingSpec (its alpha is already set)")
        spec = model
        if backend == "brian2" and spec.layers is not None:
            raise ValueError(BRIAN2_FULLY_CONNECTED_ONLY)
        torch_model = None
        mean, images = mean_image(images_or_mean, spec.layer_sizes[0])
        check_intensities(mean, params, images)
        spec = _with_beta(spec, params.beta_for(spec.n_layers))
    elif is_convolutional(model):
        if backend == "brian2":
            raise ValueError(BRIAN2_FULLY_CONNECTED_ONLY)
        calib = calibration_images
        if calib is None:
            if np.ndim(images_or_mean) <= 1:
                raise ValueError("images_or_mean is a mean image, so the normalisation needs calibration_images "
                                 "(the training images); pass them, or pass the images instead of their mean")
            calib = images_or_mean  # in their own shape: a convolutional network reads (n, C, H, W)
        spec = from_torch(model, calib, percentile=percentile, alpha_scale=params.alpha_scale, dropout=dropout)
        spec = _with_beta(spec, params.beta_for(spec.n_layers))
        mean, _ = mean_image(images_or_mean, spec.layer_sizes[0])
        torch_model = model
    else:
        from .convert import linear_layers

        n_in = linear_layers(model)[0].in_features
        mean, calib = mean_image(images_or_mean, n_in)
        check_intensities(mean, params, calib)
        if calibration_images is not None:
            calib = calibration_images
        if calib is None:
            raise ValueError("images_or_mean is a mean image, so the normalisation needs calibration_images "
                             "(the training images); pass them, or pass the images instead of their mean")
        n_lin = len(linear_layers(model))
        spec = from_torch(model, calib, percentile=percentile, alpha_scale=params.alpha_scale, dropout=dropout,
                          beta=params.beta_for(n_lin))
        torch_model = model
    n_in = spec.layer_sizes[0]
    thresholds = _in_dtype(spec.thresholds(params.threshold), dtype)
    alpha = _in_dtype(spec.alpha, dtype)

    # --- input -----------------------------------------------------------------
    if input_raster is not None:
        raster = _check_raster(input_raster, n_in, params.steps)
        used_seed = None
        make_chunks = lambda: _given_raster_chunks(raster)  # noqa: E731
    else:
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        used_seed = int(seed)
        # validate the mask geometry now (not lazily inside the generator)
        if params.mask_size > 0 and n_in != params.image_side ** 2:
            raise ValueError(f"mask_size={params.mask_size} needs square images of image_side="
                             f"{params.image_side} ({params.image_side ** 2} inputs), but the network has "
                             f"{n_in} inputs; set image_side, or mask_size=0 for no mask")
        make_chunks = lambda: _raster_chunks(mean, params, params.steps,  # noqa: E731
                                             np.random.default_rng(used_seed))

    # --- simulation --------------------------------------------------------
    build_seconds = 0.0
    if backend == "torch":
        mode = torch_mode if torch_mode != "auto" else ("dense" if device == "cuda" else "sparse")
        t0 = time.perf_counter()
        new_w, counts = _run_torch(spec.weights, alpha, thresholds, params, make_chunks(),
                                   device, dtype, mode, layers=spec.layers,
                                   max_spikes_per_step=max_spikes_per_step)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        target = f"torch-{mode}"
    else:
        from .src_brian2 import run_brian2

        out = run_brian2(spec.weights, alpha, thresholds, params, make_chunks(),
                         backend=brian2_backend, directory=build_directory, dtype=dtype)
        new_w, counts = out.weights, out.counts
        seconds, build_seconds = out.run_seconds, out.build_seconds
        target = brian2_backend

    new_w32 = [np.asarray(w, dtype=np.float32) for w in new_w]
    if not all(np.all(np.isfinite(w)) for w in new_w32):
        raise FloatingPointError("SRC produced non-finite weights (check params: inc, dec, g_scale)")
    spec_after = spec_with_weights(spec, new_w32)
    if torch_model is not None:
        to_torch(spec_after, torch_model)
    sizes = np.asarray(spec.layer_sizes, dtype=np.float64)
    return SleepResult(
        model=torch_model, spec_before=spec, spec_after=spec_after,
        spikes_per_layer=np.asarray(counts, dtype=np.int64),
        spike_rate_per_layer=np.asarray(counts, dtype=np.float64) / (sizes * params.steps),
        weight_change=_weight_change(spec.weights, new_w32), steps=int(params.steps),
        seconds=float(seconds), backend=backend, device=device, target=target,
        build_seconds=float(build_seconds), total_seconds=time.perf_counter() - t_start,
        seed=used_seed, dtype=dtype, params=params)


def simulate(spec: SpikingSpec, raster: Any, params: SRCParams, backend: str = "torch",
             device: str = "cpu", dtype: str = "float64", brian2_backend: str = "numpy",
             torch_mode: str = "auto", build_directory: Any = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Low-level run of SRC on a spec with an explicit raster, in the run precision.

    Used to compare backends without the final rounding to float32.

    Parameters
    ----------
    spec : SpikingSpec
        Weights, ``alpha`` and ``beta`` (``params.beta`` is ignored here).
    raster : array_like of bool
        Shape ``(params.steps, n_in)``.
    params, backend, device, dtype, brian2_backend, torch_mode, build_directory
        As in :func:`sleep`.

    Returns
    -------
    weights : list of numpy.ndarray
        Final weights, shape ``(n_out, n_in)``, in ``dtype``.
    counts : numpy.ndarray
        int64 spikes per layer, input first.
    """
    raster = _check_raster(raster, spec.layer_sizes[0], params.steps)
    if dtype not in _DTYPES:
        raise ValueError(f"dtype={dtype!r} is not known; allowed: {', '.join(_DTYPES)}")
    thresholds = _in_dtype(spec.thresholds(params.threshold), dtype)
    alpha = _in_dtype(spec.alpha, dtype)
    if backend == "torch":
        mode = torch_mode if torch_mode != "auto" else ("dense" if device == "cuda" else "sparse")
        return _run_torch(spec.weights, alpha, thresholds, params, _given_raster_chunks(raster),
                          device, dtype, mode, layers=spec.layers)
    if backend == "brian2":
        if spec.layers is not None:
            raise ValueError(BRIAN2_FULLY_CONNECTED_ONLY)
        from .src_brian2 import run_brian2

        out = run_brian2(spec.weights, alpha, thresholds, params, _given_raster_chunks(raster),
                         backend=brian2_backend, directory=build_directory, dtype=dtype)
        return list(out.weights), out.counts
    raise ValueError(f"backend={backend!r} is not known; allowed: {', '.join(BACKENDS)}")


def _in_dtype(values: Sequence[float], dtype: str) -> tuple:
    """Round constants to the run precision, so both backends use the same values."""
    np_dtype = _DTYPES[dtype][0]
    return tuple(float(np_dtype(v)) for v in values)


def _with_beta(spec: SpikingSpec, beta: Sequence[float]) -> SpikingSpec:
    return dataclasses.replace(spec, beta=tuple(float(b) for b in beta))

