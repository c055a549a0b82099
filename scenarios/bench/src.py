"""Benchmark of Sleep Replay Consolidation (Tadros et al., Nat. Commun. 13:7742, 2022).

Builds the authors' 784-1200-1200-10 bias-free ReLU MLP, trains it for one
epoch on the first Fashion-MNIST task (classes 0 and 1, the first 5000
training images, 28×28, intensities in [0, 1]; SGD lr 0.1, momentum 0.5,
batch 100, squared error on one-hot targets, ReLU output, dropout 0.25 on the
hidden layers), then runs SRC with the ``fashion`` preset for ``steps``
steps and reports the speed and activity. :func:`bench_src` returns the
record; ``sleep-snn bench src`` (:mod:`scenarios.commands.bench`) prints it
as one JSON object, the last line of stdout::

    {"steps_per_second": ..., "spikes_per_step": [input, h1, h2, out],
     "compile_seconds": ..., "backend": ..., "device": ..., "peak_rss_mb": ...,
     "dataset": "fashion" | "digits", "steps": ..., ...}

The images are read by :func:`spiking.data.load_dataset`. If Fashion-MNIST is
not found (``data_dir``, ``$SLEEP_SNN_DATA`` or
``/usr/share/datasets/fashion-mnist``), the benchmark says so and falls back
to scikit-learn's digits 0 and 1 upsampled to 28×28 (``"dataset": "digits"``).

``model="cnn"`` (``sleep-snn bench src --model cnn``) benchmarks the small CNN
of the robustness study instead (:func:`scenarios.ann.cnn.make_cnn`, 16 and
32 channels, no output ReLU) trained as the study trains it (all 60 000
Fashion-MNIST training images, or the first ``n_train``; the study's epochs,
learning rate and loss; default seed 1, the study's first trial, since seed 0
diverges), then ``steps`` steps of SRC with the study's ``cnn-fashion``
preset, torch backend (Brian2 supports fully-connected layers only).
``spikes_per_step`` then lists input, conv1, pool1, conv2, pool2, output.

Usage::

    sleep-snn bench src --backend torch --steps 5000 --json
    sleep-snn bench src --backend brian2 --steps 20000 --json
    sleep-snn bench src --model cnn --steps 10000 --json
"""

from __future__ import annotations

import resource
import time

import numpy as np

__all__ = ["bench_src", "build_model", "load_task", "train_one_epoch"]


