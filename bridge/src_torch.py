"""Torch kernels of Sleep Replay Consolidation (CPU and CUDA).

The algorithm is described in :mod:`bridge.src`; the plasticity rule is
:func:`bridge.rule.weight_change`, which both kernels call. Two formulations:

``sparse`` (CPU default)
    Pays per spike: only the rows of spiking inputs are gathered for the
    impulse and only the columns of spiking post neurons are updated
    (weights are stored transposed, ``(n_in, n_out)``); layers that receive no
    spike in a step only decay (they cannot cross a positive threshold
    without input).
``dense`` (CUDA default)
    Host-synchronisation-free: matrix-vector impulse and the rule applied to
    the whole matrix, masked by the post spikes.

Convolutional networks (a :class:`~bridge.convert.SpikingSpec` with
``layers``) run through :class:`LayeredNetwork`, one step at a time, with the
same order of operations: every layer's membranes decay at the start of the
step, then layer by layer the impulse (from this step's spikes of the layer
below, with the weights before this step's plasticity), the threshold, the
reset and the plasticity of the layer's incoming weights. A convolution's
impulse is ``torch.nn.functional.conv2d`` of the pre spikes with the kernel
(an average pooling is the same with its fixed depthwise kernel), or, in
``sparse`` mode when the spiking inputs have fewer synapses than the dense
convolution has multiply-adds, the sum of those synapses' weights gathered
from a table of every synapse sorted by pre neuron (event-driven); the kernel
update counts, per kernel weight, the synapses of spiking post neurons whose
pre neuron spiked (``n_plus``, the weight gradient of the convolution with
the pre spikes as input and the post spikes as output gradient,
``torch.nn.grad.conv2d_weight``) and all synapses of spiking post neurons
(``n_synapses``, the same with an all-ones input, so that taps in the zero
padding are no synapses), and passes them to
:func:`bridge.rule.shared_weight_change`. Dense layers of such a network use
:func:`bridge.rule.weight_change` exactly as above. In ``sparse`` mode a
layer that receives no spike is skipped with all the layers above it and
the plasticity runs only for layers that spiked; the kernel update itself is
dense (two ``conv2d_weight`` per plastic layer and step with spikes: measured
on the study's CNN, gathering the patches of the spiking post neurons
instead was slower). ``dense`` mode computes everything every step, with
dense convolutions, without reading anything back to the host.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from .presets import SRCParams
from .rule import shared_weight_change, weight_change

__all__ = ["DTYPES", "LayeredNetwork", "SleepActivityError", "run_torch"]

#: Run precisions: name -> (numpy dtype, torch dtype).
DTYPES = {"float32": (np.float32, torch.float32), "float64": (np.float64, torch.float64)}


class SleepActivityError(RuntimeError):
    """A sleep whose spiking layers fired more than the allowed spikes per step.

    Raised by :func:`run_torch` (at the end of an input chunk) when a
    ``max_spikes_per_step`` was given and exceeded; the weights are left
    as they were (the run is abandoned).
    """


def _check_activity(n_spikes: float, steps: int, limit: float | None) -> None:
    """Raise :class:`SleepActivityError` if ``n_spikes`` over ``steps`` exceed ``limit`` per step."""
    if limit is not None and n_spikes > limit * steps:
        raise SleepActivityError(
            f"the sleep's spiking layers fired {n_spikes / steps:.1f} spikes per step over its first {steps} "
            f"steps, above max_spikes_per_step={limit:g}")


def run_torch(weights: Sequence[np.ndarray], alpha: Sequence[float], thresholds: Sequence[float],
              params: SRCParams, chunks: Iterator[np.ndarray], device: str, dtype: str,
              mode: str, layers: Sequence | None = None,
              max_spikes_per_step: float | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Simulate SRC with torch; return the final weights (run dtype) and spike counts.

    ``layers`` (the :class:`~bridge.convert.LayerGeometry` of a convolutional
    spec) selects :class:`LayeredNetwork`; ``None`` (an MLP) the kernels below.
    ``max_spikes_per_step``: if given, the spikes of all layers but the input
    are checked at the end of every chunk, and :class:`SleepActivityError`
    is raised once they exceed this many per step on average (the sparse
    kernel's time grows with the spikes: a search uses it to abandon a
    candidate whose network fires in every step).
    """
    if layers is not None:
        net = LayeredNetwork(weights, layers, alpha, thresholds, params, device, dtype, mode)
        steps = 0
        with torch.no_grad():
            for chunk in chunks:
                net.run_chunk(chunk)
                steps += chunk.shape[0]
                if max_spikes_per_step is not None:
                    _check_activity(float(net.counts[1:].sum()), steps, max_spikes_per_step)
        return net.weights_numpy(), net.counts_numpy()
    _, tdtype = DTYPES[dtype]
    dev = torch.device(device)
    # transposed weights (n_in, n_out): the impulse gathers contiguous rows
    wts = [torch.tensor(np.ascontiguousarray(w.T), dtype=tdtype, device=dev) for w in weights]
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    with torch.no_grad():
        if mode == "sparse":
            counts = _torch_sparse(wts, sizes, alpha, thresholds, params, chunks, dev, tdtype, max_spikes_per_step)
        else:
            counts = _torch_dense(wts, sizes, alpha, thresholds, params, chunks, dev, tdtype, max_spikes_per_step)
    return [w.T.contiguous().cpu().numpy() for w in wts], counts


