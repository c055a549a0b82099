"""Benchmark: top Hessian eigenvalue of the SRC MLP by power iteration, one CPU thread.

Wraps :func:`scenarios.sharpness.bench_hessian`: builds the 784-1200-1200-10
bias-free ReLU MLP of Sleep Replay Consolidation (weights ~ U(-0.01, 0.01),
seed ``--seed``; 2 392 800 parameters), takes ``--n-images`` inputs and runs
power iteration on Hessian-vector products (double back-propagation) of the
loss until the relative change of the eigenvalue estimate is below ``--tol``
or ``--max-iter`` products are done. The data are uniform random pixels with
uniform random labels by default, or the first training images of a data set
(``--data fashion``).

The last line of stdout is one JSON object::

    {"seconds": ..., "iterations": ..., "eigenvalue": ..., "n_params": ...,
     "n_images": ..., "s_per_hvp": ..., "converged": ..., "threads": 1,
     "cpu_seconds": ..., ...}

``seconds`` is the wall-clock time of the power iteration; ``cpu_seconds``
the CPU time of the process over the whole call (data and model set-up
included), which stays meaningful on a machine shared with other jobs.

Usage::

    sleep-snn bench hessian --n-images 1000 --json
    python -m scenarios.bench.hessian --n-images 1000 --data fashion
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

__all__ = ["main", "run"]


def run(n_images: int = 1000, seed: int = 0, max_iter: int = 100, tol: float = 1e-4, threads: int = 1,
        loss: str = "mse", data: str = "random", data_dir: str | None = None,
        sizes=(784, 1200, 1200, 10)) -> dict:
    """Run the benchmark and return its JSON-ready record."""
    import numpy as np
    import torch

    from scenarios.ann.sharpness import bench_hessian

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sleep-snn bench hessian",
                                description="Time the top Hessian eigenvalue (power iteration) of the "
                                            "784-1200-1200-10 MLP on one CPU thread.")
    p.add_argument("--n-images", type=int, default=1000, help="samples in the loss (default 1000)")
    p.add_argument("--max-iter", type=int, default=100, help="maximum Hessian-vector products (default 100)")
    p.add_argument("--tol", type=float, default=1e-4, help="relative tolerance of the eigenvalue (default 1e-4)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--loss", choices=("mse", "ce"), default="mse", help="loss (default mse)")
    p.add_argument("--data", choices=("random", "fashion", "mnist", "digits"), default="random",
                   help="random pixels and labels (default) or a data set's first training images")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seed", type=int, default=0, help="seed of the model, the data and the start vector")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    args = p.parse_args(argv)
    if args.n_images < 1:
        p.error("--n-images must be >= 1")
    if args.max_iter < 1:
        p.error("--max-iter must be >= 1")
    if not args.tol > 0:
        p.error("--tol must be > 0")
    out = run(n_images=args.n_images, seed=args.seed, max_iter=args.max_iter, tol=args.tol, threads=args.threads,
              loss=args.loss, data=args.data, data_dir=args.data_dir)
    if not args.json:
        print(f"top Hessian eigenvalue {out['eigenvalue']:.6g} after {out['iterations']} Hessian-vector products "
              f"({'converged' if out['converged'] else 'not converged'}), {out['seconds']:.2f} s "
              f"({out['s_per_hvp']:.3f} s each) on {out['threads']} thread(s), {out['n_params']} parameters, "
              f"{out['n_images']} images")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
