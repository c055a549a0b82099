"""Loss of plasticity over a task sequence: SGD, SAM, GNP, and SGD with SRC between tasks.

Seed 003 (*Neural Network Plasticity and Loss Sharpness*) asks whether the
sharpness regularisers SAM (Foret et al. 2021) and the gradient-norm penalty
(GNP, Zhao et al. 2022) keep a network able to learn new tasks in a long
sequence; it finds they do not. This module runs that experiment at a size
that fits here, on the bias-free ReLU MLP of Sleep Replay Consolidation
(``scenarios.ann.mlp``), and adds a fourth arm: plain SGD with one SRC sleep
phase (Tadros et al. 2022, :func:`bridge.src.sleep`) after every task.

Settings (``--setting``):

``class``
    Seed 003's class-incremental setting: each task is a *pair* of classes,
    drawn without repetition from the 45 possible pairs in a random order
    (seeded per trial), learned as a binary problem on a shared 2-unit output
    (first class of the pair → output 0, second → output 1). Training images:
    the first ``--n-train`` images of the two classes (file order); test: the
    first ``--n-test`` test images of the two classes.
``permuted``
    Seed 003's domain-incremental setting: every task is the full 10-class
    problem with its own fixed random pixel permutation (also the first task),
    on the same ``--n-train`` training and ``--n-test`` test images.

Per trial (seed ``s = seed + t``; all arms start from the same initial
weights, seed ``s``) and per arm the network learns the tasks in order with
one persistent optimiser (momentum carried across tasks, as the authors of
SRC). After each task ``k`` (and, for the SRC arm, after its sleep) the
accuracy on every task's test set is recorded, giving the accuracy matrix
``acc[k, j]`` (all ``j``, also tasks not learned yet). Also recorded:

* ``new_task_accuracy[k]`` — seed 003's plasticity measure: accuracy on task
  ``k`` right after learning it (for the SRC arm: before its sleep);
* ``sharpness_seed000[k]`` — seed 000's ``S(θ; ε)`` on the first
  ``--sharpness-batch`` training images of task ``k`` right after learning it
  (and ``hessian_top[k]`` with ``--hessian``);
* summary per arm (mean ± sd over trials): first and last new-task accuracy,
  the *mean per-task accuracy change* ``mean_k (a_k − a_{k−1})`` of seed 003's
  tables (``a_k`` the new-task accuracy), the least-squares slope of ``a_k``
  vs ``k``, the final average accuracy over all tasks, forgetting and backward
  transfer (:mod:`scenarios.ann.metrics`).

SRC arm: the dataset's preset (``fashion``; ``mnist`` for MNIST and digits),
sleep length ``15000 + (k−1)·5000`` steps after task ``k`` (Tadros et al.'s
schedule; ``--sleep-steps N`` for a fixed length), input = mean of the
training images of all tasks seen so far, which are also the normalisation
data; raster seed derived from ``(s, k)``.

:func:`run` returns a JSON-ready dict and :func:`save` writes ``result.json``
and ``table.md``; the figures are :mod:`scenarios.figures.plasticity` and the
command is ``sleep-snn plasticity`` (:mod:`scenarios.commands.plasticity`).

Usage::

    sleep-snn plasticity --setting class --tasks 10 --trials 3 --out results/plasticity_class
    python -m scenarios.commands.plasticity --quick --out /tmp/plast
"""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from scenarios.runs import labels
from scenarios.runs.config import check_at_least_one, check_choice, check_finite_nonnegative, config_to_json
from scenarios.runs.results import load_result, merge_results, package_versions, save_result
from scenarios.runs.stats import format_pct, format_stat, trial_stat

__all__ = [
    "ARMS",
    "DATASETS",
    "PlasticityConfig",
    "quick_config",
    "Task",
    "make_tasks",
    "run",
    "summarise",
    "table",
    "save",
    "load",
    "merge",
]

#: All arms, in plotting order; ``src`` is SGD with SRC after every task.
ARMS = ("sgd", "sam", "gnp", "src")
#: Table labels of the arms (:mod:`scenarios.runs.labels`, shared with the figures).
ARM_LABELS = labels.PLASTICITY_ARMS
SRC_PRESET_FOR = {"fashion": "fashion", "mnist": "mnist", "digits": "mnist"}
DATASETS = ("fashion", "mnist", "digits")


