"""What users run: the ``sleep-snn`` command (:mod:`scenarios.cli`,
:mod:`scenarios.commands`), the experiments' protocols and arms
(:mod:`scenarios.experiments`), the ANN models, metrics and measures
(:mod:`scenarios.ann`), result files, statistics and the grid runner
(:mod:`scenarios.runs`), figures from saved results (:mod:`scenarios.figures`)
and benchmarks (:mod:`scenarios.bench`).

Modules of the earlier flat layout (``scenarios.incremental``,
``scenarios.mlp``, ...) still import: each is an alias that finds its names in
the modules listed in :data:`MOVED` and warns once with the new place.
"""

import importlib as _importlib
import importlib.abc as _abc
import importlib.util as _util
import sys as _sys
import types as _types
import warnings as _warnings

#: Modules of the flat layout -> the modules their contents moved to (searched in order).
MOVED = {
    "scenarios.mlp": ("scenarios.ann.mlp",),
    "scenarios.metrics": ("scenarios.ann.metrics", "scenarios.runs.stats"),
    "scenarios.sharpness": ("scenarios.ann.sharpness",),
    "scenarios.distortions": ("scenarios.ann.distortions",),
    "scenarios.plotting": ("scenarios.figures.style",),
    "scenarios.common": ("scenarios.runs.results", "scenarios.runs.stats", "scenarios.runs.config",
                         "scenarios.commands.common"),
    "scenarios.ei_run": ("scenarios.experiments.ei", "scenarios.commands.ei", "scenarios.commands.common"),
    "scenarios.scan": ("scenarios.experiments.scan", "scenarios.runs.grid", "scenarios.figures.scan",
                       "scenarios.commands.scan", "scenarios.bench.scan"),
    "scenarios.incremental": ("scenarios.experiments.incremental", "scenarios.experiments.selection",
                              "scenarios.figures.incremental", "scenarios.figures.selection",
                              "scenarios.commands.incremental", "bridge.conventions", "bridge.convert"),
    "scenarios.patches": ("scenarios.experiments.patches", "scenarios.figures.patches",
                          "scenarios.commands.patches"),
    "scenarios.robustness": ("scenarios.experiments.robustness", "scenarios.figures.robustness",
                             "scenarios.commands.robustness"),
    "scenarios.plasticity": ("scenarios.experiments.plasticity", "scenarios.figures.plasticity",
                             "scenarios.commands.plasticity"),
    "scenarios.sgsnn": ("spiking.sgsnn", "scenarios.experiments.sgsnn", "scenarios.figures.sgsnn",
                        "scenarios.commands.sgsnn"),
    "scenarios.quickstart": ("scenarios.experiments.quickstart", "scenarios.commands.quickstart"),
    "scenarios.bench_src": ("scenarios.bench.src",),
    "scenarios.bench_hessian": ("scenarios.bench.hessian",),
}

#: Names of the flat layout that were replaced rather than moved: module -> name -> what to use.
REPLACED = {
    "scenarios.incremental": {
        name: "scenarios.experiments.selection.search (an Optuna TPE search replaced the hand-written "
              "(mu+1) search; its figures are scenarios.figures.selection)"
        for name in ("tune", "search_candidates", "plot_search")},
}


class _MovedModule(_types.ModuleType):
    """Stand-in for a module of the flat layout: looks its names up in the new modules."""

    def __init__(self, name: str, targets: tuple) -> None:
        super().__init__(name, f"Moved: see {', '.join(targets)}.")
        self.__targets = targets

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        for target in self.__targets:
            try:
                module = _importlib.import_module(target)
            except ImportError:
                continue
            if hasattr(module, attr):
                return getattr(module, attr)
        if attr in REPLACED.get(self.__name__, {}):
            raise AttributeError(f"{self.__name__}.{attr} was replaced: use {REPLACED[self.__name__][attr]}")
        raise AttributeError(f"{self.__name__}.{attr} does not exist any more; {self.__name__} moved to "
                             f"{', '.join(self.__targets)}")


class _MovedLoader(_abc.Loader):
    def __init__(self, targets: tuple) -> None:
        self.targets = targets

    def create_module(self, spec):
        _warnings.warn(f"{spec.name} has moved to {', '.join(self.targets)}; import from there",
                       FutureWarning, stacklevel=2)
        return _MovedModule(spec.name, self.targets)

    def exec_module(self, module) -> None:
        return None


class _MovedFinder(_abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname in MOVED:
            return _util.spec_from_loader(fullname, _MovedLoader(MOVED[fullname]))
        return None


if not any(isinstance(f, _MovedFinder) for f in _sys.meta_path):
    _sys.meta_path.insert(0, _MovedFinder())