def load_task(data_dir: str | None = None, n: int = 5000, log=print) -> tuple[np.ndarray, np.ndarray, str]:
    """The first Fashion-MNIST task: classes 0 and 1, the first ``n`` training images.

    Parameters
    ----------
    data_dir : str, optional
        Directory of the Fashion-MNIST IDX files (see :func:`spiking.data.load_dataset`).
    n : int
        Images.
    log : callable
        Receives the notice when the digits fallback is used.

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
        from spiking.data import load_dataset

        ds = load_dataset("fashion", "train", size=None, classes=[0, 1], data_dir=data_dir)
        images, labels = ds.images, ds.labels
        return images[:n].astype(np.float32), labels[:n].astype(np.int64), "fashion"
    except Exception as exc:  # noqa: BLE001 - any failure: explicit, reported fallback
        log(f"bench_src: Fashion-MNIST not available ({exc}); falling back to scikit-learn digits "
            "0/1 upsampled to 28x28 (reported as dataset='digits')")
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


def _train_cnn(data_dir: str | None, seed: int, n: int | None = None, log=print):
    """The robustness study's CNN, trained as the study trains it, on the first ``n`` Fashion-MNIST images.

    ``n=None`` uses all 60 000 training images, as the study does, so that the
    benchmark sleeps the network whose spikes the study's sleep sees.
    """
    from scenarios.ann.mlp import TrainConfig, Trainer
    from scenarios.experiments.robustness import RobustnessConfig, make_model

    try:
        from spiking.data import load_dataset

        ds = load_dataset("fashion", "train", size=None, data_dir=data_dir)
        images, labels, dataset = ds.images[:n].astype(np.float32), ds.labels[:n].astype(np.int64), "fashion"
    except Exception as exc:  # noqa: BLE001 - any failure: explicit, reported fallback
        log(f"bench_src: Fashion-MNIST not available ({exc}); falling back to scikit-learn digits upsampled "
            "to 28x28 (reported as dataset='digits')")
        from spiking.data import load_dataset

        ds = load_dataset("digits", "train", size=28)
        images, labels, dataset = ds.images[:n], ds.labels[:n].astype(np.int64), "digits"
    cfg = RobustnessConfig(model="cnn", dataset="fashion")
    model = make_model(cfg, images.shape[1:], 10, seed)
    trainer = Trainer(model, TrainConfig(lr=cfg.lr, epochs=cfg.epochs, batch_size=cfg.batch_size, loss=cfg.loss,
                                         seed=seed))
    loss = trainer.fit(images, labels, 10)[-1]
    if not np.isfinite(loss):
        raise ValueError(f"bench_src: the CNN's training diverged for seed={seed} (loss {loss}); use another --seed "
                         "(the robustness study's trials use seeds 1-3)")
    return model, images, trainer.accuracy(images, labels), dataset


def bench_src(backend: str = "torch", device: str = "cpu", steps: int = 2000, data_dir: str | None = None,
              seed: int | None = None, brian2_backend: str = "cpp_standalone", build_dir: str | None = None,
              threads: int = 1, dtype: str = "float32", log=None, warn=print, model: str = "mlp",
              n_train: int | None = None) -> dict:
    """Train the SRC MLP on the first Fashion-MNIST task and time ``steps`` steps of SRC.

    Parameters
    ----------
    backend : {"torch", "brian2"}
        SRC simulator.
    device : {"cpu", "cuda"}
        Torch device.
    steps : int
        SRC steps (>= 1).
    data_dir : str, optional
        Directory of the Fashion-MNIST IDX files.
    seed : int, optional
        Seed of training and of the sleep input; default 0 for the MLP and 1
        for the CNN (the robustness study's first trial; seed 0 diverges).
    brian2_backend : {"cpp_standalone", "numpy", "cython"}
        Brian2 backend when ``backend="brian2"``.
    build_dir : str, optional
        Brian2 standalone project directory (kept).
    threads : int
        Torch CPU threads.
    dtype : {"float32", "float64"}
        Torch dtype of the sleep network.
    log : callable, optional
        Receives the progress lines (training, SRC speed); None: silent.
    warn : callable
        Receives the notice when the digits fallback is used.
    model : {"mlp", "cnn"}
        The SRC MLP on the first task (default) or the robustness study's CNN.
    n_train : int, optional
        CNN only: train on the first ``n_train`` images (default: all).

    Returns
    -------
    dict
        ``steps_per_second``, ``spikes_per_step`` (input, h1, h2, out),
        ``compile_seconds``, ``backend``, ``device``, ``peak_rss_mb``,
        ``peak_rss_children_mb``, ``dataset``, ``steps``, ``run_seconds``,
        ``total_sleep_seconds``, ``train_seconds``, ``train_accuracy``,
        ``spike_rate_per_layer``, ``fraction_weights_changed``, ``dtype``,
        ``threads``, ``seed``.
    """
    if steps < 1:
        raise ValueError("steps must be >= 1")

    import torch

    from bridge.presets import preset
    from bridge.src import sleep

    if model not in ("mlp", "cnn"):
        raise ValueError(f"model={model!r}: must be 'mlp' or 'cnn'")
    if seed is None:
        seed = 1 if model == "cnn" else 0
    if n_train is not None and model != "cnn":
        raise ValueError(f"n_train={n_train!r}: only the CNN benchmark takes a training size")
    torch.set_num_threads(max(1, threads))
    t0 = time.perf_counter()
    if model == "cnn":
        from scenarios.experiments.robustness import CNN_SRC_PRESET, src_preset

        net, images, acc, dataset = _train_cnn(data_dir, seed, n=n_train, log=warn)
        params = src_preset(CNN_SRC_PRESET, steps=steps)
        what = "all classes, the robustness study's CNN"
    else:
        images, labels, dataset = load_task(data_dir, log=warn)
        net = build_model(seed)
        acc = train_one_epoch(net, images, labels, seed=seed)
        params = preset("fashion", steps=steps)
        what = "classes 0/1"
    train_seconds = time.perf_counter() - t0
    if log is not None:
        log(f"trained on {len(images)} {dataset} images ({what}) in {train_seconds:.1f} s, "
            f"train accuracy {acc:.3f}")

    cpu0 = time.process_time()
    res = sleep(net, images, params, backend=backend, device=device, seed=seed,
                brian2_backend=brian2_backend, dtype=dtype, build_directory=build_dir)
    sleep_cpu = time.process_time() - cpu0
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    out = {
        "steps_per_second": res.steps_per_second,
        "spikes_per_step": [float(s) for s in res.spikes_per_step],
        "compile_seconds": res.build_seconds,
        "backend": backend if backend == "torch" else f"brian2/{brian2_backend}",
        "device": device,
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
        "dtype": dtype,
        "threads": threads,
        "seed": seed,
        "model": model,
        # CPU seconds of this process for the whole sleep call (conversion included): on a shared
        # machine the wall-clock figures count other jobs too
        "sleep_cpu_seconds": sleep_cpu,
        "layers": [g.kind for g in res.spec_before.geometry()],
        "target": res.target,
    }
    if log is not None:
        log(f"SRC {res.steps} steps: {res.steps_per_second:.0f} steps/s "
            f"(build {res.build_seconds:.1f} s), spikes/step {out['spikes_per_step']}")
    return out
