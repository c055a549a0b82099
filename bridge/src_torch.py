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
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from .presets import SRCParams
from .rule import weight_change

__all__ = ["DTYPES", "run_torch"]

#: Run precisions: name -> (numpy dtype, torch dtype).
DTYPES = {"float32": (np.float32, torch.float32), "float64": (np.float64, torch.float64)}


def run_torch(weights: Sequence[np.ndarray], alpha: Sequence[float], thresholds: Sequence[float],
               params: SRCParams, chunks: Iterator[np.ndarray], device: str, dtype: str,
               mode: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Simulate SRC with torch; return the final weights (run dtype) and spike counts."""
    _, tdtype = DTYPES[dtype]
    dev = torch.device(device)
    # transposed weights (n_in, n_out): the impulse gathers contiguous rows
    wts = [torch.tensor(np.ascontiguousarray(w.T), dtype=tdtype, device=dev) for w in weights]
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    with torch.no_grad():
        if mode == "sparse":
            counts = _torch_sparse(wts, sizes, alpha, thresholds, params, chunks, dev, tdtype)
        else:
            counts = _torch_dense(wts, sizes, alpha, thresholds, params, chunks, dev, tdtype)
    return [w.T.contiguous().cpu().numpy() for w in wts], counts


def _torch_sparse(wts, sizes, alpha, thresholds, params, chunks, dev, tdtype) -> np.ndarray:
    n_layers = len(wts)
    decay = float(params.decay)
    inc, dec, gs = float(params.inc), float(params.dec), float(params.g_scale)
    v_all = torch.zeros(sum(sizes[1:]), dtype=tdtype, device=dev)
    vs = list(torch.split(v_all, sizes[1:]))
    premask = [torch.zeros(n, dtype=torch.bool, device=dev) for n in sizes[:-1]]
    counts = [0] * (n_layers + 1)
    layers = list(zip(wts, vs, alpha, thresholds, premask))
    do_decay = decay != 1.0
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
    return np.asarray(counts, dtype=np.int64)


def _torch_dense(wts, sizes, alpha, thresholds, params, chunks, dev, tdtype) -> np.ndarray:
    """Host-synchronisation-free formulation (for GPUs): every op is dense."""
    n_layers = len(wts)
    decay = float(params.decay)
    inc, dec, gs = float(params.inc), float(params.dec), float(params.g_scale)
    v_all = torch.zeros(sum(sizes[1:]), dtype=tdtype, device=dev)
    vs = list(torch.split(v_all, sizes[1:]))
    counts = torch.zeros(n_layers + 1, dtype=torch.float64, device=dev)
    layer_counts = [counts[l + 1] for l in range(n_layers)]
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
    return np.rint(counts.cpu().numpy()).astype(np.int64)
