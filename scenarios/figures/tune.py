"""The landscape of an SRC preset search, drawn from its saved ``search.jsonl``.

A search (:func:`scenarios.experiments.tune.tune`, ``sleep-snn incremental
--tune``) writes one line per evaluation (candidate ``tag``, trial ``seed``,
parameters ``x``, validation ``score``). :func:`search_candidates` groups them
by candidate; :func:`plot_search` draws the score of every candidate against
each searched parameter.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from scenarios.figures import style as plotting

__all__ = ["search_candidates", "plot_candidates", "plot_search"]


def search_candidates(records: Sequence[dict], seeds: Sequence[int] | None = None) -> list[dict]:
    """One row per candidate of a search log (the lines of ``search.jsonl``).

    Parameters
    ----------
    records : sequence of dict
        Evaluations, each with ``tag``, ``seed``, ``x`` and ``score``.
    seeds : sequence of int, optional
        Use only these seeds (e.g. the search seeds, leaving out the finalists'
        confirmation seeds so every candidate is scored alike). Default: all.

    Returns
    -------
    list of dict
        ``tag``, ``x``, ``scores`` (by seed), ``mean`` (over those seeds),
        sorted by decreasing ``mean`` (ties: by tag). Candidates without an
        evaluation on ``seeds`` are left out.
    """
    rows: dict[str, dict] = {}
    for r in records:
        if seeds is not None and r["seed"] not in seeds:
            continue
        row = rows.setdefault(r["tag"], {"tag": r["tag"], "x": r["x"], "scores": {}})
        row["scores"][int(r["seed"])] = float(r["score"])
    for row in rows.values():
        row["mean"] = float(np.mean(list(row["scores"].values())))
    return sorted(rows.values(), key=lambda row: (-row["mean"], row["tag"]))


def plot_candidates(rows: Sequence[dict], name: str, ax=None, base: dict | None = None, legend: bool = False):
    """Mean score (%) of every candidate against parameter ``name`` (log axis).

    Parameters
    ----------
    rows : sequence of dict
        :func:`search_candidates` rows.
    name : str
        A key of the rows' ``x``.
    ax : matplotlib axes, optional
    base : dict, optional
        The row of the base preset, marked with a star.
    legend : bool
        Draw the legend.
    """
    from matplotlib.ticker import NullFormatter

    ax = plotting.new_axes(ax, (2.2, 2.2))
    score = np.array([r["mean"] for r in rows]) * 100
    v = np.array([r["x"][name] for r in rows])
    ax.scatter(v, score, s=9, alpha=0.7, lw=0)
    if base is not None:
        ax.scatter([base["x"][name]], [base["mean"] * 100], s=40, marker="*",
                   color="C3", label="base preset", zorder=3)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(name)
    if legend:
        ax.legend(loc="lower left", fontsize=7)
    return ax


def plot_search(search_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                seeds: Sequence[int] | None = None, prefix: str = "incremental_tune_") -> list[Path]:
    """Score of every search candidate against each searched parameter.

    Reads ``search_dir/search.jsonl``; one panel per parameter (log axis),
    each point a candidate (mean over ``seeds``), the base preset (``c0000``)
    marked. Writes ``{prefix}landscape`` (PNG + PDF) to ``out_dir`` (default
    ``search_dir``) and returns the paths.
    """
    import matplotlib.pyplot as plt

    search_dir = Path(search_dir)
    out_dir = Path(out_dir) if out_dir is not None else search_dir
    records = [json.loads(l) for l in (search_dir / "search.jsonl").read_text().splitlines() if l.strip()]
    rows = search_candidates(records, seeds)
    if not rows:
        raise ValueError(f"no evaluations on seeds {seeds} in {search_dir / 'search.jsonl'}")
    names = list(rows[0]["x"])
    with plotting.style():
        ncol = 4
        fig, axes = plt.subplots(-(-len(names) // ncol), ncol, figsize=(9.0, 2.2 * -(-len(names) // ncol)),
                                 sharey=True, squeeze=False)
        base = next((r for r in rows if r["tag"] == "c0000"), None)
        for ax, name in zip(axes.flat, names):
            plot_candidates(rows, name, ax=ax, base=base)
        for ax in axes.flat[len(names):]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("validation acc. (%)")
        axes.flat[0].legend(loc="lower left", fontsize=7)
        n_seeds = sorted({s for r in rows for s in r["scores"]})
        fig.suptitle(f"SRC preset search: {len(rows)} candidates, mean over seeds {n_seeds}", x=0.01,
                     ha="left", fontsize=9)
        fig.tight_layout()
        return plotting.save_figure(fig, out_dir / f"{prefix}landscape")