def _torch_sparse(wts, sizes, alpha, thresholds, params, chunks, dev, tdtype, limit=None) -> np.ndarray:
    n_layers = len(wts)
    decay = float(params.decay)
    inc, dec, gs = float(params.inc), float(params.dec), float(params.g_scale)
    v_all = torch.zeros(sum(sizes[1:]), dtype=tdtype, device=dev)
    vs = list(torch.split(v_all, sizes[1:]))
    premask = [torch.zeros(n, dtype=torch.bool, device=dev) for n in sizes[:-1]]
    counts = [0] * (n_layers + 1)
    layers = list(zip(wts, vs, alpha, thresholds, premask))
    do_decay = decay != 1.0
    steps = 0
    for chunk in chunks:
        c = chunk.shape[0]
        t_idx, cols = np.nonzero(chunk)
        per_step = np.bincount(t_idx, minlength=c).tolist()
        idx = torch.split(torch.from_numpy(cols.astype(np.int64)).to(dev), per_step)
        counts[0] += int(cols.size)
        for t in range(c):
            if do_decay:
                v_all.mul_(decay)
            pre, n_pre = idx[t], per_step[t]
            for l, (wt, v, a, th, pmask) in enumerate(layers):
                if n_pre == 0:
                    break  # no input: this and deeper layers only decay
                imp = wt.index_select(0, pre).sum(0)
                v.add_(imp.mul_(a))
                post = torch.nonzero(v >= th).squeeze(1)
                n_post = post.numel()
                if n_post:
                    v.index_fill_(0, post, 0.0)
                    counts[l + 1] += n_post
                    # plasticity on the incoming weights of the spiking neurons
                    cols_w = wt.index_select(1, post)  # (n_pre_layer, n_post)
                    pmask.index_fill_(0, pre, True)
                    cols_w += weight_change(cols_w, pmask, inc, dec, gs)
                    pmask.index_fill_(0, pre, False)
                    wt.index_copy_(1, post, cols_w)
                pre, n_pre = post, n_post
        steps += c
        _check_activity(sum(counts[1:]), steps, limit)
    return np.asarray(counts, dtype=np.int64)


