"""Brian2 models of recurrent LIF excitatory/inhibitory networks with STDP,
inhibitory STDP and a noise-driven sleep controller, and a torch
surrogate-gradient SNN with the same sleep phase (:mod:`spiking.sgsnn`)."""

import importlib.abc as _abc
import sys as _sys

#: Modules that left this package, and where they went.
_MOVED = {"spiking.record": "scenarios.runs.results (saving and loading results is the scenarios' job)"}


class _MovedModuleFinder(_abc.MetaPathFinder):
    """Make ``import`` of a module that moved fail with a message naming its new place."""

    def find_spec(self, fullname, path, target=None):
        if fullname in _MOVED:
            raise ModuleNotFoundError(f"{fullname} has moved to {_MOVED[fullname]}", name=fullname)
        return None


if not any(isinstance(f, _MovedModuleFinder) for f in _sys.meta_path):
    _sys.meta_path.insert(0, _MovedModuleFinder())
