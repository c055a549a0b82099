"""Figures from saved results (never from a live run).

One module per kind of result, each with ``plot(result_dir, out_dir=None) ->
list[Path]`` and its ``plot_*`` functions (``ax=None`` in, the axes out):
:mod:`~scenarios.figures.ei`, :mod:`~scenarios.figures.scan`,
``incremental``, ``patches``, ``robustness``, ``plasticity``, ``sgsnn``;
shared style and generic plots in :mod:`~scenarios.figures.style`.
:func:`plot_result` picks the module from what a directory holds (:func:`result_kind`);
:mod:`~scenarios.figures.report` writes one HTML page per result folder.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from scenarios.runs.results import ResultFileError, load_result

__all__ = ["KINDS", "result_kind", "plot_result"]

#: Result kinds (``"kind"`` of ``result.json``) that have a figures module of that name.
KINDS = ("ei", "scan", "incremental", "patches", "robustness", "plasticity", "sgsnn")

#: Names of the earlier flat ``scenarios.figures`` module -> (module, name) now.
_EARLIER = {"plot_raster": ("scenarios.figures.ei", "plot_raster"),
            "plot_weight_histograms": ("scenarios.figures.ei", "plot_weight_histograms"),
            "plot_total_weight": ("scenarios.figures.ei", "plot_total_weight"),
            "ei_figures": ("scenarios.figures.ei", "plot"),
            "figures_for": ("scenarios.figures", "plot_result")}


def result_kind(directory) -> str:
    """The kind of result a folder holds.

    A scan (``summary.csv`` and no ``result.json``) is ``"scan"``; a result folder has the
    ``"kind"`` (or, in results that name it so, ``"scenario"``) of its ``result.json``.

    Parameters
    ----------
    directory : path-like
        A result or scan directory.

    Returns
    -------
    str
        The kind (``""`` when ``result.json`` names none).

    Raises
    ------
    scenarios.runs.results.ResultFileError
        When ``directory`` holds neither ``result.json`` nor ``summary.csv``, or
        when ``result.json`` cannot be read (the message names the file).
    """
    directory = Path(directory)
    result = directory / "result.json"
    if (directory / "summary.csv").exists() and not result.exists():
        return "scan"
    if not result.exists():
        raise ResultFileError(f"{directory} holds neither result.json nor summary.csv: nothing to plot")
    meta = load_result(result)
    return meta.get("kind") or meta.get("scenario") or ""


def plot_result(directory, out_dir=None) -> list[Path]:
    """Make the figures of whatever result ``directory`` holds.

    A scan (``summary.csv`` and no ``result.json``) goes to
    :func:`scenarios.figures.scan.plot`; a result directory to the ``plot`` of
    the figures module named by its ``"kind"`` (or, in results that name it so,
    ``"scenario"``), see :func:`result_kind`.

    Parameters
    ----------
    directory : path-like
        A result or scan directory.
    out_dir : path-like, optional
        Where the figures go (default ``directory``).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    scenarios.runs.results.ResultFileError
        When ``directory`` holds neither ``result.json`` nor ``summary.csv``,
        when ``result.json`` cannot be read, or when the result's kind has no
        figures module (the message names the file).
    """
    directory = Path(directory)
    kind = result_kind(directory)
    if kind not in KINDS or (kind == "scan" and (directory / "result.json").exists()):
        raise ResultFileError(f"{directory / 'result.json'}: unknown result kind {kind!r}")
    files = importlib.import_module(f"scenarios.figures.{kind}").plot(directory, out_dir)
    return list(files or [])


def __getattr__(name: str):
    # names of the earlier flat module scenarios.figures
    if name in _EARLIER:
        module, attr = _EARLIER[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'scenarios.figures' has no attribute {name!r}")