def _torch_dense(wts, sizes, alpha, thresholds, params, chunks, dev, tdtype, limit=None) -> np.ndarray:
    """Host-synchronisation-free formulation (for GPUs): every op is dense."""
    n_layers = len(wts)
    decay = float(params.decay)
    inc, dec, gs = float(params.inc), float(params.dec), float(params.g_scale)
    v_all = torch.zeros(sum(sizes[1:]), dtype=tdtype, device=dev)
    vs = list(torch.split(v_all, sizes[1:]))
    counts = torch.zeros(n_layers + 1, dtype=torch.float64, device=dev)
    layer_counts = [counts[l + 1] for l in range(n_layers)]
    steps = 0
    for chunk in chunks:
        s_chunk = torch.tensor(chunk, dtype=torch.bool, device=dev)  # copy: chunk may be read-only
        counts[0] += s_chunk.sum(dtype=torch.float64)
        s_chunk_f = s_chunk.to(tdtype)
        for t in range(chunk.shape[0]):
            if decay != 1.0:
                v_all.mul_(decay)
            s_b, s_f = s_chunk[t], s_chunk_f[t]
            for l in range(n_layers):
                wt, v = wts[l], vs[l]
                imp = s_f @ wt
                v.add_(imp.mul_(alpha[l]))
                spk = v >= thresholds[l]
                v.masked_fill_(spk, 0.0)
                spk_f = spk.to(tdtype)
                dw = weight_change(wt, s_b, inc, dec, gs)
                wt.add_(dw.mul_(spk_f.unsqueeze(0)))
                layer_counts[l].add_(spk_f.sum(dtype=torch.float64))
                s_b, s_f = spk, spk_f
        steps += chunk.shape[0]
        if limit is not None:  # one read-back per chunk, only when asked
            _check_activity(float(counts[1:].sum()), steps, limit)
    return np.rint(counts.cpu().numpy()).astype(np.int64)


