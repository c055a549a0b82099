"""``sleep-snn export-nir MODEL --out FILE.nir``: a converted network as a NIR graph.

Converts a trained bias-free ReLU MLP (a ``torch.save`` file) into the spiking network of
Sleep Replay Consolidation (data-based normalisation on training images, the impulse and
threshold factors of an SRC preset) and writes it in NIR, the exchange format of Norse,
snnTorch, Sinabs, Lava-DL, Rockpool, Nengo, SpiNNaker2 and others (:func:`bridge.nir.export_torch`).
``--sleep`` runs one SRC sleep first and writes the network after it. How SRC's
discrete-time integrate-and-fire units are written as NIR's continuous-time nodes (the
threshold nudged by one ulp, ``tau = dt / (1 - decay)``, no plasticity) is in
``docs/ALGORITHMS.md`` (section 1, "NIR export").
"""

from __future__ import annotations

import argparse
import math
import sys

from scenarios.commands.common import UserError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sleep-snn export-nir", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", metavar="MODEL",
                        help="torch.save file: a state dict of Linear weights (Linear-ReLU chain) or, with "
                             "--allow-pickle, a whole module")
    parser.add_argument("--out", required=True, metavar="FILE.nir", help="the NIR file to write")
    parser.add_argument("--data", default="fashion",
                        help="training images for the normalisation: fashion (default), mnist, kmnist, digits")
    parser.add_argument("--data-dir", default=None, help="directory of the IDX files")
    parser.add_argument("--calibration", type=int, default=None,
                        help="number of training images for the normalisation (default: all)")
    parser.add_argument("--preset", default="fashion",
                        help="SRC parameters (alpha_scale, beta, decay, dt, threshold; the sleep with --sleep): "
                             "mnist, fashion (default), cifar10, crossmodal, patches, or a tuned preset")
    parser.add_argument("--percentile", type=float, default=100.0,
                        help="percentile of the activations in the normalisation (default 100 = max)")
    parser.add_argument("--dropout", default="inverted", choices=("inverted", "non-inverted"),
                        help="how the model's nn.Dropout was trained (default inverted, PyTorch's)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                        help="precision of the neuron parameters, that of the reader's membrane potential "
                             "(default float32, as SRC)")
    parser.add_argument("--fold-alpha", action="store_true",
                        help="write Linear(alpha*W) and R = 1 (or tau) for readers that need R = 1")
    parser.add_argument("--sleep", action="store_true", help="run one SRC sleep first; export the slept network")
    parser.add_argument("--steps", type=int, default=None, help="sleep steps with --sleep (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sleep's input raster (default 0)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="read a whole pickled module (runs code from the file: only for files you trust)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    return parser


def _calibration(args, n_in: int):
    from spiking.data import DataError, load_dataset

    side = math.isqrt(n_in)
    if side * side != n_in:
        raise UserError(f"MODEL={args.model}: {n_in} inputs is not a square image; --data gives square images")
    try:
        ds = load_dataset(args.data, "train", size=side, n=args.calibration, data_dir=args.data_dir)
    except (DataError, ValueError) as exc:
        raise UserError(f"--data {args.data}: {exc}") from None
    return ds.flat()


def main(argv=None) -> int:
    import torch

    from bridge.convert import ConversionError, linear_layers
    from bridge.nir import NIRExportError, export_torch
    from scenarios.ann.mlp import ModelFileError, load_model
    from scenarios.experiments.incremental import resolve_preset

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    if args.calibration is not None and args.calibration < 1:
        raise UserError(f"--calibration {args.calibration}: must be >= 1 (or left out for all images)")
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps {args.steps}: must be >= 1")
    try:
        model = load_model(args.model, allow_pickle=args.allow_pickle)
        n_in = linear_layers(model)[0].in_features
        params = resolve_preset(args.preset, **({"steps": args.steps} if args.steps else {}))
    except ModelFileError as exc:
        raise UserError(f"MODEL: {exc}") from None
    except ConversionError as exc:
        raise UserError(f"MODEL={args.model}: {exc}") from None
    except ValueError as exc:
        raise UserError(f"--preset {args.preset}: {exc}") from None
    images = _calibration(args, n_in)
    meta = {"source_model": str(args.model), "preset": args.preset,
            "calibration": f"{args.data} training images, {images.shape[0]}",
            "command": " ".join(["sleep-snn", "export-nir", *argv])}
    try:
        res = export_torch(model, images, params, args.out, sleep=args.sleep, seed=args.seed,
                           percentile=args.percentile, dropout=args.dropout, dtype=args.dtype,
                           fold_alpha=args.fold_alpha, metadata=meta)
    except (ConversionError, NIRExportError) as exc:
        raise UserError(f"MODEL={args.model}: {exc}") from None
    sizes = "-".join(map(str, res.spec.layer_sizes))
    kind = "IF" if res.dynamics.decay == 1 else f"LIF (tau = {res.dynamics.tau:g} ms)"
    state = f"after {res.sleep.steps} sleep steps (seed {res.sleep.seed})" if res.sleep else "before sleep"
    print(f"[export-nir] {sizes} network {state}, {kind} layers, dt = {res.dynamics.dt:g} ms")
    print(f"[export-nir] wrote {res.path}: {res.file_bytes / 1e6:.2f} MB "
          f"({res.file_bytes / res.weights_bytes:.2f}x the float32 weights) in {res.seconds:.2f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