@dataclass(frozen=True)
class PlasticityConfig:
    """Everything that defines a plasticity run (recorded in ``result.json``).

    Attributes
    ----------
    setting : {"class", "permuted"}
        Class pairs with a shared binary output, or pixel-permuted 10-class tasks.
    dataset : {"fashion", "mnist", "digits"}
        Data set (28×28; digits upsampled from 8×8).
    tasks : int
        Number of tasks (class setting: at most 45).
    arms : tuple of str
        Subset of :data:`ARMS`.
    trials : int
        Independent trials, seeds ``seed .. seed + trials − 1``.
    n_train, n_test : int or None
        Training / test images per task (None = all available).
    epochs, batch_size, lr, momentum : training hyper-parameters
        Per task; SGD with momentum as in SRC (lr 0.1, momentum 0.5, batch 100).
    loss : {"mse", "ce"}
        Squared error on one-hot targets (SRC's) or cross-entropy.
    hidden : tuple of int
        Hidden widths.
    sam_rho, gnp_coef : float
        SAM radius and GNP coefficient used for training those arms.
    sleep_steps : int or None
        SRC steps after every task; None = ``15000 + (k−1)·5000`` after task k.
    eps : float
        Radius of seed 000's sharpness measured after each task.
    sharpness_batch : int
        Training images of the new task used for the sharpness.
    hessian : bool
        Also the top Hessian eigenvalue after each task.
    hessian_iters : int
        Maximum power iterations.
    backend : {"torch", "brian2"}
        SRC simulator.
    seed : int
        First trial seed.
    data_dir : str or None
        Data directory.
    threads : int
        ``torch.set_num_threads``.
    quick : bool
        Made with ``--quick``.
    """

    setting: str = "class"
    dataset: str = "fashion"
    tasks: int = 10
    arms: tuple = ARMS
    trials: int = 3
    n_train: int | None = 4000
    n_test: int | None = 2000
    epochs: int = 2
    batch_size: int = 100
    lr: float = 0.1
    momentum: float = 0.5
    loss: str = "mse"
    hidden: tuple = (1200, 1200)
    sam_rho: float = 0.02
    gnp_coef: float = 0.01
    sleep_steps: int | None = None
    eps: float = 0.5
    sharpness_batch: int = 500
    hessian: bool = False
    hessian_iters: int = 20
    backend: str = "torch"
    seed: int = 0
    data_dir: str | None = None
    threads: int = 1
    quick: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "arms", tuple(self.arms))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        check_choice("setting", self.setting, ("class", "permuted"))
        check_choice("dataset", self.dataset, DATASETS)
        if not self.arms or any(a not in ARMS for a in self.arms):
            raise ValueError(f"arms={self.arms!r}: must be a non-empty subset of {ARMS}")
        check_choice("loss", self.loss, ("mse", "ce"))
        check_choice("backend", self.backend, ("torch", "brian2"))
        check_at_least_one(self, ("tasks", "trials", "epochs", "batch_size", "sharpness_batch", "hessian_iters",
                                  "threads"))
        if self.setting == "class" and self.tasks > 45:
            raise ValueError(f"tasks={self.tasks}: the class setting has only 45 class pairs")
        check_at_least_one(self, ("n_train", "n_test", "sleep_steps"), allow_none=True)
        check_finite_nonnegative(self, ("lr", "sam_rho", "gnp_coef", "eps", "momentum"))

    def to_json(self) -> dict:
        return config_to_json(self, ("arms", "hidden"))


def quick_config(**overrides: Any) -> PlasticityConfig:
    """The ``--quick`` configuration: digits, 4 class-pair tasks, 2 trials, small net, short sleeps."""
    base = dict(dataset="digits", tasks=4, trials=2, n_train=None, n_test=None, epochs=3, batch_size=20,
                hidden=(128, 128), sleep_steps=500, sharpness_batch=100, hessian_iters=5, quick=True)
    base.update(overrides)
    return PlasticityConfig(**base)