class LayeredNetwork:
    """A convolutional SRC network in torch, advanced one step at a time.

    Parameters
    ----------
    weights : sequence of numpy.ndarray
        Per layer: the matrix ``(n_out, n_in)`` of a dense layer, the kernel
        ``(O, C / groups, kh, kw)`` of a convolution or pooling (ANN units).
    layers : sequence of LayerGeometry
        The layers' connectivity (:class:`bridge.convert.LayerGeometry`).
    alpha, thresholds : sequence of float
        Impulse factor and firing threshold per layer (dimensionless).
    params : SRCParams
        ``decay``, ``inc``, ``dec``, ``g_scale``, ``kernel_update``.
    device : str
        Torch device (``"cpu"``, ``"cuda"``).
    dtype : {"float32", "float64"}
        Precision of the membranes and weights.
    mode : {"sparse", "dense"}
        See the module docstring.

    Attributes
    ----------
    v : list of torch.Tensor
        Membrane potential per layer, flat (``torch.flatten`` order).
    weights : list of torch.Tensor
        Current weights (dense layers stored transposed, ``(n_in, n_out)``).
    counts : torch.Tensor
        Spikes so far per layer, input first (float64).
    """

    def __init__(self, weights: Sequence[np.ndarray], layers: Sequence, alpha: Sequence[float],
                 thresholds: Sequence[float], params: SRCParams, device: str, dtype: str, mode: str) -> None:
        if mode not in ("sparse", "dense"):
            raise ValueError(f"mode={mode!r} is not known; allowed: sparse, dense")
        _, self.tdtype = DTYPES[dtype]
        self.dev = torch.device(device)
        self.layers = tuple(layers)
        self.mode = mode
        self.alpha = [float(a) for a in alpha]
        self.thresholds = [float(t) for t in thresholds]
        self.decay = float(params.decay)
        self.inc, self.dec, self.gs = float(params.inc), float(params.dec), float(params.g_scale)
        self.combine = params.kernel_update
        self.weights = []
        self.ones = []
        for w, g in zip(weights, self.layers):
            if g.kind == "dense":
                self.weights.append(torch.tensor(np.ascontiguousarray(np.asarray(w).T), dtype=self.tdtype,
                                                 device=self.dev))
                self.ones.append(None)
            else:
                self.weights.append(torch.tensor(np.asarray(w), dtype=self.tdtype, device=self.dev))
                self.ones.append(torch.ones((1,) + tuple(g.in_shape), dtype=self.tdtype, device=self.dev)
                                 if g.plastic else None)
        sizes = [g.n_out for g in self.layers]
        self.v_all = torch.zeros(sum(sizes), dtype=self.tdtype, device=self.dev)
        self.v = list(torch.split(self.v_all, sizes))
        self.counts = torch.zeros(len(self.layers) + 1, dtype=torch.float64, device=self.dev)
        # sparse mode: the synapses of each convolution sorted by pre neuron (the event-driven impulse)
        self._fanout = [_fanout(g, tuple(w.shape), self.dev) if (mode == "sparse" and g.kind != "dense") else None
                        for g, w in zip(self.layers, self.weights)]

    # ------------------------------------------------------------------ impulse and plasticity
    def _impulse(self, l: int, s_b: torch.Tensor, s_f: torch.Tensor | None) -> torch.Tensor:
        g, w = self.layers[l], self.weights[l]
        if g.kind == "dense":
            if self.mode == "sparse":
                return w.index_select(0, torch.nonzero(s_b).squeeze(1)).sum(0)
            return s_f @ w
        fan = self._fanout[l]
        if fan is not None:
            pre = torch.nonzero(s_b).squeeze(1)
            if pre.numel() * fan.mean_fanout < fan.dense_cost:  # event-driven pays
                starts, ends = fan.indptr[pre], fan.indptr[pre + 1]
                counts = ends - starts
                n = int(counts.sum())
                base = torch.repeat_interleave(starts - (torch.cumsum(counts, 0) - counts), counts)
                idx = base + torch.arange(n, device=self.dev)
                return torch.zeros(g.n_out, dtype=self.tdtype, device=self.dev).index_add_(
                    0, fan.post[idx], w.view(-1)[fan.tap[idx]])
        x = s_f.view((1,) + tuple(g.in_shape))
        return torch.nn.functional.conv2d(x, w, None, g.stride, g.padding, g.dilation, g.groups).view(-1)

    def _plasticity(self, l: int, s_b: torch.Tensor, s_f: torch.Tensor, spk: torch.Tensor) -> None:
        g, w = self.layers[l], self.weights[l]
        if not g.plastic:
            return
        if g.kind == "dense":
            if self.mode == "sparse":
                post = torch.nonzero(spk).squeeze(1)
                cols = w.index_select(1, post)
                cols += weight_change(cols, s_b, self.inc, self.dec, self.gs)
                w.index_copy_(1, post, cols)
            else:
                dw = weight_change(w, s_b, self.inc, self.dec, self.gs)
                w.add_(dw.mul_(spk.to(self.tdtype).unsqueeze(0)))
            return
        z = spk.to(self.tdtype).view((1,) + tuple(g.out_shape))
        conv_w = torch.nn.grad.conv2d_weight
        n_plus = conv_w(s_f.view((1,) + tuple(g.in_shape)), w.shape, z, g.stride, g.padding, g.dilation, g.groups)
        n_syn = conv_w(self.ones[l], w.shape, z, g.stride, g.padding, g.dilation, g.groups)
        w.add_(shared_weight_change(w, n_plus, n_syn, self.inc, self.dec, self.gs, self.combine))

    # ------------------------------------------------------------------ one step
    def step(self, pre: torch.Tensor, n_pre: int | None = None) -> list:
        """Advance one step with the input spikes ``pre`` (bool, flat ``(n_in,)``).

        ``n_pre`` (sparse mode): the number of input spikes, if known (saves a
        read-back). Returns the bool spike vector of every layer that was
        simulated (in sparse mode the layers above one that received no spike
        are skipped: they only decay).
        """
        if self.decay != 1.0:
            self.v_all.mul_(self.decay)
        sparse = self.mode == "sparse"
        s_b = pre
        if sparse:
            n_pre = int(pre.sum()) if n_pre is None else int(n_pre)
            self.counts[0] += n_pre
        else:
            self.counts[0] += pre.sum(dtype=torch.float64)
        out = []
        for l in range(len(self.layers)):
            if sparse and n_pre == 0:
                break  # no input: this and deeper layers only decay
            s_f = s_b.to(self.tdtype)
            v = self.v[l]
            v.add_(self._impulse(l, s_b, s_f).mul_(self.alpha[l]))
            spk = v >= self.thresholds[l]
            if sparse:
                n_post = int(spk.sum())
                if n_post:
                    v.masked_fill_(spk, 0.0)
                    self.counts[l + 1] += n_post
                    self._plasticity(l, s_b, s_f, spk)
                n_pre = n_post
            else:
                v.masked_fill_(spk, 0.0)
                self.counts[l + 1] += spk.sum(dtype=torch.float64)
                self._plasticity(l, s_b, s_f, spk)
            out.append(spk)
            s_b = spk
        return out

    def run_chunk(self, chunk: np.ndarray) -> None:
        """Advance ``len(chunk)`` steps with the input raster ``chunk`` (bool, ``(steps, n_in)``)."""
        s_chunk = torch.tensor(chunk, dtype=torch.bool, device=self.dev)  # copy: chunk may be read-only
        if self.mode == "sparse":
            per_step = np.count_nonzero(chunk, axis=1).tolist()
            for t in range(chunk.shape[0]):
                self.step(s_chunk[t], per_step[t])
        else:
            for t in range(chunk.shape[0]):
                self.step(s_chunk[t])

    def weights_numpy(self) -> list:
        """The current weights as numpy arrays in the run dtype (dense layers ``(n_out, n_in)``)."""
        return [(w.T.contiguous() if g.kind == "dense" else w).cpu().numpy()
                for w, g in zip(self.weights, self.layers)]

    def counts_numpy(self) -> np.ndarray:
        """int64 spikes per layer so far, input first."""
        return np.rint(self.counts.cpu().numpy()).astype(np.int64)


