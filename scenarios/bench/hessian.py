"""Benchmark: top Hessian eigenvalue of the SRC MLP by power iteration, one CPU thread.

:func:`run` wraps :func:`bench_hessian`: builds the 784-1200-1200-10
bias-free ReLU MLP of Sleep Replay Consolidation (weights ~ U(-0.01, 0.01),
seed ``seed``; 2 392 800 parameters), takes ``n_images`` inputs and runs
power iteration on Hessian-vector products (double back-propagation) of the
loss until the relative change of the eigenvalue estimate is below ``tol``
or ``max_iter`` products are done. The data are uniform random pixels with
uniform random labels by default, or the first training images of a data set
(``data="fashion"``).

``sleep-snn bench hessian`` (:mod:`scenarios.commands.bench`) prints the
record of :func:`run` as one JSON object, the last line of stdout::

    {"seconds": ..., "iterations": ..., "eigenvalue": ..., "n_params": ...,
     "n_images": ..., "s_per_hvp": ..., "converged": ..., "threads": 1,
     "cpu_seconds": ..., ...}

``seconds`` is the wall-clock time of the power iteration; ``cpu_seconds``
the CPU time of the process over the whole call (data and model set-up
included), which stays meaningful on a machine shared with other jobs.

Usage::

    sleep-snn bench hessian --n-images 1000 --json
    sleep-snn bench hessian --n-images 1000 --data fashion
"""

from __future__ import annotations

import platform
import time
from typing import Sequence

__all__ = ["bench_hessian", "run"]


def bench_hessian(sizes: Sequence[int] = (784, 1200, 1200, 10), n_images: int = 1000, seed: int = 0,
                  images=None, labels=None, model=None, loss: str = "mse",
                  tol: float = 1e-4, max_iter: int = 100, threads: int | None = 1) -> dict:
    """Time :func:`scenarios.ann.sharpness.hessian_top_eigenvalue` on an MLP.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths of the :func:`scenarios.ann.mlp.make_mlp` network built when
        ``model`` is None (authors' initialisation, seeded by ``seed``).
    n_images : int
        Number of samples used (the first ``n_images`` of ``images``, or that
        many random ones).
    seed : int
        Seed of the model, the random data and the power-iteration start.
    images, labels : array-like, optional
        Data (``(n, h, w)`` or ``(n, d)`` floats, integer labels). Default:
        pixels ~ U(0, 1) and uniformly random labels.
    model : torch.nn.Module, optional
        A (trained) model to use instead of a fresh one.
    loss : {"mse", "ce"}
        Loss (see :func:`scenarios.ann.mlp.loss_function`).
    tol, max_iter
        Passed to :func:`scenarios.ann.sharpness.hessian_top_eigenvalue`.
    threads : int or None
        ``torch.set_num_threads`` for the measurement (restored afterwards);
        None leaves it alone.

    Returns
    -------
    dict
        ``wall_s``, ``s_per_hvp``, ``iterations``, ``eigenvalue``,
        ``converged``, ``n_images``, ``n_params``, ``threads``, ``data``
        ("random" or "given").
    """
    import numpy as np
    import torch

    from scenarios.ann.mlp import loss_function, make_mlp
    from scenarios.ann.sharpness import hessian_top_eigenvalue

    if model is None:
        model = make_mlp(sizes, seed=seed)
    n_classes = int(sizes[-1])
    rng = np.random.default_rng(seed)
    if images is None:
        X = torch.as_tensor(rng.random((n_images, int(sizes[0])), dtype=np.float32))
        y = torch.as_tensor(rng.integers(0, n_classes, n_images))
        data = "random"
    else:
        X = torch.as_tensor(np.asarray(images[:n_images], dtype=np.float32))
        if labels is None:
            raise ValueError("labels are needed with images")
        y = torch.as_tensor(np.asarray(labels[:n_images], dtype=np.int64))
        data = "given"
    device = next(model.parameters()).device
    X, y = X.to(device), y.to(device)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        t0 = time.perf_counter()
        res = hessian_top_eigenvalue(model, loss_function(loss, n_classes), X, y, tol=tol, max_iter=max_iter, seed=seed)
        wall = time.perf_counter() - t0
    finally:
        torch.set_num_threads(old_threads)
    return {
        "wall_s": wall,
        "s_per_hvp": wall / res["iterations"],
        "iterations": res["iterations"],
        "eigenvalue": res["eigenvalue"],
        "converged": res["converged"],
        "n_images": int(len(X)),
        "n_params": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "threads": torch.get_num_threads() if threads is None else int(threads),
        "data": data,
    }


def run(n_images: int = 1000, seed: int = 0, max_iter: int = 100, tol: float = 1e-4, threads: int = 1,
        loss: str = "mse", data: str = "random", data_dir: str | None = None,
        sizes=(784, 1200, 1200, 10)) -> dict:
    """Run the benchmark and return its JSON-ready record.

    Parameters
    ----------
    n_images : int
        Samples in the loss.
    seed : int
        Seed of the model, the data and the start vector.
    max_iter : int
        Maximum Hessian-vector products.
    tol : float
        Relative tolerance of the eigenvalue.
    threads : int
        Torch threads.
    loss : {"mse", "ce"}
        Loss.
    data : {"random", "fashion", "mnist", "digits"}
        Random pixels and labels, or a data set's first training images.
    data_dir : str, optional
        Directory of the IDX files.
    sizes : sequence of int
        Layer widths of the MLP.

    Returns
    -------
    dict
        ``seconds`` (power iteration), ``iterations``, ``eigenvalue``,
        ``n_params``, ``n_images``, ``s_per_hvp``, ``converged``, the settings,
        ``total_seconds``, ``cpu_seconds`` and versions.
    """
    import numpy as np
    import torch

    torch.set_num_threads(int(threads))
    images = labels = None
    if data != "random":
        from spiking.data import load_dataset

        size = 28 if data == "digits" else None
        ds = load_dataset(data, "train", size=size, data_dir=data_dir)
        if n_images > len(ds.labels):
            raise ValueError(f"--n-images {n_images}: {data} has only {len(ds.labels)} training images")
        images = ds.images.reshape(len(ds.images), -1)[:n_images]
        labels = ds.labels[:n_images]
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = bench_hessian(sizes=sizes, n_images=n_images, seed=seed, images=images, labels=labels, loss=loss,
                        tol=tol, max_iter=max_iter, threads=threads)
    total = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {
        "seconds": float(res["wall_s"]),
        "iterations": int(res["iterations"]),
        "eigenvalue": float(res["eigenvalue"]),
        "n_params": int(res["n_params"]),
        "n_images": int(res["n_images"]),
        "s_per_hvp": float(res["s_per_hvp"]),
        "converged": bool(res["converged"]),
        "tol": float(tol),
        "max_iter": int(max_iter),
        "threads": int(res["threads"]),
        "data": data,
        "loss": loss,
        "seed": int(seed),
        "sizes": [int(s) for s in sizes],
        "total_seconds": float(total),
        "cpu_seconds": float(cpu),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
    }