# --------------------------------------------------------------------------- tasks
@dataclass
class Task:
    """One task: train/test images (flattened float32) and labels, and a description."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _load(cfg: PlasticityConfig, split: str):
    from spiking.data import load_dataset

    size = 28 if cfg.dataset == "digits" else None
    return load_dataset(cfg.dataset, split, size=size, data_dir=cfg.data_dir)


def make_tasks(cfg: PlasticityConfig, seed: int, train=None, test=None) -> list[Task]:
    """The task sequence of one trial (see the module docstring)."""
    from scenarios.ann.mlp import permute_pixels
    from scenarios.runs.seeds import derived_seed

    train = _load(cfg, "train") if train is None else train
    test = _load(cfg, "test") if test is None else test
    xtr = train.images.reshape(len(train.images), -1)
    xte = test.images.reshape(len(test.images), -1)
    tasks: list[Task] = []
    if cfg.setting == "class":
        classes = np.unique(train.labels)
        pairs = list(itertools.combinations(classes.tolist(), 2))
        order = np.random.default_rng(seed).permutation(len(pairs))[: cfg.tasks]
        for k in order:
            a, b = pairs[int(k)]
            itr = np.flatnonzero(np.isin(train.labels, (a, b)))[: cfg.n_train]
            ite = np.flatnonzero(np.isin(test.labels, (a, b)))[: cfg.n_test]
            tasks.append(Task(f"{a}/{b}", xtr[itr], (train.labels[itr] == b).astype(np.int64),
                              xte[ite], (test.labels[ite] == b).astype(np.int64)))
    else:
        xtr, ytr = xtr[: cfg.n_train], train.labels[: cfg.n_train]
        xte, yte = xte[: cfg.n_test], test.labels[: cfg.n_test]
        for k in range(cfg.tasks):
            ps = derived_seed(seed, 7919, k)
            tasks.append(Task(f"perm{k}", permute_pixels(xtr, ps), ytr.copy(), permute_pixels(xte, ps), yte.copy()))
    return tasks


def _sleep_steps(cfg: PlasticityConfig, k: int) -> int:
    """SRC steps after task ``k`` (0-based)."""
    return int(cfg.sleep_steps) if cfg.sleep_steps is not None else 15000 + k * 5000


# --------------------------------------------------------------------------- run
def _accuracy(model, x, y) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(x)).argmax(1).numpy()
    model.train()
    return float(np.mean(pred == y))


def _run_arm(cfg: PlasticityConfig, arm: str, tasks: list[Task], seed: int, n_out: int, log) -> dict:
    import torch

    from bridge.presets import preset
    from bridge.src import sleep
    from scenarios.ann.mlp import TrainConfig, Trainer, loss_function, make_mlp
    from scenarios.runs.seeds import derived_seed
    from scenarios.ann.sharpness import hessian_top_eigenvalue, sharpness_seed000

    T = len(tasks)
    sizes = (tasks[0].x_train.shape[1], *cfg.hidden, n_out)
    model = make_mlp(sizes, seed=seed)
    opt = "sgd" if arm == "src" else arm
    trainer = Trainer(model, TrainConfig(lr=cfg.lr, momentum=cfg.momentum, epochs=cfg.epochs,
                                         batch_size=cfg.batch_size, loss=cfg.loss, optimizer=opt,
                                         sam_rho=cfg.sam_rho, gnp_coef=cfg.gnp_coef, seed=seed))
    loss_fn = loss_function(cfg.loss, n_out)
    acc = np.full((T, T), np.nan)
    acc_pre = np.full((T, T), np.nan) if arm == "src" else None
    new_acc, sharp, hess, train_loss, sleeps = [], [], [], [], []
    t0 = time.perf_counter()
    for k, task in enumerate(tasks):
        hist = trainer.fit(task.x_train, task.y_train, n_out)
        train_loss.append(float(hist[-1]))
        new_acc.append(_accuracy(model, task.x_test, task.y_test))
        nb = min(cfg.sharpness_batch, len(task.y_train))
        xs, ys = torch.as_tensor(task.x_train[:nb]), torch.as_tensor(task.y_train[:nb])
        sharp.append(float(sharpness_seed000(model, loss_fn, xs, ys, cfg.eps)["sharpness"]))
        if cfg.hessian:
            hess.append(float(hessian_top_eigenvalue(model, loss_fn, xs, ys, tol=1e-3,
                                                     max_iter=cfg.hessian_iters, seed=seed)["eigenvalue"]))
        if arm == "src":
            for j, tj in enumerate(tasks):
                acc_pre[k, j] = _accuracy(model, tj.x_test, tj.y_test)
            seen = np.concatenate([tj.x_train for tj in tasks[: k + 1]])
            pname = SRC_PRESET_FOR[cfg.dataset]
            params = preset(pname, steps=_sleep_steps(cfg, k))
            res = sleep(model, seen, params, backend=cfg.backend, seed=derived_seed(seed, 104729, k))
            sleeps.append({"task": k, "steps": int(res.steps), "seed": res.seed, "seconds": float(res.total_seconds),
                           "spike_rate_per_layer": [float(r) for r in res.spike_rate_per_layer],
                           "fraction_changed": [float(c.fraction_changed) for c in res.weight_change],
                           "calibration_images": int(len(seen))})
        for j, tj in enumerate(tasks):
            acc[k, j] = _accuracy(model, tj.x_test, tj.y_test)
    out = {
        "acc_matrix": acc.tolist(),
        "new_task_accuracy": new_acc,
        "sharpness_seed000": sharp,
        "train_loss": train_loss,
        "seconds": time.perf_counter() - t0,
    }
    if cfg.hessian:
        out["hessian_top"] = hess
    if arm == "src":
        out["acc_matrix_pre_sleep"] = acc_pre.tolist()
        out["sleeps"] = sleeps
        out["preset"] = SRC_PRESET_FOR[cfg.dataset]
    log(f"  seed {seed} {arm:4s}: new-task accuracy " + " ".join(f"{100 * a:.0f}" for a in new_acc)
        + f" | final avg {100 * np.nanmean(acc[-1]):.1f}% | {out['seconds']:.0f} s")
    return out


def run(cfg: PlasticityConfig, log=print) -> dict:
    """Simulate all arms and trials; return a JSON-ready dict."""
    import torch

    torch.set_num_threads(int(cfg.threads))
    t0 = time.perf_counter()
    train, test = _load(cfg, "train"), _load(cfg, "test")
    n_out = 2 if cfg.setting == "class" else int(train.labels.max()) + 1
    trials = []
    for t in range(cfg.trials):
        s = cfg.seed + t
        tasks = make_tasks(cfg, s, train, test)
        log(f"plasticity trial {t} (seed {s}): {cfg.setting}, tasks {[tk.name for tk in tasks]}, "
            f"{len(tasks[0].y_train)} train / {len(tasks[0].y_test)} test images per task")
        tr = {"trial": t, "seed": s, "tasks": [tk.name for tk in tasks],
              "n_train_per_task": [int(len(tk.y_train)) for tk in tasks],
              "n_test_per_task": [int(len(tk.y_test)) for tk in tasks], "arms": {}}
        t1 = time.perf_counter()
        for arm in cfg.arms:
            tr["arms"][arm] = _run_arm(cfg, arm, tasks, s, n_out, log)
        tr["wall_s"] = time.perf_counter() - t1
        trials.append(tr)
    result = {
        "kind": "plasticity",
        "config": cfg.to_json(),
        "dataset": {"name": cfg.dataset, "n_out": n_out, "image_shape": list(train.images.shape[1:])},
        "arms": list(cfg.arms),
        "seeds": [tr["seed"] for tr in trials],
        "trials": trials,
        "wall_s": time.perf_counter() - t0,
        "versions": package_versions(),
        "command": " ".join(sys.argv),
    }
    result["summary"] = summarise(result)
    return result


# --------------------------------------------------------------------------- summary
def _slope(values: Sequence[float]) -> float:
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return float("nan")
    return float(np.polyfit(np.arange(v.size), v, 1)[0])


def summarise(result: dict) -> dict:
    """Per arm, mean ± sd over trials of the plasticity and forgetting measures.

    Keys per arm: ``first_new_task_accuracy``, ``last_new_task_accuracy``,
    ``mean_new_task_accuracy``, ``mean_per_task_change`` (seed 003: the mean
    of ``a_k − a_{k−1}``), ``slope`` (least squares, per task),
    ``slope_after_first`` (the same without the first task, whose accuracy
    also reflects the slow start from the small initial weights),
    ``final_average_accuracy``
    (over all tasks after the last one), ``forgetting``, ``backward_transfer``,
    ``first_sharpness``, ``last_sharpness``.
    """
    from scenarios.ann.metrics import backward_transfer, forgetting

    out: dict[str, Any] = {}
    for arm in result["arms"]:
        rows: dict[str, list] = {k: [] for k in (
            "first_new_task_accuracy", "last_new_task_accuracy", "mean_new_task_accuracy", "mean_per_task_change",
            "slope", "slope_after_first", "final_average_accuracy", "forgetting", "backward_transfer", "first_sharpness",
            "last_sharpness")}
        for tr in result["trials"]:
            a = tr["arms"][arm]
            d = np.asarray(a["new_task_accuracy"], dtype=np.float64)
            acc = np.asarray(a["acc_matrix"], dtype=np.float64)
            rows["first_new_task_accuracy"].append(float(d[0]))
            rows["last_new_task_accuracy"].append(float(d[-1]))
            rows["mean_new_task_accuracy"].append(float(d.mean()))
            rows["mean_per_task_change"].append(float(np.diff(d).mean()) if d.size > 1 else None)
            rows["slope"].append(_slope(d) if d.size > 1 else None)
            rows["slope_after_first"].append(_slope(d[1:]) if d.size > 2 else None)
            rows["final_average_accuracy"].append(float(np.nanmean(acc[-1])))
            rows["forgetting"].append(float(forgetting(acc)) if acc.shape[0] > 1 else None)
            rows["backward_transfer"].append(float(backward_transfer(acc)) if acc.shape[0] > 1 else None)
            rows["first_sharpness"].append(float(a["sharpness_seed000"][0]))
            rows["last_sharpness"].append(float(a["sharpness_seed000"][-1]))
        out[arm] = {k: trial_stat(v) for k, v in rows.items()}
    return out


def table(result: dict) -> str:
    """Markdown summary table (mean ± sd over trials; accuracies and changes in % points)."""
    summ = result.get("summary") or summarise(result)
    cfg = result["config"]
    tr0 = result["trials"][0]
    lines = [
        f"# Plasticity over a task sequence: {cfg['setting']} setting, {cfg['dataset']}",
        "",
        f"{cfg['tasks']} tasks, {len(result['trials'])} trial(s) (seeds {result['seeds']}); "
        f"{tr0['n_train_per_task'][0]} training / {tr0['n_test_per_task'][0]} test images per task; network "
        f"{'-'.join(str(h) for h in [784, *cfg['hidden'], result['dataset']['n_out']])}, loss `{cfg['loss']}`, "
        f"lr {cfg['lr']}, momentum {cfg['momentum']}, batch {cfg['batch_size']}, {cfg['epochs']} epoch(s) per task; "
        f"SAM ρ = {cfg['sam_rho']}, GNP c = {cfg['gnp_coef']}; SRC: "
        + (f"{cfg['sleep_steps']} steps after every task" if cfg["sleep_steps"] else "15000 + (k−1)·5000 steps after task k")
        + f"; sharpness S(θ; ε = {cfg['eps']}) on {cfg['sharpness_batch']} training images of the new task.",
        "",
        "Task order (trial 0): " + ", ".join(tr0["tasks"]),
        "",
        "| arm | new-task acc., first task | new-task acc., last task | mean new-task acc. | "
        "mean per-task change (pts) | slope (pts/task) | slope from task 2 (pts/task) | "
        "final avg. acc. (all tasks) | forgetting (pts) | BWT (pts) | S(θ;ε) first → last |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in result["arms"]:
        s = summ[arm]
        lines.append("| " + " | ".join([
            ARM_LABELS[arm], format_pct(s["first_new_task_accuracy"]), format_pct(s["last_new_task_accuracy"]),
            format_pct(s["mean_new_task_accuracy"]), format_pct(s["mean_per_task_change"]), format_pct(s["slope"]),
            format_pct(s["slope_after_first"]),
            format_pct(s["final_average_accuracy"]), format_pct(s["forgetting"]), format_pct(s["backward_transfer"]),
            f"{format_stat(s['first_sharpness'])} → {format_stat(s['last_sharpness'])}"]) + " |")
    lines += ["", "New-task accuracy (%) per task index, mean over trials:", "",
              "| arm | " + " | ".join(str(k + 1) for k in range(cfg["tasks"])) + " |",
              "|---|" + "---|" * cfg["tasks"]]
    for arm in result["arms"]:
        d = np.mean([tr["arms"][arm]["new_task_accuracy"] for tr in result["trials"]], axis=0)
        lines.append(f"| {ARM_LABELS[arm]} | " + " | ".join(f"{100 * v:.1f}" for v in d) + " |")
    lines += ["", f"Wall time {result['wall_s']:.0f} s.", ""]
    return "\n".join(lines)


def save(result: dict, out_dir) -> Path:
    """Write ``result.json`` and ``table.md`` (atomically); return the JSON path."""
    return save_result(out_dir, result, table=table)


def load(result_dir) -> dict:
    """Read ``result.json`` from a directory (or the file)."""
    return load_result(result_dir)


def merge(result_dirs: Sequence, out_dir=None) -> dict:
    """Combine the trials of runs with the same settings and other seeds (see :func:`scenarios.experiments.robustness.merge`)."""
    merged = merge_results(result_dirs, summarise)
    if out_dir is not None:
        save(merged, out_dir)
    return merged