class _Fanout:
    """The synapses of a convolution sorted by pre neuron (CSR): for the event-driven impulse."""

    def __init__(self, indptr: torch.Tensor, post: torch.Tensor, tap: torch.Tensor, dense_cost: float) -> None:
        self.indptr, self.post, self.tap = indptr, post, tap
        n_pre = indptr.numel() - 1
        self.mean_fanout = float(post.numel()) / max(n_pre, 1)
        self.dense_cost = dense_cost


def _fanout(g, w_shape: tuple, dev: torch.device) -> _Fanout:
    """Every synapse ``(pre, post, kernel tap)`` of a convolution or pooling layer, sorted by pre neuron.

    A kernel tap in the zero padding is no synapse. ``dense_cost`` is the
    multiply-adds of one dense ``conv2d`` of the layer (what the event-driven
    impulse is compared with).
    """
    c_in, h, w = g.in_shape
    o_out = g.out_shape[0]
    kh, kw = w_shape[2], w_shape[3]
    cg, og = c_in // g.groups, o_out // g.groups
    index = torch.arange(1, c_in * h * w + 1, dtype=torch.float64).view(1, c_in, h, w)
    unf = torch.nn.functional.unfold(index, (kh, kw), dilation=g.dilation, padding=g.padding,
                                     stride=g.stride)[0].round().long() - 1  # (C k k, L); -1 = padding
    n_pos = unf.shape[1]
    posts, pres, taps = [], [], []
    k2 = kh * kw
    for o in range(o_out):
        gi = o // og
        rows = unf[gi * cg * k2:(gi + 1) * cg * k2]  # this group's input channels, (cg k k, L)
        r, p = torch.nonzero(rows >= 0, as_tuple=True)
        pres.append(rows[r, p])
        posts.append(o * n_pos + p)
        taps.append(o * cg * k2 + r)
    pre, post, tap = torch.cat(pres), torch.cat(posts), torch.cat(taps)
    order = torch.argsort(pre, stable=True)
    pre, post, tap = pre[order], post[order], tap[order]
    indptr = torch.zeros(c_in * h * w + 1, dtype=torch.long)
    indptr[1:] = torch.cumsum(torch.bincount(pre, minlength=c_in * h * w), 0)
    dense_cost = float(o_out * n_pos * cg * k2)
    return _Fanout(indptr.to(dev), post.to(dev), tap.to(dev), dense_cost)
