"""``sleep-snn ei``: train the Brian2 E/I network with STDP (and optionally
sleep), then read it out.

One simulation shows the training images with plasticity on (the sleep
controller may put the network to sleep between them), then, with plasticity
and sleep off, the read-out images: the training images again and the test
images. Spike counts per image (all E and I neurons) are the features of a
scikit-learn read-out fitted on the training images and scored on the test
images. Follows the protocol of arXiv 2601.08447 with its evaluation quirks
removed (official splits, frozen weights while recording features, the whole
test subset scored).

Writes ``DIR/result.json``, ``DIR/arrays.npz`` and figures in ``DIR``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["add_network_args", "params_from_args", "load_schedule", "run_ei", "main"]


def add_network_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``ei``, ``scan`` and ``bench ei``."""
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", default="fashion",
                   help="fashion | mnist | kmnist | digits (default: fashion)")
    g.add_argument("--n-train", type=int, default=2000, help="training images (default 2000)")
    g.add_argument("--n-test", type=int, default=1000, help="test images (default 1000)")
    g.add_argument("--n-readout-train", type=int, default=None,
                   help="training images re-presented to fit the read-out (default: all)")
    g.add_argument("--size", type=int, default=15, help="images are resized to SIZE x SIZE (15)")
    g.add_argument("--data-dir", default=None, help="directory with the IDX files")
    g.add_argument("--data-seed", type=int, default=0,
                   help="seed of the image subsample (fixed across network seeds; default 0)")
    n = parser.add_argument_group("network")
    n.add_argument("--t-present", type=float, default=None, help="presentation time per image (ms)")
    n.add_argument("--t-rest", type=float, default=None, help="rest after each image (ms)")
    n.add_argument("--input-rate", type=float, default=None, help="input rate at intensity 1 (Hz)")
    n.add_argument("--no-plasticity", action="store_true",
                   help="frozen random weights (the plasticity-off baseline)")
    s = parser.add_argument_group("sleep")
    s.add_argument("--sleep-mode", default="trigger", choices=("trigger", "schedule", "off"))
    s.add_argument("--sleep-ratio", type=float, default=0.0,
                   help="sleep budget r: sleep <= r/(1-r) x wake (0 = never sleep)")
    s.add_argument("--alpha-trig", type=float, default=None, help="sleep when W > alpha_trig W(0)")
    s.add_argument("--alpha-base", type=float, default=None, help="wake when W <= alpha_base W(0)")
    s.add_argument("--sigma", type=float, default=None, help="sleep membrane noise per step (mV)")
    s.add_argument("--lam", type=float, default=None, help="power-law decay exponent per step")
    s.add_argument("--w-tgt", type=float, default=None, help="decay target of every pathway")
    s.add_argument("--max-sleep", type=float, default=None, help="longest episode (s)")
    s.add_argument("--sleep-pathways", default=None,
                   help="comma list of pathways counted and decayed (inp_exc,exc_exc,inh_exc)")
    parser.add_argument("--seed", type=int, default=0, help="network/noise seed (default 0)")
    parser.add_argument("--backend", default="cpp_standalone",
                        help="cpp_standalone (default) | numpy | cython | cuda_standalone")
    parser.add_argument("--readout", default="logreg", help="logreg | pca_qda | diehl_cook")


def params_from_args(args):
    """``(EINetworkParams, SleepParams)`` from parsed command-line options."""
    from brian2 import Hz, mV, ms, second

    from spiking.params import EINetworkParams
    from spiking.sleep import SleepParams

    net_kw = {}
    if args.t_present is not None:
        net_kw["t_present"] = args.t_present * ms
    if args.t_rest is not None:
        net_kw["t_rest"] = args.t_rest * ms
    if args.input_rate is not None:
        net_kw["input_rate"] = args.input_rate * Hz
    net_kw["n_input"] = args.size * args.size
    if args.no_plasticity:
        net_kw["plastic"] = False
    sleep_kw = {"mode": args.sleep_mode, "sleep_ratio": args.sleep_ratio}
    for name in ("alpha_trig", "alpha_base", "lam"):
        if getattr(args, name) is not None:
            sleep_kw[name] = getattr(args, name)
    if args.sigma is not None:
        sleep_kw["sigma"] = args.sigma * mV
    if args.max_sleep is not None:
        sleep_kw["max_sleep"] = args.max_sleep * second
    if args.w_tgt is not None:
        for p in ("inp_exc", "exc_exc", "inh_exc"):
            sleep_kw[f"w_tgt_{p}"] = args.w_tgt
    if args.sleep_pathways:
        sleep_kw["pathways"] = tuple(p.strip() for p in args.sleep_pathways.split(",") if p.strip())
    return EINetworkParams(**net_kw), SleepParams(**sleep_kw)


