"""Figures of the validation-split selections of the incremental protocol, from their saved files.

* :func:`plot_coefficients` reads ``selection.json`` (the baselines'
  coefficient grids, ``sleep-snn incremental --select``) and draws the
  validation accuracy against each coefficient, one panel per method;
* :func:`plot_search` opens the Optuna journal (``journal.log``, the SRC
  preset search of ``sleep-snn incremental --search``) and draws Optuna's own
  plots (``optuna.visualization.matplotlib``): the optimisation history, the
  objective against each parameter (slice plot), the parameter importances
  (fANOVA) and the intermediate values that the pruner saw.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from scenarios.figures import style as plotting

__all__ = ["plot_coefficients", "plot_coefficient", "load_study", "plot_search"]

#: Labels of the coefficients.
_COEFFICIENT_LABELS = {"ewc_lambda": "EWC λ", "si_c": "SI c", "owm_alpha": "OWM α"}


def plot_coefficient(summary: dict, name: str, ax=None):
    """Validation accuracy (%) against one coefficient: mean over seeds (line) and each seed (dots)."""
    ax = plotting.new_axes(ax, (2.6, 2.2))
    per_seed = summary["per_seed"][name]
    values = [float(v) for v in per_seed]
    order = np.argsort(values)
    v = np.array(values)[order]
    scores = [per_seed[k] for k in np.array(list(per_seed))[order]]
    ax.plot(v, [100 * np.mean(s) for s in scores], "-o", ms=3)
    for x, s in zip(v, scores):
        ax.plot(np.full(len(s), x), 100 * np.asarray(s), "k.", ms=2)
    best = summary["best"][name]
    ax.axvline(best, color="C3", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel(_COEFFICIENT_LABELS.get(name, name))
    ax.set_title(f"best {best:g}", loc="left")
    return ax


def plot_coefficients(selection_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                      prefix: str = "incremental_selection_") -> list[Path]:
    """One panel per selected coefficient (reads ``selection_dir/selection.json``); PNG + PDF."""
    import matplotlib.pyplot as plt

    selection_dir = Path(selection_dir)
    out_dir = Path(out_dir) if out_dir is not None else selection_dir
    summary = json.loads((selection_dir / "selection.json").read_text())
    names = list(summary["best"])
    with plotting.style():
        fig, axes = plt.subplots(1, len(names), figsize=(2.7 * len(names), 2.4), squeeze=False)
        for ax, name in zip(axes[0], names):
            plot_coefficient(summary, name, ax=ax)
        axes[0, 0].set_ylabel("validation accuracy (%)")
        fig.suptitle(f"protocol {summary['protocol']}, seeds {summary['seeds']}", x=0.01, ha="left", fontsize=9)
        fig.tight_layout()
        return plotting.save_figure(fig, out_dir / f"{prefix}{summary['protocol']}")


def load_study(search_dir: str | os.PathLike):
    """The Optuna study saved in ``search_dir/journal.log`` (read-only use)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = Path(search_dir) / "journal.log"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no Optuna journal here (run sleep-snn incremental --search first)")
    storage = JournalStorage(JournalFileBackend(str(path)))
    names = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=names[0], storage=storage)


def plot_search(search_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                prefix: str = "incremental_search_") -> list[Path]:
    """Optuna's plots of a preset search (history, slice, importances, intermediate values); PNG + PDF each.

    Returns
    -------
    list of pathlib.Path
        Files written (the importances are left out while fewer than two
        trials are complete).
    """
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    search_dir = Path(search_dir)
    out_dir = Path(out_dir) if out_dir is not None else search_dir
    study = load_study(search_dir)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    plots = {"history": ovm.plot_optimization_history, "slice": ovm.plot_slice,
             "intermediate": ovm.plot_intermediate_values}
    if len(complete) >= 2:
        plots["importances"] = ovm.plot_param_importances
    written: list[Path] = []
    with warnings.catch_warnings(), plotting.style():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for name, func in plots.items():
            result = func(study)
            ax = np.ravel(result)[0] if isinstance(result, np.ndarray) else result
            fig = ax.figure
            if name == "slice":
                fig.set_size_inches(2.2 * len(np.ravel(result)), 2.6)
            fig.tight_layout()
            written += plotting.save_figure(fig, out_dir / f"{prefix}{name}")
            plt.close(fig)
    return written
