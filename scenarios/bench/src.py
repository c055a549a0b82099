"""Benchmark of Sleep Replay Consolidation (Tadros et al., Nat. Commun. 13:7742, 2022).

Builds the authors' 784-1200-1200-10 bias-free ReLU MLP, trains it for one
epoch on the first Fashion-MNIST task (classes 0 and 1, the first 5000
training images, 28×28, intensities in [0, 1]; SGD lr 0.1, momentum 0.5,
batch 100, squared error on one-hot targets, ReLU output, dropout 0.25 on the
hidden layers), then runs SRC with the ``fashion`` preset for ``--steps``
steps and reports the speed and activity. The last line of stdout is one
JSON object::

    {"steps_per_second": ..., "spikes_per_step": [input, h1, h2, out],
     "compile_seconds": ..., "backend": ..., "device": ..., "peak_rss_mb": ...,
     "dataset": "fashion" | "digits", "steps": ..., ...}

If Fashion-MNIST is not found (``--data-dir``, ``$SLEEP_SNN_DATA`` or
``/usr/share/datasets/fashion-mnist``), the benchmark says so and falls back
to scikit-learn's digits 0 and 1 upsampled to 28×28 (``"dataset": "digits"``).

Usage::

    python -m scenarios.bench.src --backend torch --steps 5000 --json
    python -m scenarios.bench.src --backend brian2 --steps 20000 --json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "build_model", "load_task", "train_one_epoch"]

FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)


def _read_idx(path: Path) -> np.ndarray:
    """Minimal IDX reader (uint8 images/labels, optionally gzipped)."""
    raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_local(data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    dirs = [d for d in (data_dir, os.environ.get("SLEEP_SNN_DATA"), *FASHION_DIRS) if d]
    for d in dirs:
        for sub in ("", "fashion-mnist", "fashion"):
            base = Path(d) / sub
            for ext in (".gz", ""):
                img = base / f"train-images-idx3-ubyte{ext}"
                lab = base / f"train-labels-idx1-ubyte{ext}"
                if img.exists() and lab.exists():
                    return _read_idx(img).astype(np.float32) / 255.0, _read_idx(lab).astype(np.int64)
    raise FileNotFoundError(f"Fashion-MNIST IDX files not found in {dirs}")


def load_task(data_dir: str | None = None, n: int = 5000) -> tuple[np.ndarray, np.ndarray, str]:
    """The first Fashion-MNIST task: classes 0 and 1, the first ``n`` training images.

    Returns
    -------
    images : numpy.ndarray
        float32, shape ``(n, 28, 28)``, in [0, 1].
    labels : numpy.ndarray
        int64 labels (0 or 1).
    dataset : str
        ``"fashion"``, or ``"digits"`` for the fallback.
    """
    try:
        try:
            from spiking.data import load_dataset
        except ImportError:
            load_dataset = None
        if load_dataset is not None:
            ds = load_dataset("fashion", "train", size=None, classes=[0, 1], data_dir=data_dir)
            images, labels = ds.images, ds.labels
        else:
            images, labels = _fashion_local(data_dir)
            keep = np.isin(labels, [0, 1])
            images, labels = images[keep], labels[keep]
        return images[:n].astype(np.float32), labels[:n].astype(np.int64), "fashion"
    except Exception as exc:  # noqa: BLE001 - any failure: explicit, reported fallback
        print(f"bench_src: Fashion-MNIST not available ({exc}); falling back to scikit-learn digits "
              "0/1 upsampled to 28x28 (reported as dataset='digits')", flush=True)
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.isin(d.target, [0, 1])
    img = torch.from_numpy((d.images[keep] / 16.0).astype(np.float32))[:, None]
    up = torch.nn.functional.interpolate(img, size=(28, 28), mode="bilinear", align_corners=False)
    images = up[:, 0].clamp(0, 1).numpy()
    return images[:n], d.target[keep][:n].astype(np.int64), "digits"


def build_model(seed: int = 0):
    """The authors' 784-1200-1200-10 bias-free ReLU MLP, weights ~ U(-0.01, 0.01)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(784, 1200, bias=False), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(1200, 1200, bias=False), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(1200, 10, bias=False), nn.ReLU())
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.uniform_(-0.01, 0.01)
    return model


def train_one_epoch(model, images: np.ndarray, labels: np.ndarray, seed: int = 0,
                    lr: float = 0.1, momentum: float = 0.5, batch: int = 100) -> float:
    """One epoch of SGD on the squared error of one-hot targets; returns the train accuracy."""
    import torch

    torch.manual_seed(seed)
    x = torch.from_numpy(images.reshape(len(images), -1))
    y = torch.nn.functional.one_hot(torch.from_numpy(labels), 10).to(torch.float32)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    model.train()
    order = torch.randperm(len(x))
    for start in range(0, len(x), batch):
        b = order[start:start + batch]
        opt.zero_grad()
        loss = 0.5 * ((model(x[b]) - y[b]) ** 2).sum(1).mean()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == torch.from_numpy(labels)).float().mean())
    model.train()
    return acc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sleep-snn bench src", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("torch", "brian2"), default="torch")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--steps", type=int, default=2000, help="SRC steps (default 2000)")
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")
    parser.add_argument("--data-dir", default=None, help="directory of the Fashion-MNIST IDX files")
    parser.add_argument("--seed", type=int, default=0, help="seed of training and of the sleep input")
    parser.add_argument("--brian2-backend", default="cpp_standalone",
                        choices=("cpp_standalone", "numpy", "cython"))
    parser.add_argument("--build-dir", default=None, help="Brian2 standalone project directory (kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")

    import torch

    from bridge.presets import preset
    from bridge.src import sleep

    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    images, labels, dataset = load_task(args.data_dir)
    model = build_model(args.seed)
    acc = train_one_epoch(model, images, labels, seed=args.seed)
    train_seconds = time.perf_counter() - t0
    if not args.json:
        print(f"trained on {len(images)} {dataset} images (classes 0/1) in {train_seconds:.1f} s, "
              f"train accuracy {acc:.3f}", flush=True)

    params = preset("fashion", steps=args.steps)
    res = sleep(model, images, params, backend=args.backend, device=args.device, seed=args.seed,
                brian2_backend=args.brian2_backend, dtype=args.dtype, build_directory=args.build_dir)
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    out = {
        "steps_per_second": res.steps_per_second,
        "spikes_per_step": [float(s) for s in res.spikes_per_step],
        "compile_seconds": res.build_seconds,
        "backend": args.backend if args.backend == "torch" else f"brian2/{args.brian2_backend}",
        "device": args.device,
        "peak_rss_mb": round(self_mb, 1),
        # largest child process (compiler, standalone binary); a forked child also counts
        # the pages it shares with this process, so this is an upper bound
        "peak_rss_children_mb": round(child_mb, 1),
        "dataset": dataset,
        "steps": res.steps,
        "run_seconds": res.seconds,
        "total_sleep_seconds": res.total_seconds,
        "train_seconds": train_seconds,
        "train_accuracy": acc,
        "spike_rate_per_layer": [float(r) for r in res.spike_rate_per_layer],
        "fraction_weights_changed": [c.fraction_changed for c in res.weight_change],
        "dtype": args.dtype,
        "threads": args.threads,
        "seed": args.seed,
    }
    if not args.json:
        print(f"SRC {res.steps} steps: {res.steps_per_second:.0f} steps/s "
              f"(build {res.build_seconds:.1f} s), spikes/step {out['spikes_per_step']}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