@dataclasses.dataclass
class Schedule:
    """Images of one simulation: training block, then read-out train and test images."""

    images: np.ndarray          # (n, n_pixels) intensities in [0, 1]
    labels: np.ndarray          # (n,)
    n_train: int                # training block
    n_readout_train: int        # read-out training images (after the training block)
    n_test: int
    dataset: str
    size: int

    @property
    def readout_train(self) -> slice:
        return slice(self.n_train, self.n_train + self.n_readout_train)

    @property
    def readout_test(self) -> slice:
        return slice(self.n_train + self.n_readout_train, None)


def load_schedule(dataset: str, n_train: int, n_test: int, *, size: int = 15,
                  data_dir=None, data_seed: int = 0, n_readout_train: int | None = None) -> Schedule:
    """Load and arrange the images of one E/I simulation."""
    from spiking.data import load_dataset

    if n_train < 1:
        raise ValueError(f"n_train={n_train} must be >= 1")
    if n_test < 1:
        raise ValueError(f"n_test={n_test} must be >= 1")
    train = load_dataset(dataset, "train", size=size, n=n_train, seed=data_seed, data_dir=data_dir)
    test = load_dataset(dataset, "test", size=size, n=n_test, seed=data_seed, data_dir=data_dir)
    n_ro = n_train if n_readout_train is None else int(n_readout_train)
    if not 1 <= n_ro <= n_train:
        raise ValueError(f"n_readout_train={n_readout_train} must lie in [1, n_train={n_train}]")
    images = np.concatenate([train.flat(), train.flat()[:n_ro], test.flat()]).astype(float)
    labels = np.concatenate([train.labels, train.labels[:n_ro], test.labels])
    return Schedule(images=images, labels=labels, n_train=n_train, n_readout_train=n_ro,
                    n_test=n_test, dataset=dataset, size=size)


def readout_from_output(out, schedule: Schedule, method: str = "logreg", seed: int = 0):
    """Fit the read-out on a run's per-image spike counts."""
    from spiking.readout import fit_readout

    feats = np.concatenate([out.counts_exc, out.counts_inh], axis=1).astype(float)
    return fit_readout(feats[schedule.readout_train], schedule.labels[schedule.readout_train],
                       feats[schedule.readout_test], schedule.labels[schedule.readout_test],
                       method=method, seed=seed)


def pixel_baseline(schedule: Schedule, method: str = "logreg", seed: int = 0):
    """The same read-out on the raw pixels of the same images."""
    from spiking.readout import fit_readout

    x = schedule.images
    return fit_readout(x[schedule.readout_train], schedule.labels[schedule.readout_train],
                       x[schedule.readout_test], schedule.labels[schedule.readout_test],
                       method=method, seed=seed)


def training_sleep_ratio(sleep_time: float, n_train: int, t_present: float, t_rest: float) -> float:
    """Sleep / (sleep + wake) over the training block, where sleep can happen.

    Parameters
    ----------
    sleep_time : float
        Total sleep time of the run (s).
    n_train : int
        Training images (each shown for ``t_present`` then ``t_rest``).
    t_present, t_rest : float
        Presentation and rest time per image (s).

    Returns
    -------
    float
        The achieved sleep ratio of training, in [0, 1).
    """
    total = sleep_time + n_train * (t_present + t_rest)
    return sleep_time / total if total > 0 else 0.0


