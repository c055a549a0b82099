"""Figure of spike statistics per phase and population (``spikestats.json`` of ``sleep-snn spikestats``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from scenarios.figures.style import grouped_bars, save_figure, style

__all__ = ["plot_statistics", "plot"]

#: (key, axis label) of the four panels.
PANELS = (("rate_hz", "rate (Hz)"), ("cv", "ISI CV"), ("fano", "Fano factor"), ("corr", "pairwise correlation"))


def plot_statistics(data: dict, axes=None):
    """Four panels (rate, CV, Fano, correlation); groups = run x phase, bars = population."""
    import matplotlib.pyplot as plt

    groups, pops = [], []
    for label, d in data["runs"].items():
        for phase, by_pop in d["stats"].items():
            groups.append((label, phase, by_pop))
            pops += [p for p in by_pop if p not in pops]
    if axes is None:
        _, axes = plt.subplots(1, 4, figsize=(13.0, 3.0))
    for a, (key, name) in zip(axes, PANELS):
        vals = np.array([[g[2].get(p, {}).get(key, np.nan) for p in pops] for g in groups], dtype=float)
        grouped_bars(vals, group_labels=[f"{g[0]}\n{g[1]}" for g in groups],
                     series_labels=pops, ax=a, ylabel=name, legend=a is axes[0])
        a.tick_params(axis="x", labelsize=6)
    return axes


def plot(result_dir, out_dir=None) -> list[Path]:
    directory = Path(result_dir)
    out_dir = Path(out_dir) if out_dir else directory
    data = json.loads((directory / "spikestats.json").read_text())
    with style():
        axes = plot_statistics(data)
        return save_figure(axes[0].figure, out_dir / "spike_statistics")