def summarise_run(out, schedule: Schedule, params, sleep, readout, *, seed: int,
                  extra: dict | None = None) -> tuple[dict, dict]:
    """``(meta, arrays)`` of one E/I run, ready for :func:`spiking.record.save_result`."""
    from brian2 import second

    from spiking.params import as_plain_dict
    from scenarios.runs.results import package_versions

    t_present = float(params.t_present / second)
    W = out.weights
    meta = {
        "kind": "ei",
        "dataset": schedule.dataset, "size": schedule.size,
        "n_train": schedule.n_train, "n_readout_train": schedule.n_readout_train,
        "n_test": schedule.n_test,
        "seed": seed, "backend": out.backend,
        "accuracy": readout.accuracy,
        "readout": {"method": readout.method, "train_accuracy": readout.details.get("train_accuracy"),
                    "confusion": readout.confusion, "classes": readout.classes},
        "mean_rate_hz": {"train": out.mean_rates(t_present, "train"),
                         "readout": out.mean_rates(t_present, "probe")},
        "sleep": {"episodes": out.episodes, "n_episodes": len(out.episodes),
                  "sleep_time_s": out.sleep_time, "wake_time_s": out.wake_time,
                  "achieved_ratio": out.sleep_ratio,
                  "training_ratio": training_sleep_ratio(out.sleep_time, schedule.n_train, t_present,
                                                         float(params.t_rest / second)),
                  "replay_spikes_exc": int(out.sleep_counts_exc.sum()),
                  "replay_spikes_inh": int(out.sleep_counts_inh.sum())},
        "W0": out.W0,
        "W_initial": {p: float(v[0]) if len(v) else None for p, v in W.items()},
        "W_final": {p: float(v[-1]) if len(v) else None for p, v in W.items()},
        "params": as_plain_dict(params), "sleep_params": as_plain_dict(sleep),
        "wall_seconds": {"compile": out.compile_seconds, "run": out.run_seconds},
        "sim_time_s": out.sim_time, "realtime_factor": out.realtime_factor,
        "versions": package_versions(),
    }
    if extra:
        meta.update(extra)
    arrays = {"weights_t": out.weights_t, "counts_exc": out.counts_exc, "counts_inh": out.counts_inh,
              "labels": schedule.labels, "sleep_counts_exc": out.sleep_counts_exc,
              "sleep_counts_inh": out.sleep_counts_inh,
              "readout_predictions": readout.predictions}
    for p, v in W.items():
        arrays[f"W_{p}"] = v
    for k, v in out.final_weights.items():
        arrays[f"w_{k}"] = v
    for k, v in out.raster.items():
        arrays[f"raster_{k}"] = v
    return meta, arrays


def run_ei(args) -> dict:
    """Run ``sleep-snn ei`` from parsed options; returns the saved metadata."""
    from spiking.backend import is_standalone
    from spiking.network import EISimulation
    from scenarios.runs.results import save_result

    params, sleep = params_from_args(args)
    schedule = load_schedule(args.dataset, args.n_train, args.n_test, size=args.size,
                             data_dir=args.data_dir, data_seed=args.data_seed,
                             n_readout_train=args.n_readout_train)
    out_dir = Path(args.out)
    t0 = time.perf_counter()
    print(f"[ei] {args.dataset}: {schedule.n_train} training images, {schedule.n_readout_train} + "
          f"{schedule.n_test} read-out images; backend {args.backend}; sleep {sleep.mode}, "
          f"ratio {sleep.sleep_ratio}", flush=True)
    with EISimulation(params, sleep, schedule.images, schedule.n_train, backend=args.backend,
                      directory=out_dir / "build" if is_standalone(args.backend) else None,
                      seed=args.seed) as sim:
        out = sim.run(seed=args.seed)
    readout = readout_from_output(out, schedule, args.readout, seed=args.seed)
    pixels = pixel_baseline(schedule, args.readout, seed=args.seed)
    meta, arrays = summarise_run(out, schedule, params, sleep, readout, seed=args.seed,
                                 extra={"pixel_baseline_accuracy": pixels.accuracy,
                                        "command": "sleep-snn " + " ".join(args.argv),
                                        "total_wall_seconds": time.perf_counter() - t0})
    save_result(out_dir, meta, arrays)
    from scenarios.figures.ei import ei_figures

    figs = ei_figures(out_dir)
    rates = meta["mean_rate_hz"]["readout"]
    print(f"[ei] accuracy {readout.accuracy:.3f} ({readout.method}; raw pixels "
          f"{pixels.accuracy:.3f}); rates exc {rates['exc']:.2f} Hz, inh {rates['inh']:.2f} Hz; "
          f"slept {out.sleep_time:.1f} s in {len(out.episodes)} episodes "
          f"(ratio {out.sleep_ratio:.3f}); compile {out.compile_seconds:.1f} s, run "
          f"{out.run_seconds:.1f} s ({out.realtime_factor:.1f}x real time)")
    print(f"[ei] wrote {out_dir / 'result.json'}, {out_dir / 'arrays.npz'} and {len(figs)} figures")
    return meta


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sleep-snn ei", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_network_args(parser)
    parser.add_argument("--out", default="results/ei", help="output directory")
    parser.add_argument("--quick", action="store_true",
                        help="small run for smoke tests: digits, 300 train / 150 test images, short presentations")
    return parser


QUICK = {"n_train": 300, "n_test": 150, "t_present": 100.0, "t_rest": 50.0}


def apply_quick(args, argv) -> None:
    """``--quick``: small sizes unless given explicitly (and digits unless a dataset is named)."""
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    if "--dataset" not in given:
        args.dataset = "digits"
    for key, value in QUICK.items():
        if "--" + key.replace("_", "-") not in given:
            setattr(args, key, value)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = ["ei"] + argv
    if args.quick:
        apply_quick(args, argv)
    run_ei(args)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
